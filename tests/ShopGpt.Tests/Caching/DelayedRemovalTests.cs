using Microsoft.Extensions.Options;
using ShopGpt.Server.Caching;
using ShopGpt.Server.Data;
using ShopGpt.Tests.Infrastructure;
using StackExchange.Redis;

namespace ShopGpt.Tests.Caching;

[Collection(CacheInstancesCollection.Name)]
public sealed class DelayedRemovalTests
{
    [Fact]
    public async Task AValueStoredAfterAnInvalidationIsRemovedOnceTheLastInvalidationIsHardTimeoutPlusOneSecondOldAndNotBefore()
    {
        // Whole milliseconds, so "1 ms before due" is exact (due times are kept in ms).
        var clock = new ManualClock(DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        await using var app = await TestApp.StartAsync(overrides: s => s.AddSingleton<TimeProvider>(clock));
        var cache = app.Services.GetRequiredService<ShopCache>();
        cache.Random = () => 1.0; // no XFetch early refresh: only removals decide what is read
        var redis = app.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var delay = app.Services.GetRequiredService<IOptions<CacheOptions>>().Value.FactoryHardTimeout + TimeSpan.FromSeconds(1);
        var oneMs = TimeSpan.FromMilliseconds(1);
        var key = $"test:delayed:{Guid.NewGuid():N}";
        var policy = new CachePolicy(TimeSpan.FromMinutes(5));
        Task<string> ReadAsync(string computed) => cache.GetOrSetAsync(key, _ => Task.FromResult(computed), policy).AsTask();

        // A slow factory that read before the write stores the old value after the immediate removal.
        await cache.InvalidateAsync(key);
        Assert.Equal("stale", await ReadAsync("stale"));
        Assert.True(await redis.KeyExistsAsync(RedisNames.Default.CacheEntry(key)));

        // Not before last invalidation + hard timeout + 1 s (the loop sees the same clock; the
        // direct sweep makes sure one ran at this time).
        clock.Advance(delay - oneMs);
        await cache.RemoveDueAsync();
        Assert.Equal("stale", await ReadAsync("fresh"));

        // A re-invalidation moves the late removal: past the first due time the value stays.
        await cache.InvalidateAsync(key);
        Assert.Equal("stale", await ReadAsync("stale"));
        clock.Advance(oneMs * 2);
        await cache.RemoveDueAsync();
        Assert.Equal("stale", await ReadAsync("fresh"));
        clock.Advance(delay - oneMs * 3);
        await cache.RemoveDueAsync();
        Assert.Equal("stale", await ReadAsync("fresh"));

        // Due now: the instance's own loop (real-time ticks) removes it from L1 and Redis. Polled:
        // the removal has no event to await.
        clock.Advance(oneMs);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await redis.KeyExistsAsync(RedisNames.Default.CacheEntry(key)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the late removal never ran");
            await Task.Delay(50);
        }
        Assert.Equal("fresh", await ReadAsync("fresh"));
    }
}
