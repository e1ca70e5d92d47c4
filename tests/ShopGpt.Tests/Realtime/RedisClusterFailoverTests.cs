using ShopGpt.Server.Data;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

/// <summary>
/// A Redis Cluster master SIGKILLed under live WebSocket traffic on two instances (issue 16): its
/// replica takes over, cross-instance delivery resumes with no restart of either instance, and a
/// follower's resume is gap-free. The cluster is the test's own (never the shared one).
/// </summary>
public sealed class RedisClusterFailoverTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task AKilledMasterFailsOverAndDeliveryResumesWithAGapFreeResume()
    {
        await using var cluster = await PrivateRedisCluster.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = cluster.ConnectionString,
            ["Realtime:LeaseSeconds"] = "3",
            ["Realtime:RatePerSecond"] = "1000",
            ["Realtime:RateBurst"] = "1000",
        };
        await using var a = await TestApp.StartAsync(settings);
        await using var b = await TestApp.StartAsync(settings);
        using var user = await a.GuestAsync();
        // Enough conversations that they spread over the three shards; the first one's shard dies.
        var cids = new Guid[6];
        for (var i = 0; i < cids.Length; i++) cids[i] = await user.CreateConversationAsync($"c{i}");
        var doomedPort = await cluster.MasterPortOfAsync(RedisNames.Default.Interest(cids[0]));

        await using var onA = await WsClient.ConnectAsync(a, user);
        var follower = await WsClient.ConnectAsync(b, user);
        foreach (var cid in cids) await follower.SubscribeAsync(cid);
        var sender = new WsSender(onA, "a", cids);
        sender.Start();
        await follower.WaitUntilAsync(() => cids.All(c => FollowerLog.Seqs(follower.Frames, c).Count >= 3), Step);

        await cluster.KillAsync(doomedPort);
        await cluster.FailedOverAsync(doomedPort);
        var atFailover = cids.ToDictionary(c => c, c => sender.Acked.Values.Where(v => v.Cid == c).Select(v => v.Seq).DefaultIfEmpty().Max());

        // Live delivery through the cluster resumes for every conversation, the dead shard's too.
        await follower.WaitUntilAsync(() => cids.All(c => FollowerLog.Seqs(follower.Frames, c).Any(s => s > atFailover[c])), Step);

        await sender.StopAsync();
        Assert.Equal(sender.Sent, sender.Acked.Count);   // Redis is not on the write path: every send acked

        // Resume: reconnect and resubscribe each conversation after the last seq held with no gap below.
        var held = follower.Frames;
        await follower.DisposeAsync();
        await using var resumed = await CrossInstanceTests.ConnectWhenAllowedAsync(b, user, Step);
        foreach (var cid in cids)
        {
            var live = FollowerLog.Seqs(held, cid);
            var after = FollowerLog.Contiguous(live);
            await resumed.SendAsync(new { t = "sub", cid, afterSeq = after });
            await resumed.SubscribedAsync(cid);
            var expected = sender.Acked.Values.Where(v => v.Cid == cid).Select(v => v.Seq).Order().ToList();
            Assert.Equal(Enumerable.Range(1, expected.Count).Select(i => (long)i), expected);
            var replay = FollowerLog.Seqs(resumed.Frames, cid);
            Assert.Equal(0, FollowerLog.Duplicates(replay));
            Assert.All(replay, s => Assert.True(s > after, $"replayed {s} at or below afterSeq {after}"));
            Assert.Equal(expected, live.Where(s => s <= after).Concat(replay).Order());   // no gap, nothing twice
        }

        var stored = await StoredMessages.CountByClientIdAsync(StoredMessages.Default, cids);
        Assert.All(sender.Acked.Keys, r => Assert.True(stored.TryGetValue(r, out var n) && n == 1, $"acked {r} stored {stored.GetValueOrDefault(r)} times"));
    }
}
