namespace ShopGpt.Tests.Caching;

/// <summary>Multi-instance cache tests run one after another: each starts its own instances and loads them.</summary>
[CollectionDefinition(Name)]
public sealed class CacheInstancesCollection
{
    public const string Name = "cache-instances";
}
