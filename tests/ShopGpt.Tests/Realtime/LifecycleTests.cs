using System.Net.WebSockets;
using ShopGpt.Server.Messaging;
using ShopGpt.Server.Realtime;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

public sealed class LifecycleTests
{
    [Fact]
    public async Task ShutdownClosesEveryConnectionWith1012()
    {
        var app = await TestApp.StartAsync();
        using var user = await app.GuestAsync();
        await using var ws = await WsClient.ConnectAsync(app, user);
        await ws.WaitForTypeAsync("hello");
        var stopping = app.DisposeAsync().AsTask();
        Assert.Equal((WebSocketCloseStatus)1012, await ws.ClosedAsync());
        await stopping;
    }

    [Fact]
    public async Task IdleConnectionIsClosedWith1001()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Realtime:IdleTimeoutSeconds"] = "1", ["Realtime:SweepIntervalSeconds"] = "0.2",
        });
        using var user = await app.GuestAsync();
        await using var ws = await WsClient.ConnectAsync(app, user);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await ws.ClosedAsync());
    }

    [Fact]
    public async Task WithoutRedisOneInstanceServesTicketsLimitsAndFanOutInMemory()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = "", ["Realtime:MaxConnectionsPerUser"] = "2",
        });
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        await using var a = await WsClient.ConnectAsync(app, user);
        await using var b = await WsClient.ConnectAsync(app, user);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await WsClient.RefusedAsync(app, await WsClient.TicketAsync(app, user))).Status);
        await b.SubscribeAsync(cid);
        await a.SendAsync(new { t = "send", cid, @ref = "m", text = "in memory" });
        await a.AckAsync("m");
        await b.MsgAsync(cid, 1);
        await b.SendAsync(new { t = "sub", cid, afterSeq = 0 });
        await b.WaitUntilAsync(() => b.MsgSeqs(cid).Length == 2);
    }
}

[Collection(SoloCollection.Name)] // measures the process's managed heap
public sealed class SlowConsumerTests
{
    [Fact]
    public async Task ClientThatStopsReadingIsClosedWith1013AndServerMemoryReturnsToBaseline()
    {
        // One instance on the in-memory bus: the bound under test is per connection and bus-independent,
        // and StackExchange.Redis keeps up to ~30 MB of pooled buffers after a 40 MB publish burst
        // (measured: the same for 3x the traffic, so retention rather than a leak), which would hide
        // the ~36 MB an unbounded queue would hold here.
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = "",
            ["Realtime:MaxOutboundFrames"] = "1000",
            ["Realtime:MaxOutboundBytes"] = "1048576",
            ["Realtime:MaxBatchFrames"] = "16",
            ["Realtime:CloseTimeoutSeconds"] = "60",
            ["Realtime:HeartbeatSeconds"] = "600",
        });
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        await using var healthy = await WsClient.ConnectAsync(app, user, countDeltasOnly: true);
        await healthy.SubscribeAsync(cid);
        await using var slow = await WsClient.ConnectAsync(app, user, receiveBufferBytes: 4096, read: false, countDeltasOnly: true);
        slow.PauseWhen(f => WsClient.Type(f) == "subscribed");
        slow.StartReading();
        await slow.SubscribeAsync(cid);

        var events = app.Services.GetRequiredService<IConversationEvents>();
        var metrics = app.Services.GetRequiredService<RealtimeMetrics>();
        var text = new string('x', 4096);
        long baseline = 0;

        // 10,000 chunks (40 MB) in rounds the healthy reader keeps up with; the slow one never reads.
        // The baseline is taken after two rounds, when buffer pools are warm and the slow client's
        // kernel buffers (not managed memory) have started to fill.
        for (var round = 0; round < 100; round++)
        {
            if (round == 2) baseline = Memory();
            for (var i = 0; i < 100; i++) events.Publish(new AssistantDelta(user.Id, cid, Guid.NewGuid(), text));
            var expected = (round + 1) * 100;
            await healthy.WaitUntilAsync(() => healthy.DeltaCount >= expected, TimeSpan.FromSeconds(30));
        }
        Assert.Equal(10_000, healthy.DeltaCount);
        Assert.Equal(1, metrics.SlowConsumerTotal);

        var after = Memory();
        Assert.True(after - baseline < 12 * 1024 * 1024, $"server memory grew by {(after - baseline) / 1024} KiB");

        // Once the client reads again it finds what was in flight, then the close: 1013.
        slow.Resume();
        Assert.Equal((WebSocketCloseStatus)1013, await slow.ClosedAsync(TimeSpan.FromSeconds(30)));
        Assert.True(slow.DeltaCount < 10_000);

        // The healthy one is unaffected and still live.
        await healthy.SendAsync(new { t = "ping", ts = 1 });
        await healthy.WaitForTypeAsync("pong");
    }

    private static long Memory()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

public sealed class OutageTests
{
    [Fact]
    public async Task SendWhileTheDatabaseIsDownIsAnsweredUnavailableNeverAckedAndTheConnectionStays()
    {
        var pg = new Npgsql.NpgsqlConnectionStringBuilder(TestEnvironment.Postgres);
        await using var relay = TcpRelay.Start(pg.Host!, pg.Port);
        pg.Port = relay.Port;
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = pg.ConnectionString, ["Database:ConnectionTimeoutSeconds"] = "2",
        });
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        await using var ws = await WsClient.ConnectAsync(app, user);
        await ws.SendAsync(new { t = "send", cid, @ref = "before", text = "stored" });
        await ws.AckAsync("before");

        relay.Cut();
        await ws.SendAsync(new { t = "send", cid, @ref = "during", text = "not stored" });
        var err = await ws.WaitForAsync(f => WsClient.Type(f) == "err" && f.GetProperty("ref").GetString() == "during", TimeSpan.FromSeconds(30));
        Assert.Equal("unavailable", err.GetProperty("code").GetString());
        Assert.Equal(0, ws.Count(f => WsClient.Type(f) == "ack" && f.GetProperty("ref").GetString() == "during"));

        await ws.SendAsync(new { t = "ping", ts = 3 });
        await ws.WaitForAsync(f => WsClient.Type(f) == "pong");
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, ws.Socket.State);
    }

    [Fact]
    public async Task WhileRedisIsDownLocalFollowersStillGetMessagesAndFailedPublishesAreCounted()
    {
        var redisAddress = TestEnvironment.Redis.Split(':');
        await using var relay = TcpRelay.Start(redisAddress[0], int.Parse(redisAddress[1]));
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = $"127.0.0.1:{relay.Port}" });
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        await using var writer = await WsClient.ConnectAsync(app, user);
        await using var follower = await WsClient.ConnectAsync(app, user);
        await follower.SubscribeAsync(cid);
        var metrics = app.Services.GetRequiredService<RealtimeMetrics>();
        var failuresBefore = metrics.PublishFailureTotal;

        relay.Cut();
        await writer.SendAsync(new { t = "send", cid, @ref = "r", text = "local" });
        await writer.AckAsync("r");
        await follower.MsgAsync(cid, 1);

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (metrics.PublishFailureTotal == failuresBefore && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(metrics.PublishFailureTotal > failuresBefore);
    }
}
