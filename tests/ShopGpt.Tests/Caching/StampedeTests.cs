using Npgsql;
using ShopGpt.Server.Caching;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Caching;

[Collection(CacheInstancesCollection.Name)]
public sealed class StampedeTests
{
    /// <summary>A real, slow query; every execution is counted.</summary>
    private sealed class CountingQuery(int sleepMs)
    {
        private int calls;
        private int inFlight;
        private int maxInFlight;

        public int Calls => Volatile.Read(ref calls);
        public int MaxInFlight => Volatile.Read(ref maxInFlight);

        public async Task<int> RunAsync(NpgsqlDataSource db, CancellationToken ct)
        {
            Interlocked.Increment(ref calls);
            var now = Interlocked.Increment(ref inFlight);
            int seen;
            while (now > (seen = Volatile.Read(ref maxInFlight)) && Interlocked.CompareExchange(ref maxInFlight, now, seen) != seen)
            {
            }
            try
            {
                await using var cmd = db.CreateCommand($"select 42 from pg_sleep({sleepMs / 1000.0:0.000})");
                return (int)(await cmd.ExecuteScalarAsync(ct))!;
            }
            finally
            {
                Interlocked.Decrement(ref inFlight);
            }
        }
    }

    [Fact]
    public async Task ThousandConcurrentRequestsForOneColdKeyOverTwoInstancesRunTheQueryOnce()
    {
        await using var a = await TestApp.StartAsync();
        await using var b = await TestApp.StartAsync();
        var instances = new[] { a, b };
        var caches = instances.Select(x => x.Services.GetRequiredService<ShopCache>()).ToArray();
        var dbs = instances.Select(x => x.Services.GetRequiredService<NpgsqlDataSource>()).ToArray();
        var query = new CountingQuery(sleepMs: 300);
        var key = $"test:stampede:{Guid.NewGuid():N}";
        var policy = new CachePolicy(TimeSpan.FromMinutes(5));

        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = Enumerable.Range(0, 1000).Select(i => Task.Run(async () =>
        {
            await go.Task;
            return await caches[i % 2].GetOrSetAsync(key, ct => query.RunAsync(dbs[i % 2], ct), policy);
        })).ToArray();
        go.SetResult();
        var results = await Task.WhenAll(requests);

        Assert.All(results, r => Assert.Equal(42, r));
        Assert.Equal(1, query.Calls);
    }

    [Fact]
    public async Task SteadyLoadOnOneKeyRefreshesAroundExpiryOneAtATimeNotInABurst()
    {
        // Hot-key boosting off here: the point is to see expiries happen under load.
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Cache:HotKeyThreshold"] = "2000000000" });
        var cache = app.Services.GetRequiredService<ShopCache>();
        var db = app.Services.GetRequiredService<NpgsqlDataSource>();
        var query = new CountingQuery(sleepMs: 50);
        var key = $"test:steady:{Guid.NewGuid():N}";
        var policy = new CachePolicy(TimeSpan.FromSeconds(1));
        await cache.GetOrSetAsync(key, ct => query.RunAsync(db, ct), policy);

        // 16 callers hammer the key for 5 s: the entry (1 s + up to 2 s jitter) expires several times.
        var until = DateTime.UtcNow.AddSeconds(5);
        long served = 0;
        var workers = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            while (DateTime.UtcNow < until)
            {
                Assert.Equal(42, await cache.GetOrSetAsync(key, ct => query.RunAsync(db, ct), policy));
                Interlocked.Increment(ref served);
            }
        })).ToArray();
        await Task.WhenAll(workers);

        Assert.True(served > 1000, $"only {served} reads served");
        // Refreshes happened (the entry did reach its refresh point), each by one caller alone...
        Assert.InRange(query.Calls, 3, 12);
        Assert.Equal(1, query.MaxInFlight);
    }
}
