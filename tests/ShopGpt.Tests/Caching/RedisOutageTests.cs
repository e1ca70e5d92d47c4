using ShopGpt.Server.Accounts;
using ShopGpt.Server.Caching;
using ShopGpt.Server.Data;
using ShopGpt.Tests.Infrastructure;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;

namespace ShopGpt.Tests.Caching;

[Collection(CacheInstancesCollection.Name)]
public sealed class RedisOutageTests
{
    private static async Task PollAsync(Func<Task<bool>> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within {seconds} s: {what}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task RequestsKeepSucceedingWhileRedisIsDownAndL2AndBackplaneResumeWhenItIsBack()
    {
        await using var redis = await PrivateRedis.StartAsync();
        var settings = new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = redis.ConnectionString };
        await using var a = await TestApp.StartAsync(settings);
        await using var b = await TestApp.StartAsync(settings);
        using var user = await a.GuestAsync();
        using var onB = b.Client(user.Token);
        await user.CreateConversationAsync("outage");

        // Steady load on both instances: list (cached, fail-safe) behind auth (L2-only, falls back to the DB).
        var statuses = new System.Collections.Concurrent.ConcurrentBag<HttpStatusCode>();
        long done = 0;
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            var client = i % 2 == 0 ? user.Http : onB;
            while (!stop.IsCancellationRequested)
            {
                var res = await client.GetAsync("/api/conversations");
                statuses.Add(res.StatusCode);
                if (res.IsSuccessStatusCode)
                {
                    var items = (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items");
                    Assert.Equal("outage", items[0].GetProperty("title").GetString());
                }
                Interlocked.Increment(ref done);
            }
        })).ToArray();

        await PollAsync(() => Task.FromResult(Interlocked.Read(ref done) >= 100), "100 requests before the kill");
        await redis.KillAsync();
        var atKill = Interlocked.Read(ref done);
        await PollAsync(() => Task.FromResult(Interlocked.Read(ref done) >= atKill + 300), "300 requests with Redis down");
        await redis.RestartAsync();
        var atRestart = Interlocked.Read(ref done);
        await PollAsync(() => Task.FromResult(Interlocked.Read(ref done) >= atRestart + 100), "100 requests after the restart");
        await stop.CancelAsync();
        await Task.WhenAll(load);

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));

        // L2 resumes without restarting the app: a new entry written through A lands in Redis.
        await using var raw = await redis.ConnectAsync();
        var cacheA = a.Services.GetRequiredService<ShopCache>();
        await PollAsync(async () =>
        {
            var key = $"test:l2:{Guid.NewGuid():N}";
            await cacheA.GetOrSetAsync(key, _ => Task.FromResult("v"), new CachePolicy(TimeSpan.FromMinutes(5)));
            // FusionCache adds its prefix and wire-format version: match on the key's end.
            await foreach (var _ in raw.GetServer(raw.GetEndPoints()[0]).KeysAsync(pattern: "*" + key)) return true;
            return false;
        }, "an entry written through instance A is in Redis");

        // The backplane resumes: B holds a value in L1; A changes it; B sees the change.
        var fusionA = a.Services.GetRequiredService<IFusionCache>();
        var fusionB = b.Services.GetRequiredService<IFusionCache>();
        var shared = $"test:bp:{Guid.NewGuid():N}";
        var longLived = new FusionCacheEntryOptions(TimeSpan.FromMinutes(10));
        Assert.Equal("old", await fusionB.GetOrSetAsync<string>(shared, _ => Task.FromResult("old"), longLived));
        await PollAsync(async () =>
        {
            await fusionA.SetAsync(shared, "new", longLived);
            return await fusionB.GetOrDefaultAsync<string>(shared) == "new";
        }, "instance B drops its L1 copy after A's change");
    }

    [Fact]
    public async Task LogoutWhileRedisHangsFailsAndChangesNothingAndAfterwardsIsRejectedEverywhere()
    {
        await using var redis = await PrivateRedis.StartAsync();
        var settings = new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = redis.ConnectionString };
        await using var a = await TestApp.StartAsync(settings);
        await using var b = await TestApp.StartAsync(settings);
        using var user = await a.GuestAsync();
        using var onB = b.Client(user.Token);
        Assert.Equal(HttpStatusCode.OK, (await onB.GetAsync("/api/conversations")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await user.Http.GetAsync("/api/conversations")).StatusCode);

        // The session is cached in Redis under the key the revocation deletes directly.
        Assert.True(SessionToken.TryParse(user.Token, out _, out var hash));
        await using var raw = await redis.ConnectAsync();
        Assert.True(await raw.GetDatabase().KeyExistsAsync(RedisNames.Default.CacheEntry(SessionStore.CacheKey(hash))));

        await redis.PauseAsync();
        try
        {
            // Redis cannot confirm the removal: the logout is refused and the session stays valid
            // (validation meanwhile falls back to the database: no error, no stale decision).
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await user.Http.PostAsync("/api/auth/logout", null)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await onB.GetAsync("/api/conversations")).StatusCode);
        }
        finally
        {
            await redis.ResumeAsync();
        }

        // Redis is back (with the old entry still in it): a logout now is seen by every instance at once.
        HttpResponseMessage logout;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((logout = await user.Http.PostAsync("/api/auth/logout", null)).StatusCode == HttpStatusCode.ServiceUnavailable)
        {
            Assert.True(DateTime.UtcNow < deadline, "logout kept failing after Redis came back");
            await Task.Delay(100);
        }
        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await onB.GetAsync("/api/conversations")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await user.Http.GetAsync("/api/conversations")).StatusCode);
        }
    }

    [Fact]
    public async Task AnInstanceStartedWhileRedisIsDownServesAndPicksRedisUpLater()
    {
        await using var redis = await PrivateRedis.StartAsync();
        await redis.KillAsync();
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = redis.ConnectionString });
        using var user = await app.GuestAsync();
        var id = await user.CreateConversationAsync("no redis");
        for (var i = 0; i < 5; i++)
        {
            var res = await user.Http.GetAsync("/api/conversations");
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            Assert.Equal(id, (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items")[0].GetProperty("id").GetGuid());
        }

        await redis.RestartAsync();
        await using var raw = await redis.ConnectAsync();
        var cache = app.Services.GetRequiredService<ShopCache>();
        await PollAsync(async () =>
        {
            var key = $"test:late:{Guid.NewGuid():N}";
            await cache.GetOrSetAsync(key, _ => Task.FromResult(1), new CachePolicy(TimeSpan.FromMinutes(5)));
            return await raw.GetDatabase().KeyExistsAsync(RedisNames.Default.CacheEntry(key));
        }, "the instance writes to Redis once it is up");
    }
}
