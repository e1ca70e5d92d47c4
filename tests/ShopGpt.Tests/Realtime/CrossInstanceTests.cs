using System.Net.WebSockets;
using ShopGpt.Server.Data;
using ShopGpt.Server.Messaging;
using ShopGpt.Server.Realtime;
using ShopGpt.Tests.Infrastructure;
using StackExchange.Redis;

namespace ShopGpt.Tests.Realtime;

/// <summary>Cross-instance realtime on a single Redis.</summary>
[Collection(RealtimePairCollection.Name)]
public sealed class SingleRedisCrossInstanceTests(RealtimePair pair) : CrossInstanceTests(pair);

/// <summary>The same tests on a real Redis Cluster (issue 16): hash-tagged keys, sharded pub/sub.</summary>
[Collection(ClusterRealtimePairCollection.Name)]
public sealed class ClusterCrossInstanceTests(ClusterRealtimePair pair) : CrossInstanceTests(pair);

/// <summary>Two instances behind a load balancer, on whichever Redis the pair runs on.</summary>
public abstract class CrossInstanceTests(RealtimePair pair)
{
    [Fact]
    public async Task SendOnOneInstanceIsAckedAndArrivesOnEveryInstanceExactlyOnce()
    {
        using var user = await pair.A.GuestAsync();
        var cid = await user.CreateConversationAsync();
        await using var onA = await WsClient.ConnectAsync(pair.A, user);
        await using var onB = await WsClient.ConnectAsync(pair.B, user);
        await onA.SubscribeAsync(cid);
        await onB.SubscribeAsync(cid);

        await onA.SendAsync(new { t = "send", cid, @ref = "r1", text = "one" });
        var ack = await onA.AckAsync("r1");
        Assert.Equal(1, ack.GetProperty("seq").GetInt64());
        var msg = await onB.MsgAsync(cid, 1);
        Assert.Equal(ack.GetProperty("id").GetGuid(), msg.GetProperty("id").GetGuid());
        Assert.Equal("one", msg.GetProperty("text").GetString());

        // Markers that travel through Redis after any echo or duplicate of the earlier ones would.
        await onB.SendAsync(new { t = "send", cid, @ref = "r2", text = "two" });
        await onB.AckAsync("r2");
        await onA.MsgAsync(cid, 2);
        await onA.SendAsync(new { t = "send", cid, @ref = "r3", text = "three" });
        await onA.AckAsync("r3");
        await onB.MsgAsync(cid, 3);
        await onB.SendAsync(new { t = "send", cid, @ref = "r4", text = "four" });
        await onA.MsgAsync(cid, 4);

        Assert.Equal([1L, 2, 3, 4], onA.MsgSeqs(cid));
        await onB.MsgAsync(cid, 4);
        Assert.Equal([1L, 2, 3, 4], onB.MsgSeqs(cid));
    }

