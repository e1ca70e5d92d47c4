using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Http;

public sealed class RateLimitTests
{
    [Fact]
    public async Task AuthEndpointsAreLimitedPerIpWithRetryAfter()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["RateLimits:AuthPerIpPerMinute"] = "5" });
        using var anon = app.Client();
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? rejected = null;
        for (var i = 0; i < 8; i++)
        {
            var res = await anon.PostAsJsonAsync("/api/auth/login", new { email = $"x{i}@example.test", password = "wrongwrong" });
            statuses.Add(res.StatusCode);
            if (res.StatusCode == HttpStatusCode.TooManyRequests) rejected ??= res;
        }
        Assert.Equal(5, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(3, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.NotNull(rejected!.Headers.RetryAfter);
        Assert.Equal("rate_limited", (await rejected.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        // Other endpoints are unaffected by the auth limit.
        Assert.Equal(HttpStatusCode.OK, (await anon.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task RestCallsAreLimitedPerUserNotGlobally()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["RateLimits:PerUserPerSecond"] = "1",
            ["RateLimits:PerUserBurst"] = "10",
        });
        using var greedy = await app.GuestAsync();
        using var polite = await app.GuestAsync();
        var results = new List<HttpStatusCode>();
        for (var i = 0; i < 30; i++) results.Add((await greedy.Http.GetAsync("/api/conversations")).StatusCode);
        Assert.Contains(HttpStatusCode.TooManyRequests, results);
        Assert.True(results.Count(s => s == HttpStatusCode.OK) >= 10);
        Assert.Equal(HttpStatusCode.OK, (await polite.Http.GetAsync("/api/conversations")).StatusCode);
    }
}
