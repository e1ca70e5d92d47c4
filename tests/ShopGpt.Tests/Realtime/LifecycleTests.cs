using System.Net.WebSockets;
using ShopGpt.Server.Messaging;
using ShopGpt.Server.Realtime;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

[Collection(IsolatedCollection.Name)]
public sealed class LifecycleTests
{
    [Fact]
    public async Task ClientThatStopsReadingIsClosedWith1013AndServerMemoryReturnsToBaseline()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            // Single instance, in-memory bus: this test is about the per-connection bound; Redis
            // traffic for other instances would add process-wide allocations unrelated to it.
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
        var events = app.Services.GetRequiredService<IConversationEvents>();
        var text = new string('x', 4096);

        // Warm-up with only the healthy reader: buffer pools and thread-local caches fill up to
        // their working size here, so the baseline below is the steady state, not a cold start.
        for (var round = 0; round < 20; round++)
        {
            for (var i = 0; i < 100; i++) events.Publish(new AssistantDelta(user.Id, cid, Guid.NewGuid(), text));
            var warm = (round + 1) * 100;
            await healthy.WaitUntilAsync(() => healthy.DeltaCount >= warm, TimeSpan.FromSeconds(30));
        }
        healthy.ResetDeltaCount();

        await using var slow = await WsClient.ConnectAsync(app, user, receiveBufferBytes: 4096, read: false, countDeltasOnly: true);
        slow.PauseWhen(f => WsClient.Type(f) == "subscribed");
        slow.StartReading();
        await slow.SubscribeAsync(cid);

        var metrics = app.Services.GetRequiredService<RealtimeMetrics>();
        var baseline = Memory();

        // 10,000 chunks (40 MB) in rounds the healthy reader keeps up with; the slow one never reads.
        for (var round = 0; round < 100; round++)
        {
            for (var i = 0; i < 100; i++) events.Publish(new AssistantDelta(user.Id, cid, Guid.NewGuid(), text));
            var expected = (round + 1) * 100;
            await healthy.WaitUntilAsync(() => healthy.DeltaCount >= expected, TimeSpan.FromSeconds(30));
        }
        Assert.Equal(10_000, healthy.DeltaCount);
        Assert.Equal(1, metrics.SlowConsumerTotal);

        // Pools and the GC may hand memory back a little later: poll (with a deadline) for the return to baseline.
        var after = Memory();
        for (var deadline = DateTime.UtcNow.AddSeconds(10); after - baseline >= 12 * 1024 * 1024 && DateTime.UtcNow < deadline; after = Memory())
            await Task.Delay(200);
        Assert.True(after - baseline < 12 * 1024 * 1024, $"server memory grew by {(after - baseline) / 1024} KiB");

        // Once the client reads again it finds what was in flight, then the close: 1013.
        slow.Resume();
        Assert.Equal((WebSocketCloseStatus)1013, await slow.ClosedAsync(TimeSpan.FromSeconds(30)));
        Assert.True(slow.DeltaCount < 10_000);

        // The healthy one is unaffected and still live.
        await healthy.SendAsync(new { t = "ping", ts = 1 });
        await healthy.WaitForTypeAsync("pong");
    }

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

    private static long Memory()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