    /// <summary>
    /// One connection gets frames from several writers at once: both hub workers (its
    /// conversations hash to different shards), the bus (senders on the other instance) and its
    /// own receive loop (pongs). A frame with nothing pending is written by whichever thread has
    /// it; one that finds a write in progress queues behind it. Either way the connection's
    /// frames stay in order: every conversation's messages arrive as seq 1..n, none twice.
    /// </summary>
    [Fact]
    public async Task FramesFromEveryWriterReachOneConnectionInOrderWithNoneLostOrRepeated()
    {
        using var user = await pair.A.GuestAsync();
        var cids = new List<Guid>();
        for (var i = 0; i < 8; i++) cids.Add(await user.CreateConversationAsync($"c{i}"));
        await using var reader = await WsClient.ConnectAsync(pair.A, user);
        foreach (var cid in cids) await reader.SubscribeAsync(cid);
        // The user's other four connections (five is the limit): two local, two through Redis.
        var senders = new List<WsClient>();
        for (var i = 0; i < 4; i++) senders.Add(await WsClient.ConnectAsync(i < 2 ? pair.A : pair.B, user));
        try
        {
            const int perSender = 16; // within the burst of 20 frames
            var sent = Task.WhenAll(senders.Select(async (s, i) =>
            {
                for (var k = 0; k < perSender; k++)
                    await s.SendAsync(new { t = "send", cid = cids[(i * 2 + k) % cids.Count], @ref = $"s{i}-{k}", text = $"from {i}, {k}" });
                for (var k = 0; k < perSender; k++) await s.AckAsync($"s{i}-{k}");
            }));
            // 8 subs + 10 pings stay within the reader's burst of 20 frames.
            for (var k = 0; k < 10; k++) await reader.SendAsync(new { t = "ping", ts = k });
            await sent;

            var perConversation = cids.ToDictionary(c => c, _ => 0);
            for (var i = 0; i < senders.Count; i++)
                for (var k = 0; k < perSender; k++) perConversation[cids[(i * 2 + k) % cids.Count]]++;
            foreach (var cid in cids) await reader.MsgAsync(cid, perConversation[cid]);
            await reader.WaitUntilAsync(() => reader.Count(f => WsClient.Type(f) == "pong") == 10);
            foreach (var cid in cids)
                Assert.Equal(Enumerable.Range(1, perConversation[cid]).Select(n => (long)n), reader.MsgSeqs(cid));
        }
        finally
        {
            foreach (var s in senders) await s.DisposeAsync();
        }
    }

    /// <summary>
    /// The hub's ordering on its own: a stored event published ahead of an earlier seq waits
    /// for it; one whose predecessor never comes (a lost publication) is released after
    /// Realtime:OrderWaitMs and counted. Published straight into the hub, so the timing is the test's.
    /// </summary>
    [Fact]
    public async Task AStoredEventAheadOfAMissingSeqWaitsForItOrIsReleasedAfterTheWaitLimit()
    {
        using var user = await pair.A.GuestAsync();
        var cid = await user.CreateConversationAsync();
        await using var ws = await WsClient.ConnectAsync(pair.A, user);
        await ws.SubscribeAsync(cid);
        var hub = pair.A.Services.GetRequiredService<ConversationHub>();
        var metrics = pair.A.Services.GetRequiredService<RealtimeMetrics>();
        hub.Publish(Stored(user.Id, cid, 1));
        await ws.MsgAsync(cid, 1);
        hub.Publish(Stored(user.Id, cid, 3));
        hub.Publish(Stored(user.Id, cid, 2));
        await ws.MsgAsync(cid, 3);
        Assert.Equal([1L, 2, 3], ws.MsgSeqs(cid));

        var gaps = metrics.OrderGapTotal;
        hub.Publish(Stored(user.Id, cid, 5)); // 4 never comes
        await ws.MsgAsync(cid, 5);
        Assert.Equal([1L, 2, 3, 5], ws.MsgSeqs(cid));
        Assert.True(metrics.OrderGapTotal > gaps);
        hub.Publish(Stored(user.Id, cid, 6)); // and the order goes on from 5
        await ws.MsgAsync(cid, 6);
        Assert.Equal([1L, 2, 3, 5, 6], ws.MsgSeqs(cid));
    }

    /// <summary>
    /// A topic that has seen no live stored event yet takes its expected seq from a complete
    /// replay, so even the first two live events of a newly followed conversation come in order.
    /// </summary>
    [Fact]
    public async Task TheFirstLiveEventsAfterAResumeAreOrderedFromTheReplaysLastSeq()
    {
        using var user = await pair.A.GuestAsync();
        var cid = await user.CreateConversationAsync();
        (await user.SendAsync(cid, "one")).EnsureSuccessStatusCode();
        (await user.SendAsync(cid, "two")).EnsureSuccessStatusCode();
        await using var ws = await WsClient.ConnectAsync(pair.A, user);
        await ws.SubscribeAsync(cid, afterSeq: 0);
        Assert.Equal([1L, 2], ws.MsgSeqs(cid));
        var hub = pair.A.Services.GetRequiredService<ConversationHub>();
        hub.Publish(Stored(user.Id, cid, 4));
        hub.Publish(Stored(user.Id, cid, 3));
        await ws.MsgAsync(cid, 4);
        Assert.Equal([1L, 2, 3, 4], ws.MsgSeqs(cid));
    }

