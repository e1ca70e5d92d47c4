using System.Net.WebSockets;
using ShopGpt.Server.Data;
using ShopGpt.Server.Realtime;
using ShopGpt.Tests.Infrastructure;
using StackExchange.Redis;

namespace ShopGpt.Tests.Realtime;

[Collection(RealtimePairCollection.Name)]
public sealed class ConnectionLimitsTests(RealtimePair pair)
{
    [Fact]
    public async Task ForeignOriginIsRefusedWith403BeforeTheUpgradeWhileSameOriginAndNonBrowsersConnect()
    {
        using var user = await pair.A.GuestAsync();
        var ticket = await WsClient.TicketAsync(pair.A, user);
        Assert.Equal(HttpStatusCode.Forbidden, (await WsClient.RefusedAsync(pair.A, ticket, origin: "https://evil.example")).Status);

        // The refused attempt did not use the ticket up.
        var sameOrigin = $"http://{pair.A.BaseAddress.Authority}";
        await using (var ok = await WsClient.ConnectWithTicketAsync(pair.A, ticket, origin: sameOrigin))
            await ok.WaitForTypeAsync("hello");
        await using (var noOrigin = await WsClient.ConnectAsync(pair.A, user))
            await noOrigin.WaitForTypeAsync("hello");

        await using var listed = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:AllowedOrigins:0"] = "https://shop.example" });
        using var other = await listed.GuestAsync();
        await using (var fromList = await WsClient.ConnectAsync(listed, other, origin: "https://shop.example"))
            await fromList.WaitForTypeAsync("hello");
        var notListed = await WsClient.RefusedAsync(listed, await WsClient.TicketAsync(listed, other), origin: $"http://{listed.BaseAddress.Authority}");
        Assert.Equal(HttpStatusCode.Forbidden, notListed.Status);
    }

