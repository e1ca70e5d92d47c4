using ShopGpt.Server.Data;
using ShopGpt.Tests.Caching;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

/// <summary>
/// Redis killed during live WebSocket traffic on two instances (issue 9): a private redis-server
/// (never the shared test one) is killed and restarted under steady sends on both instances.
/// </summary>
public sealed class RealtimeRedisOutageTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AckedMessagesAreStoredInstancesServeTheirOwnConnectionsAndFanOutLeasesAndResumeRecoverWhenRedisReturns()
    {
        await using var redis = await PrivateRedis.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = redis.ConnectionString,
            ["Realtime:LeaseSeconds"] = "3",              // heartbeat every second: leases come back quickly
            ["Realtime:SweepIntervalSeconds"] = "0.2",
            ["Realtime:MaxConnectionsPerUser"] = "3",
            ["Realtime:RatePerSecond"] = "1000",
            ["Realtime:RateBurst"] = "1000",
        };
        await using var a = await TestApp.StartAsync(settings);
        await using var b = await TestApp.StartAsync(settings);
        using var user = await a.GuestAsync();
        var shared = await user.CreateConversationAsync("written on A, followed on B");
        var lateFollowed = await user.CreateConversationAsync("followed on B while Redis is down");
        var localB = await user.CreateConversationAsync("written and followed on B");

        await using var onA = await WsClient.ConnectAsync(a, user);
        await using var followerB = await WsClient.ConnectAsync(b, user);
        await using var onB = await WsClient.ConnectAsync(b, user);
        await onA.SubscribeAsync(shared);
        await onA.SubscribeAsync(lateFollowed);
        await followerB.SubscribeAsync(shared);
        await onB.SubscribeAsync(localB);

        var senderA = new WsSender(onA, "a", shared, lateFollowed);
        var senderB = new WsSender(onB, "b", localB);
        senderA.Start();
        senderB.Start();

        // Healthy: A's sends reach the follower on B through Redis.
        await followerB.WaitUntilAsync(() => FollowerLog.Seqs(followerB.Frames, shared).Count >= 10, Step);

        await redis.KillAsync();
        var (aAtKill, bAtKill) = (senderA.Acked.Count, senderB.Acked.Count);
        // Each instance keeps serving its own connections: sends are acked and followed locally.
        await senderA.AckedAtLeastAsync(aAtKill + 40, Step);
        await senderB.AckedAtLeastAsync(bAtKill + 40, Step);
        // Following a conversation while Redis is down still works (locally); fan-out comes back later.
        await followerB.SubscribeAsync(lateFollowed);
        using (var noTicket = a.Client(user.Token))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await noTicket.PostAsync("/api/realtime/ticket", null)).StatusCode);

        await redis.RestartAsync();
        var sharedAtRestart = senderA.Acked.Values.Where(v => v.Cid == shared).Select(v => v.Seq).DefaultIfEmpty().Max();
        var lateAtRestart = senderA.Acked.Values.Where(v => v.Cid == lateFollowed).Select(v => v.Seq).DefaultIfEmpty().Max();

        // No restart of either instance: cross-instance delivery resumes, for the conversation
        // followed before the outage and the one followed during it.
        await followerB.WaitUntilAsync(() => FollowerLog.Seqs(followerB.Frames, shared).Any(s => s > sharedAtRestart), Step);
        await followerB.WaitUntilAsync(() => FollowerLog.Seqs(followerB.Frames, lateFollowed).Any(s => s > lateAtRestart), Step);

        // Leases: the restarted Redis is empty; the instances' heartbeats put their 3 leases back,
        // so the per-user limit holds again across both instances.
        await using (var raw = await redis.ConnectAsync())
        {
            var key = RedisNames.Default.ConnectionLeases(user.Id);
            var deadline = DateTime.UtcNow + Step;
            while (await raw.GetDatabase().SortedSetLengthAsync(key) < 3)
            {
                Assert.True(DateTime.UtcNow < deadline, "leases were not restored after Redis came back");
                await Task.Delay(100);
            }
            Assert.Equal(3, await raw.GetDatabase().SortedSetLengthAsync(key));
        }
        var refused = await WsClient.RefusedAsync(b, await WsClient.TicketAsync(b, user));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.Status);

        await senderA.StopAsync();
        await senderB.StopAsync();
        Assert.Equal(senderA.Sent, senderA.Acked.Count);          // Redis is not on the write path: nothing refused
        Assert.Equal(senderB.Sent, senderB.Acked.Count);

        // The follower on B catches up through resume: it reconnects (to B) and resubscribes
        // after the last seq it holds with no gap below; the replay fills in what fan-out missed.
        var held = followerB.Frames;
        await followerB.DisposeAsync();
        await using var resumed = await CrossInstanceTests.ConnectWhenAllowedAsync(b, user, Step);
        foreach (var cid in new[] { shared, lateFollowed })
        {
            var live = FollowerLog.Seqs(held, cid);
            var after = FollowerLog.Contiguous(live);
            await resumed.SendAsync(new { t = "sub", cid, afterSeq = after });
            await resumed.SubscribedAsync(cid);
            var replay = FollowerLog.Seqs(resumed.Frames, cid);
            var expected = senderA.Acked.Values.Where(v => v.Cid == cid).Select(v => v.Seq).Order().ToList();
            Assert.Equal(Enumerable.Range(1, expected.Count).Select(i => (long)i), expected);
            Assert.Equal(0, FollowerLog.Duplicates(replay));
            Assert.All(replay, s => Assert.True(s > after, $"replayed {s} at or below afterSeq {after}"));
            Assert.Equal(expected, live.Where(s => s <= after).Concat(replay).Order());   // no gap, nothing twice
        }

        // Local delivery never stopped: each sender received its own conversation's every message, once.
        var aShared = FollowerLog.Seqs(onA.Frames, shared);
        Assert.Equal(senderA.Acked.Values.Where(v => v.Cid == shared).Select(v => v.Seq).Order(), aShared.Order());
        Assert.Equal(0, FollowerLog.Duplicates(aShared));
        var bLocal = FollowerLog.Seqs(onB.Frames, localB);
        Assert.Equal(senderB.Acked.Values.Select(v => v.Seq).Order(), bLocal.Order());
        Assert.Equal(0, FollowerLog.Duplicates(bLocal));

        // Every acked message is stored exactly once, with gap-free seq.
        var stored = await StoredMessages.CountByClientIdAsync(StoredMessages.Default, shared, lateFollowed, localB);
        var acked = senderA.Acked.Keys.Concat(senderB.Acked.Keys).ToList();
        Assert.All(acked, r => Assert.True(stored.TryGetValue(r, out var n) && n == 1, $"acked {r} stored {stored.GetValueOrDefault(r)} times"));
        Assert.Equal(acked.Count, stored.Count);
        foreach (var cid in new[] { shared, lateFollowed, localB })
        {
            var shape = await StoredMessages.SeqShapeAsync(StoredMessages.Default, cid);
            Assert.Equal((shape.Rows, 1L, shape.Rows), (shape.Distinct, shape.Min, shape.Max));
        }
    }
}