    [Fact]
    public async Task AnInstanceIsNeverSentItsOwnPublicationsButOthersGetThem()
    {
        // A fresh instance, so its received-through-Redis counter sees only this test's traffic.
        await using var solo = await pair.StartAppAsync();
        var soloMetrics = solo.Services.GetRequiredService<RealtimeMetrics>();
        var bMetrics = pair.B.Services.GetRequiredService<RealtimeMetrics>();
        using var user = await solo.GuestAsync();
        var cid = await user.CreateConversationAsync();
        await using var local = await WsClient.ConnectAsync(solo, user);
        await using var remote = await WsClient.ConnectAsync(pair.B, user);
        await local.SubscribeAsync(cid);
        await remote.SubscribeAsync(cid);
        var bBefore = bMetrics.BusReceivedTotal;

        for (var i = 1; i <= 15; i++) await local.SendAsync(new { t = "send", cid, @ref = $"r{i}", text = $"m{i}" });
        await local.MsgAsync(cid, 15);
        await remote.MsgAsync(cid, 15);
        Assert.Equal(Enumerable.Range(1, 15).Select(i => (long)i), local.MsgSeqs(cid));
        Assert.Equal(Enumerable.Range(1, 15).Select(i => (long)i), remote.MsgSeqs(cid));
        Assert.Equal(0, soloMetrics.BusReceivedTotal);          // its 15 publications never came back to it
        Assert.True(bMetrics.BusReceivedTotal - bBefore >= 15); // ...but reached the other instance

        // The counter does count: a publication of the other instance arrives through Redis.
        await remote.SendAsync(new { t = "send", cid, @ref = "from-b", text = "m16" });
        await local.MsgAsync(cid, 16);
        Assert.Equal(1, soloMetrics.BusReceivedTotal);
    }

    [Fact]
    public async Task InterestLeftBehindByACrashedInstanceIsPrunedAndTheKeyExpires()
    {
        using var user = await pair.A.GuestAsync();
        var cid = await user.CreateConversationAsync();
        await using var raw = await ConnectionMultiplexer.ConnectAsync(pair.Redis);
        var db = raw.GetDatabase();
        var key = RedisNames.Default.Interest(cid);
        // What a crashed instance leaves: an entry whose expiry has passed and that nobody refreshes.
        await db.SortedSetAddAsync(key, "crashed-instance", 1);

        await using var ws = await WsClient.ConnectAsync(pair.B, user);
        await ws.SubscribeAsync(cid);
        var members = (await db.SortedSetRangeByRankAsync(key)).Select(m => m.ToString()).ToArray();
        Assert.DoesNotContain("crashed-instance", members);
        Assert.Single(members); // B's own, live entry
        var ttl = await db.KeyTimeToLiveAsync(key);
        Assert.NotNull(ttl);    // with no live instance refreshing it, the whole key goes away
        (await user.SendAsync(cid, "still delivered")).EnsureSuccessStatusCode();
        await ws.MsgAsync(cid, 1);
    }

