using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

/// <summary>Two real instances (A and B) on the one test PostgreSQL and Redis, as behind a load balancer.</summary>
public sealed class RealtimePair : IAsyncLifetime
{
    public TestApp A { get; private set; } = null!;

    public TestApp B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var apps = await Task.WhenAll(TestApp.StartAsync(), TestApp.StartAsync());
        (A, B) = (apps[0], apps[1]);
    }

    public async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class RealtimePairCollection : ICollectionFixture<RealtimePair>
{
    public const string Name = "realtime-pair";
}
