using ShopGpt.Tests.Infrastructure;
using ShopGpt.Tests.Realtime;

namespace ShopGpt.Tests.Http;

/// <summary>Issue 15, finding 8: limits that could be dodged (forwarded headers) or were missing (search, tickets).</summary>
public sealed class RequestLimitTests
{
    [Fact]
    public async Task RotatingXForwardedForOnADirectConnectionDoesNotDodgeTheLoginLimit()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["RateLimits:AuthPerIpPerMinute"] = "5" });
        using var anon = app.Client();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 10; i++)
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, "/api/auth/login") { Content = JsonContent.Create(new { email = $"x{i}@example.test", password = "wrongwrong" }) };
            req.Headers.Add("X-Forwarded-For", $"203.0.113.{i + 1}");
            statuses.Add((await anon.SendAsync(req)).StatusCode);
        }
        Assert.Equal(5, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(5, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task AConfiguredProxyIsBelievedSoItsClientsHaveTheirOwnLimits()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["RateLimits:AuthPerIpPerMinute"] = "2",
            ["Http:TrustedProxies:0"] = "127.0.0.1",
        });
        using var anon = app.Client();
        async Task<HttpStatusCode> LoginFrom(string ip)
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, "/api/auth/login") { Content = JsonContent.Create(new { email = "nobody@example.test", password = "wrongwrong" }) };
            req.Headers.Add("X-Forwarded-For", ip);
            return (await anon.SendAsync(req)).StatusCode;
        }
        for (var i = 0; i < 2; i++) Assert.Equal(HttpStatusCode.Unauthorized, await LoginFrom("203.0.113.7"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await LoginFrom("203.0.113.7"));
        // Another client behind the same proxy still has its own allowance.
        Assert.Equal(HttpStatusCode.Unauthorized, await LoginFrom("203.0.113.8"));
    }

    [Fact]
    public async Task AnUntrustedProxyListIsRefusedAtStart()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestApp.StartAsync(new Dictionary<string, string?> { ["Http:TrustedProxies:0"] = "not-an-ip" }));
        Assert.Contains("TrustedProxies", e.ToString());
    }

    [Fact]
    public async Task ProductSearchAndTicketsAreLimitedPerUser()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["RateLimits:PerUserPerSecond"] = "1",
            ["RateLimits:PerUserBurst"] = "5",
        });
        using var greedy = await app.GuestAsync();
        using var quiet = await app.GuestAsync();
        var search = new List<HttpStatusCode>();
        for (var i = 0; i < 20; i++) search.Add((await greedy.Http.GetAsync($"/api/products/search?q=case{i}")).StatusCode);
        Assert.Contains(HttpStatusCode.TooManyRequests, search);
        var tickets = new List<HttpStatusCode>();
        for (var i = 0; i < 20; i++) tickets.Add((await greedy.Http.PostAsync("/api/realtime/ticket", null)).StatusCode);
        Assert.Contains(HttpStatusCode.TooManyRequests, tickets);
        Assert.Equal(HttpStatusCode.OK, (await quiet.Http.GetAsync("/api/products/search?q=case")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await quiet.Http.PostAsync("/api/realtime/ticket", null)).StatusCode);
    }

    [Fact]
    public async Task OneHundredFiftyParallelTicketRequestsLeaveAtMostTheCapOutstanding()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:MaxOutstandingTicketsPerUser"] = "10" });
        using var user = await app.GuestAsync();
        var answers = await Task.WhenAll(Enumerable.Range(0, 150).Select(_ => user.Http.PostAsync("/api/realtime/ticket", null)));
        var issued = answers.Where(a => a.StatusCode == HttpStatusCode.OK).ToList();
        Assert.InRange(issued.Count, 1, 10);
        var refused = answers.First(a => a.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.Equal("too_many_tickets", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.NotNull(refused.Headers.RetryAfter);

        // Redeeming one frees its slot: the user can get a ticket again, and every issued one still works once.
        var first = (await issued[0].Content.ReadFromJsonAsync<JsonElement>()).GetProperty("ticket").GetString()!;
        await using (var ws = await WsClient.ConnectWithTicketAsync(app, first)) await ws.WaitForTypeAsync("hello");
        Assert.Equal(HttpStatusCode.OK, (await user.Http.PostAsync("/api/realtime/ticket", null)).StatusCode);
        // Another user is not affected by this one's tickets.
        using var other = await app.GuestAsync();
        Assert.Equal(HttpStatusCode.OK, (await other.Http.PostAsync("/api/realtime/ticket", null)).StatusCode);
    }
}