    [Fact]
    public async Task ResendWithTheSameRefIsAckedWithTheSameMessageAndStoredOnce()
    {
        using var user = await pair.A.GuestAsync();
        var cid = await user.CreateConversationAsync();
        await using var ws = await WsClient.ConnectAsync(pair.A, user);
        await ws.SendAsync(new { t = "send", cid, @ref = "same", text = "hello" });
        await ws.SendAsync(new { t = "send", cid, @ref = "same", text = "hello" });
        await ws.WaitUntilAsync(() => ws.Count(f => WsClient.Type(f) == "ack") == 2);
        var acks = ws.Frames.Where(f => WsClient.Type(f) == "ack").ToArray();
        Assert.Single(acks.Select(a => a.GetProperty("id").GetGuid()).Distinct());
        var stored = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages");
        Assert.Single(stored.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task AnotherUserCannotFollowOrWriteAConversationThatIsNotShared()
    {
        using var owner = await pair.A.GuestAsync();
        using var stranger = await pair.A.GuestAsync();
        var cid = await owner.CreateConversationAsync();
        await using var ws = await WsClient.ConnectAsync(pair.A, stranger);

        await ws.SendAsync(new { t = "sub", cid });
        var err = await ws.WaitForTypeAsync("err");
        Assert.Equal("not_found", err.GetProperty("code").GetString());
        Assert.Equal(cid, err.GetProperty("cid").GetGuid());

        await ws.SendAsync(new { t = "send", cid, @ref = "x", text = "hi" });
        var sendErr = await ws.WaitForAsync(f => WsClient.Type(f) == "err" && f.TryGetProperty("ref", out var r) && r.GetString() == "x");
        Assert.Equal("not_found", sendErr.GetProperty("code").GetString());
        Assert.Equal(0, ws.Count(f => WsClient.Type(f) is "ack" or "subscribed"));

        // Shared makes it readable (followable), still not writable.
        (await owner.Http.PatchAsJsonAsync($"/api/conversations/{cid}", new { shared = true })).EnsureSuccessStatusCode();
        await ws.SubscribeAsync(cid);
        (await owner.SendAsync(cid, "visible")).EnsureSuccessStatusCode();
        await ws.MsgAsync(cid, 1);
    }

    [Fact]
    public async Task SixthConnectionIsRefusedAcrossBothInstancesUntilOneCloses()
    {
        using var user = await pair.A.GuestAsync();
        var open = new List<WsClient>();
        try
        {
            for (var i = 0; i < 3; i++) open.Add(await WsClient.ConnectAsync(pair.A, user));
            for (var i = 0; i < 2; i++) open.Add(await WsClient.ConnectAsync(pair.B, user));

            var onA = await WsClient.RefusedAsync(pair.A, await WsClient.TicketAsync(pair.A, user));
            Assert.Equal(HttpStatusCode.TooManyRequests, onA.Status);
            Assert.True(int.Parse(onA.RetryAfter!) >= 1);
            var onB = await WsClient.RefusedAsync(pair.B, await WsClient.TicketAsync(pair.B, user));
            Assert.Equal(HttpStatusCode.TooManyRequests, onB.Status);

            await open[0].DisposeAsync();
            open.RemoveAt(0);
            // The slot frees when the server has processed the close (asynchronous): poll with a deadline.
            open.Add(await ConnectWhenAllowedAsync(pair.B, user, TimeSpan.FromSeconds(15)));
        }
        finally
        {
            foreach (var c in open) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task SlotsOfAKilledInstanceFreeUpWhenTheirLeasesExpire()
    {
        using var user = await pair.A.GuestAsync();
        var open = new List<WsClient>();
        var doomed = await pair.StartAppAsync(new Dictionary<string, string?> { ["Realtime:LeaseSeconds"] = "2" });
        try
        {
            for (var i = 0; i < 3; i++) open.Add(await WsClient.ConnectAsync(pair.A, user));
            for (var i = 0; i < 2; i++) open.Add(await WsClient.ConnectAsync(doomed, user));
            Assert.Equal(HttpStatusCode.TooManyRequests, (await WsClient.RefusedAsync(pair.A, await WsClient.TicketAsync(pair.A, user))).Status);

            // A crash: the instance stops heartbeating and never releases its leases.
            doomed.Services.GetRequiredService<ConnectionLimiter>().SimulateCrash();
            await doomed.DisposeAsync();
            doomed = null;

            open.Add(await ConnectWhenAllowedAsync(pair.A, user, TimeSpan.FromSeconds(20)));
            open.Add(await ConnectWhenAllowedAsync(pair.A, user, TimeSpan.FromSeconds(20)));
            Assert.Equal(HttpStatusCode.TooManyRequests, (await WsClient.RefusedAsync(pair.A, await WsClient.TicketAsync(pair.A, user))).Status);
        }
        finally
        {
            foreach (var c in open) await c.DisposeAsync();
            if (doomed is not null) await doomed.DisposeAsync();
        }
    }

    [Fact]
    public async Task ResumeWithAfterSeqDeliversEveryMissedMessageOnceInOrderWhileLiveTrafficContinues()
    {
        using var user = await pair.A.GuestAsync();
        var cid = await user.CreateConversationAsync();
        for (var i = 1; i <= 5; i++) (await user.SendAsync(cid, $"m{i}", $"c{i}")).EnsureSuccessStatusCode();

        var reader = await WsClient.ConnectAsync(pair.B, user);
        await reader.SubscribeAsync(cid, afterSeq: 0);
        await reader.MsgAsync(cid, 5);
        await reader.DisposeAsync();

        // Others write 50 messages while it is away...
        using var other = pair.A.Client(user.Token);
        for (var i = 6; i <= 55; i++)
            (await other.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { text = $"m{i}", clientId = $"c{i}" })).EnsureSuccessStatusCode();

        // ...and keep writing while it reconnects (on the other instance) and replays.
        var live = Task.Run(async () =>
        {
            for (var i = 56; i <= 105; i++)
                (await other.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { text = $"m{i}", clientId = $"c{i}" })).EnsureSuccessStatusCode();
        });
        await using var back = await WsClient.ConnectAsync(pair.B, user);
        await back.SendAsync(new { t = "sub", cid, afterSeq = 5 });
        var subscribed = await back.SubscribedAsync(cid);
        Assert.True(subscribed.GetProperty("complete").GetBoolean());
        await live;
        await back.MsgAsync(cid, 105);

        Assert.Equal(Enumerable.Range(6, 100).Select(i => (long)i), back.MsgSeqs(cid));
        Assert.All(back.Frames.Where(f => WsClient.Type(f) == "msg"), m => Assert.Equal($"m{m.GetProperty("seq").GetInt64()}", m.GetProperty("text").GetString()));

        // A publication that arrives after the replay already carried its message is not delivered again.
        var stored = await other.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages?afterSeq=29&limit=1");
        var late = stored.GetProperty("items")[0].Deserialize<Message>(JsonSerializerOptions.Web)!;
        var events = pair.B.Services.GetRequiredService<IConversationEvents>();
        events.Publish(new MessageStored(user.Id, late));
        var marker = Guid.NewGuid();
        events.Publish(new AssistantDelta(user.Id, cid, marker, "marker"));
        await back.WaitForAsync(f => WsClient.Type(f) == "delta" && f.GetProperty("id").GetGuid() == marker);
        Assert.Equal(Enumerable.Range(6, 100).Select(i => (long)i), back.MsgSeqs(cid));
    }

    [Fact]
    public async Task MessagesOfAConversationNoLongerFollowedStopArriving()
    {
        using var user = await pair.A.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var marker = await user.CreateConversationAsync();
        await using var ws = await WsClient.ConnectAsync(pair.B, user);
        await ws.SubscribeAsync(cid);
        await ws.SubscribeAsync(marker);
        (await user.SendAsync(cid, "seen")).EnsureSuccessStatusCode();
        await ws.MsgAsync(cid, 1);
        await ws.SendAsync(new { t = "unsub", cid });
        await ws.SendAsync(new { t = "ping", ts = 1 });
        await ws.WaitForTypeAsync("pong");
        (await user.SendAsync(cid, "unseen")).EnsureSuccessStatusCode();
        (await user.SendAsync(marker, "after")).EnsureSuccessStatusCode();
        await ws.MsgAsync(marker, 1);
        Assert.Equal([1L], ws.MsgSeqs(cid));
    }

    internal static async Task<WsClient> ConnectWhenAllowedAsync(TestApp app, TestUser user, TimeSpan deadline)
    {
        var until = DateTime.UtcNow + deadline;
        while (true)
        {
            try
            {
                return await WsClient.ConnectAsync(app, user);
            }
            catch (WebSocketException) when (DateTime.UtcNow < until)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>A stored-message event with the given seq, published straight into a hub (no database).</summary>
    private static MessageStored Stored(Guid owner, Guid cid, long seq) =>
        new(owner, new Message(Guid.CreateVersion7(), cid, seq, "user", $"m{seq}", null, DateTimeOffset.UtcNow, null, "complete"));
}
