using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

/// <summary>Two real instances (A and B) on the one test PostgreSQL and Redis, as behind a load balancer.</summary>
public class RealtimePair : IAsyncLifetime
{
    public TestApp A { get; private set; } = null!;

    public TestApp B { get; private set; } = null!;

    /// <summary>The Redis (single server or cluster endpoints) both instances use.</summary>
    public string Redis { get; private set; } = TestEnvironment.Redis;

    /// <summary>One more instance on the same Redis (tests that crash or isolate an instance of their own).</summary>
    public Task<TestApp> StartAppAsync(Dictionary<string, string?>? settings = null)
    {
        var config = new Dictionary<string, string?>(settings ?? []) { ["ConnectionStrings:Redis"] = Redis };
        return TestApp.StartAsync(config);
    }

    public async Task InitializeAsync()
    {
        Redis = await StartRedisAsync();
        var apps = await Task.WhenAll(StartAppAsync(), StartAppAsync());
        (A, B) = (apps[0], apps[1]);
    }

    public virtual async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }

    protected virtual Task<string> StartRedisAsync() => Task.FromResult(TestEnvironment.Redis);
}

[CollectionDefinition(Name)]
public sealed class RealtimePairCollection : ICollectionFixture<RealtimePair>
{
    public const string Name = "realtime-pair";
}

/// <summary>
/// The same pair on a real Redis Cluster (3 masters + 3 replicas): the one <c>./shopgpt test</c>
/// started (<c>SHOPGPT_TEST_REDIS_CLUSTER</c>) or, without it, one of the fixture's own.
/// </summary>
public sealed class ClusterRealtimePair : RealtimePair
{
    private PrivateRedisCluster? own;

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (own is not null) await own.DisposeAsync();
    }

    protected override async Task<string> StartRedisAsync()
    {
        if (Environment.GetEnvironmentVariable("SHOPGPT_TEST_REDIS_CLUSTER") is { Length: > 0 } shared) return shared;
        own = await PrivateRedisCluster.StartAsync();
        return own.ConnectionString;
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterRealtimePairCollection : ICollectionFixture<ClusterRealtimePair>
{
    public const string Name = "realtime-pair-cluster";
}
