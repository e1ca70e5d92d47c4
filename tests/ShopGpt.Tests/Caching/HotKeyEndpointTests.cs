using ShopGpt.Server.Caching;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Caching;

// Reads a gauge from /metrics: OpenTelemetry's listener is process-wide, so run alone.
[Collection(SoloCollection.Name)]
public sealed class HotKeyEndpointTests
{
    [Fact]
    public async Task HotKeysNeedTheAdminTokenAndDoNotExistWithoutOne()
    {
        await using (var plain = await TestApp.StartAsync())
        {
            using var anon = plain.Client();
            Assert.Equal(HttpStatusCode.NotFound, (await anon.GetAsync("/api/admin/cache/hot-keys")).StatusCode);
        }

        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Admin:Token"] = "admin-secret-for-tests",
            ["Cache:HotKeyThreshold"] = "20",
        });
        using var client = app.Client();
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/api/admin/cache/hot-keys")).StatusCode);
        client.DefaultRequestHeaders.Add("X-Admin-Token", "wrong");
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/api/admin/cache/hot-keys")).StatusCode);

        var products = app.Services.GetRequiredService<ProductCache>();
        var loads = 0;
        var run = Guid.NewGuid().ToString("N");
        for (var i = 0; i < 50; i++)
            await products.SearchAsync($"  Cooktop {run} ", null, _ => Task.FromResult(Interlocked.Increment(ref loads)));
        await products.SearchAsync("rare " + run, null, _ => Task.FromResult(0));
        Assert.Equal(1, loads);

        client.DefaultRequestHeaders.Remove("X-Admin-Token");
        client.DefaultRequestHeaders.Add("X-Admin-Token", "admin-secret-for-tests");
        var body = await client.GetFromJsonAsync<JsonElement>("/api/admin/cache/hot-keys");
        var top = body.GetProperty("keys")[0];
        Assert.Equal(ProductCache.SearchKey("cooktop " + run, null), top.GetProperty("key").GetString());
        Assert.True(top.GetProperty("hot").GetBoolean());
        Assert.True(top.GetProperty("count").GetInt64() >= 50);
        Assert.Equal(1, body.GetProperty("hotCount").GetInt32());

        // The gauge and counters are exported, with no key in any tag.
        using var scrape = app.MetricsClient();
        var metrics = await scrape.GetStringAsync("/metrics");
        Assert.Matches(@"(?m)^shopgpt_cache_hot_keys\{[^}]*\} 1$", metrics);
        Assert.Matches(@"(?m)^shopgpt_cache_hits_total\{[^}]*level=""l1""[^}]*\} [1-9]", metrics);
        Assert.Matches(@"(?m)^shopgpt_cache_factory_runs_total\{[^}]*\} [1-9]", metrics);
        // FusionCache's own meter, added by name, is exported too.
        Assert.Contains("fusioncache_cache_hit_total{", metrics);
        Assert.DoesNotContain(run, metrics);
    }

    [Fact]
    public void SearchKeysAreNormalised()
    {
        Assert.Equal(ProductCache.SearchKey("iphone 15", [new("brand", "Apple"), new("color", " Blue ")]),
            ProductCache.SearchKey("  iPhone\t 15 ", [new("color", "blue"), new("brand", "apple"), new("size", null)]));
        Assert.NotEqual(ProductCache.SearchKey("iphone", null), ProductCache.SearchKey("iphone 15", null));
        Assert.InRange(ProductCache.SearchKey(new string('x', 5000), null).Length, 1, 200);
    }
}

[Collection(CacheInstancesCollection.Name)]
public sealed class HotKeyBoostTests
{
    [Fact]
    public async Task AKeyAboveTheThresholdIsCachedWithItsTtlBoosted()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Cache:HotKeyThreshold"] = "5",
            ["Cache:HotKeyTtlBoost"] = "4",
        });
        var cache = app.Services.GetRequiredService<ShopCache>();
        var fusion = app.Services.GetRequiredService<ZiggyCreatures.Caching.Fusion.IFusionCache>();
        var policy = new CachePolicy(TimeSpan.FromMinutes(1));
        var key = $"test:boost:{Guid.NewGuid():N}";
        async Task<double> MinutesLeftAsync()
        {
            var entry = await fusion.TryGetAsync<Cached<int>>(key);
            Assert.True(entry.HasValue);
            return TimeSpan.FromMilliseconds(entry.Value.ExpiresAtMs - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).TotalMinutes;
        }

        await cache.GetOrSetAsync(key, _ => Task.FromResult(1), policy);
        Assert.InRange(await MinutesLeftAsync(), 0.9, 1.0);

        // Accesses beyond the threshold make it hot; its next computation gets 4 × the TTL.
        for (var i = 0; i < 10; i++) await cache.GetOrSetAsync(key, _ => Task.FromResult(1), policy);
        Assert.True(cache.HotKeys.IsHot(key));
        await cache.InvalidateAsync(key);
        await cache.GetOrSetAsync(key, _ => Task.FromResult(2), policy);
        Assert.InRange(await MinutesLeftAsync(), 3.9, 4.0);
    }
}
