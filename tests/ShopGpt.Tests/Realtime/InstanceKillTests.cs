using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

/// <summary>
/// One of two instances killed with SIGKILL (issue 9): a real child process dies mid-traffic; its
/// clients reconnect to the surviving instance by their own retry, resume every followed
/// conversation with no gap, and get their connection slots back within the lease expiry.
/// </summary>
public sealed class InstanceKillTests
{
    private const int LeaseSeconds = 5;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ClientsOfAKilledInstanceReconnectToTheOtherResumeWithoutGapsAndGetTheirSlotsBackWithinTheLeaseExpiry()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Realtime:LeaseSeconds"] = LeaseSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Realtime:MaxConnectionsPerUser"] = "3",
            ["Realtime:SweepIntervalSeconds"] = "0.2",
        };
        await using var doomed = await ServerProcess.StartAsync(settings);
        await using var survivor = await TestApp.StartAsync(settings);
        using var user = await survivor.GuestAsync();
        var conversations = new[] { await user.CreateConversationAsync(), await user.CreateConversationAsync(), await user.CreateConversationAsync() };

        // Three clients on the doomed instance (the user's whole allowance), each following two conversations.
        var follows = Enumerable.Range(0, 3).Select(i => new[] { conversations[i], conversations[(i + 1) % 3] }).ToArray();
        var clients = new WsClient[3];
        for (var i = 0; i < 3; i++)
        {
            clients[i] = await WsClient.ConnectAsync(doomed.BaseAddress, user.Token);
            foreach (var cid in follows[i]) await clients[i].SubscribeAsync(cid);
        }

        // Sends acked by the doomed instance before it dies must be stored.
        var acked = new ConcurrentDictionary<string, Guid>();
        for (var i = 0; i < 3; i++)
        {
            for (var n = 0; n < 5; n++)
            {
                var reference = $"ws-{i}-{n}";
                await clients[i].SendAsync(new { t = "send", cid = follows[i][0], @ref = reference, text = reference });
                await clients[i].AckAsync(reference);
                acked[reference] = follows[i][0];
            }
        }

        // Live traffic through the survivor (REST) for the whole test.
        var sent = 0;
        var refused = new ConcurrentBag<HttpStatusCode>();
        using var stopWriting = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(30));
            for (var n = 0; !stopWriting.IsCancellationRequested; n++)
            {
                var cid = conversations[n % 3];
                var reference = $"rest-{n}";
                Interlocked.Increment(ref sent);
                var res = await user.SendAsync(cid, reference, reference);
                if (res.StatusCode == HttpStatusCode.Created) acked[reference] = cid;
                else refused.Add(res.StatusCode);
                try
                {
                    await pace.WaitForNextTickAsync(stopWriting.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        });

        // Fan-out from the survivor reaches every client on the doomed instance.
        foreach (var (c, i) in clients.Select((c, i) => (c, i)))
            await c.WaitUntilAsync(() => follows[i].All(cid => FollowerLog.Seqs(c.Frames, cid).Count >= 8), Step);

        await doomed.KillAsync();
        var killedAt = Stopwatch.StartNew();
        foreach (var c in clients) await c.ClosedAsync(Step);   // no close frame: the TCP connection just drops
        var held = clients.Select(c => c.Frames).ToArray();

        // The clients' own retry: a ticket and an upgrade on the surviving instance until allowed.
        // The dead instance's three leases fill the user's allowance until they expire.
        var refusedUpgrades = 0;
        var resumed = await Task.WhenAll(Enumerable.Range(0, 3).Select(async _ =>
        {
            while (true)
            {
                try
                {
                    return await WsClient.ConnectAsync(survivor, user);
                }
                catch (WebSocketException) when (killedAt.Elapsed < Step)
                {
                    Interlocked.Increment(ref refusedUpgrades);
                    await Task.Delay(100);
                }
            }
        }));
        var slotsBackAfter = killedAt.Elapsed;
        Assert.True(refusedUpgrades > 0, "the dead instance's leases never held the user's slots");
        Assert.True(slotsBackAfter < TimeSpan.FromSeconds(LeaseSeconds + 5), $"slots came back after {slotsBackAfter}, lease expiry is {LeaseSeconds} s");

        // Resume every followed conversation after the last seq held with no gap below.
        var resumeFrom = new long[3][];
        for (var i = 0; i < 3; i++)
        {
            resumeFrom[i] = new long[2];
            for (var k = 0; k < 2; k++)
            {
                var cid = follows[i][k];
                resumeFrom[i][k] = FollowerLog.Contiguous(FollowerLog.Seqs(held[i], cid));
                await resumed[i].SendAsync(new { t = "sub", cid, afterSeq = resumeFrom[i][k] });
                await resumed[i].SubscribedAsync(cid);
            }
        }

        // A little more live traffic after the resume, then stop writing.
        var atResume = acked.Count;
        for (var deadline = DateTime.UtcNow + Step; acked.Count < atResume + 15; await Task.Delay(50))
            Assert.True(DateTime.UtcNow < deadline, "the survivor stopped acking sends");
        await stopWriting.CancelAsync();
        await writer;
        Assert.Empty(refused);                                   // the survivor never refused a send

        for (var i = 0; i < 3; i++)
        {
            for (var k = 0; k < 2; k++)
            {
                var cid = follows[i][k];
                var shape = await StoredMessages.SeqShapeAsync(StoredMessages.Default, cid);
                Assert.Equal((shape.Rows, 1L, shape.Rows), (shape.Distinct, shape.Min, shape.Max));   // gap-free in the database
                var c = resumed[i];
                await c.WaitUntilAsync(() => FollowerLog.Seqs(c.Frames, cid).Contains(shape.Max), Step);
                var after = FollowerLog.Seqs(c.Frames, cid);
                var kept = FollowerLog.Seqs(held[i], cid).Where(s => s <= resumeFrom[i][k]);
                Assert.Equal(0, FollowerLog.Duplicates(after));                                           // duplicated: 0
                Assert.All(after, s => Assert.True(s > resumeFrom[i][k], $"seq {s} came again after resuming from {resumeFrom[i][k]}"));
                Assert.Equal(Enumerable.Range(1, (int)shape.Max).Select(s => (long)s), kept.Concat(after).Order());   // delivered: all, no gap
            }
        }

        // Every acked send (before the kill on the dead instance, and throughout on the survivor) is stored once.
        var stored = await StoredMessages.CountByClientIdAsync(StoredMessages.Default, conversations);
        Assert.All(acked.Keys, r => Assert.True(stored.TryGetValue(r, out var n) && n == 1, $"acked {r} stored {stored.GetValueOrDefault(r)} times"));
        Assert.Equal(acked.Count, stored.Count);
        Assert.Equal(sent + 15, acked.Count);                   // 15 WebSocket sends before the kill + every REST send

        foreach (var c in resumed) await c.DisposeAsync();
        foreach (var c in clients) await c.DisposeAsync();
    }
}
