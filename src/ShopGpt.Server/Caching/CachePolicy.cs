using Microsoft.Extensions.Options;

namespace ShopGpt.Server.Caching;

/// <summary>
/// How one kind of entry is cached. <paramref name="Sensitive"/> marks entries that decide
/// authorization: they are never served stale (no fail-safe), never refreshed early, are not
/// tracked as hot keys, and with Redis present skip L1 so a removal is seen by every instance
/// on its very next read.
/// </summary>
public sealed record CachePolicy(TimeSpan Duration, bool FailSafe = true, bool Sensitive = false);

/// <summary>The policies the app uses, from <see cref="CacheOptions"/>.</summary>
public sealed class CachePolicies(IOptions<CacheOptions> options)
{
    public CachePolicy Session { get; } = new(options.Value.SessionDuration, FailSafe: false, Sensitive: true);
    public CachePolicy ConversationList { get; } = new(options.Value.ConversationListDuration);
    public CachePolicy Product { get; } = new(options.Value.ProductDuration);
    public CachePolicy ProductSearch { get; } = new(options.Value.ProductSearchDuration);
    public CachePolicy Popular { get; } = new(options.Value.PopularDuration);
}