    [Fact]
    public async Task MissingInvalidReusedOrExpiredTicketIsRefusedWith401()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Realtime:TicketSeconds"] = "1" });
        using var user = await app.GuestAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, (await WsClient.RefusedAsync(app, null)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await WsClient.RefusedAsync(app, "not-a-ticket")).Status);

        var ticket = await WsClient.TicketAsync(app, user);
        await using (var first = await WsClient.ConnectWithTicketAsync(app, ticket))
            await first.WaitForTypeAsync("hello");
        Assert.Equal(HttpStatusCode.Unauthorized, (await WsClient.RefusedAsync(app, ticket)).Status);

        // Valid on any instance: a ticket from this instance opens a socket on another one.
        await using (var elsewhere = await WsClient.ConnectWithTicketAsync(pair.B, await WsClient.TicketAsync(app, user)))
            await elsewhere.WaitForTypeAsync("hello");

        var stale = await WsClient.TicketAsync(app, user);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.Redis);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await redis.GetDatabase().KeyExistsAsync(RedisNames.Default.Ticket(RealtimeTickets.KeyFor(stale))) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(HttpStatusCode.Unauthorized, (await WsClient.RefusedAsync(app, stale)).Status);
    }

    [Fact]
    public async Task TwentyFiveFramesInOneSecondAreRateLimitedAndTheConnectionStaysUsable()
    {
        using var user = await pair.A.GuestAsync();
        await using var ws = await WsClient.ConnectAsync(pair.A, user);
        for (var i = 0; i < 25; i++) await ws.SendAsync(new { t = "ping", ts = i });
        await ws.WaitUntilAsync(() => ws.Count(f => WsClient.Type(f) is "pong" or "err") == 25);
        var limited = ws.Count(f => WsClient.Type(f) == "err" && f.GetProperty("code").GetString() == "rate_limited");
        Assert.InRange(limited, 1, 5);
        Assert.Equal(25 - limited, ws.Count(f => WsClient.Type(f) == "pong"));

        // Tokens refill at 10/s: a client retrying a refused frame gets through.
        var until = DateTime.UtcNow.AddSeconds(10);
        var k = 1000;
        while (true)
        {
            var ts = k++;
            await ws.SendAsync(new { t = "ping", ts });
            var answer = await ws.WaitForAsync(f =>
                (WsClient.Type(f) == "pong" && f.GetProperty("ts").GetInt32() == ts) ||
                (WsClient.Type(f) == "err" && ws.Count(e => WsClient.Type(e) == "err") > limited + (ts - 1000)));
            if (WsClient.Type(answer) == "pong") break;
            Assert.True(DateTime.UtcNow < until, "the connection never became usable again");
            await Task.Delay(50);
        }
        Assert.Equal(WebSocketState.Open, ws.Socket.State);
    }

    [Fact]
    public async Task SustainedFloodingIsClosedWith1008()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Realtime:RatePerSecond"] = "1", ["Realtime:RateBurst"] = "2", ["Realtime:AbuseThreshold"] = "5",
        });
        using var user = await app.GuestAsync();
        await using var ws = await WsClient.ConnectAsync(app, user);
        for (var i = 0; i < 20 && ws.Socket.State == WebSocketState.Open; i++)
        {
            try
            {
                await ws.SendAsync(new { t = "ping", ts = i });
            }
            catch (WebSocketException)
            {
                break;
            }
        }
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await ws.ClosedAsync());
    }

    [Fact]
    public async Task FrameOver64KiBIsClosedWith1009()
    {
        using var user = await pair.A.GuestAsync();
        await using var ws = await WsClient.ConnectAsync(pair.A, user);
        await ws.WaitForTypeAsync("hello");
        var big = $"{{\"t\":\"ping\",\"ts\":\"{new string('x', 70 * 1024)}\"}}";
        try
        {
            await ws.SendRawAsync(big);
        }
        catch (WebSocketException)
        {
            // The server may close before the whole frame was written.
        }
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await ws.ClosedAsync());
    }

    [Fact]
    public async Task MalformedUnknownOrIncompleteFramesAreAnsweredWithBadFrameAndTheConnectionStaysOpen()
    {
        using var user = await pair.A.GuestAsync();
        await using var ws = await WsClient.ConnectAsync(pair.A, user);
        string[] bad =
        [
            "{not json",
            "[1,2,3]",
            "{\"t\":\"dance\"}",
            "{\"text\":\"no type\"}",
            $"{{\"t\":\"send\",\"cid\":\"{Guid.NewGuid()}\",\"ref\":\"r\"}}",
            "{\"t\":\"sub\"}",
            "{\"t\":\"sub\",\"cid\":\"not-a-uuid\"}",
        ];
        foreach (var b in bad) await ws.SendRawAsync(b);
        await ws.Socket.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, CancellationToken.None);
        await ws.SendAsync(new { t = "ping", ts = 7 });
        var pong = await ws.WaitForTypeAsync("pong");
        Assert.Equal(7, pong.GetProperty("ts").GetInt32());
        var errs = ws.Frames.Where(f => WsClient.Type(f) == "err").Select(f => f.GetProperty("code").GetString()).ToArray();
        Assert.Equal(Enumerable.Repeat("bad_frame", bad.Length + 1), errs);
        Assert.Equal(WebSocketState.Open, ws.Socket.State);
    }

    [Fact]
    public async Task HelloIsTheFirstFrameAndAdvertisesTheLimits()
    {
        using var user = await pair.A.GuestAsync();
        await using var ws = await WsClient.ConnectAsync(pair.A, user);
        var hello = await ws.WaitForTypeAsync("hello");
        Assert.Equal("hello", WsClient.Type(ws.Frames[0]));
        Assert.Equal(65536, hello.GetProperty("maxFrameBytes").GetInt32());
        Assert.Equal(10, hello.GetProperty("rate").GetProperty("perSecond").GetDouble());
        Assert.Equal(20, hello.GetProperty("rate").GetProperty("burst").GetInt32());
        Assert.False(string.IsNullOrEmpty(hello.GetProperty("connectionId").GetString()));
    }

    [Fact]
    public async Task PlainGetOnTheSocketPathIsNotAnUpgrade()
    {
        using var anon = pair.A.Client();
        var res = await anon.GetAsync("/ws?ticket=x");
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
    }

    [Fact]
    public async Task RealtimeMetricsAreExportedUnderTheContractNames()
    {
        using var user = await pair.A.GuestAsync();
        await using var ws = await WsClient.ConnectAsync(pair.A, user);
        await ws.SendAsync(new { t = "ping", ts = 1 });
        await ws.WaitForTypeAsync("pong");
        string[] series =
        [
            "shopgpt_realtime_connections", "shopgpt_realtime_connects_total", "shopgpt_realtime_frames_in_total{",
            "type=\"ping\"", "shopgpt_realtime_frames_out_total{", "type=\"pong\"", "shopgpt_realtime_outbound_queue_depth_bucket",
        ];
        using var http = pair.A.MetricsClient();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string text;
        do
        {
            text = await http.GetStringAsync("/metrics");
            if (series.All(text.Contains)) break;
            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        Assert.All(series, s => Assert.Contains(s, text));
    }
}
