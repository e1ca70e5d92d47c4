using System.Collections.Concurrent;

namespace ShopGpt.Tests.Realtime;

/// <summary>
/// Live traffic for fault tests: sends over one WebSocket, one at a time (each waits for its
/// <c>ack</c> or <c>err</c>), paced so the frame log stays small, round-robin over conversations,
/// until stopped. Keeps the counts the tests assert on: sent, acked (ref → seq), refused.
/// </summary>
public sealed class WsSender(WsClient ws, string prefix, params Guid[] conversations)
{
    private readonly CancellationTokenSource stop = new();
    private Task? loop;
    private int sent;
    private int refused;

    /// <summary>Acked sends: ref → (conversation, seq).</summary>
    public ConcurrentDictionary<string, (Guid Cid, long Seq)> Acked { get; } = new();

    public int Sent => Volatile.Read(ref sent);

    public int Refused => Volatile.Read(ref refused);

    /// <summary>Fires whenever an ack arrives, so tests await progress instead of sleeping.</summary>
    public event Action? Progress;

    public void Start() => loop = Task.Run(RunAsync);

    /// <summary>Completes once <paramref name="count"/> sends in total have been acked.</summary>
    public Task AckedAtLeastAsync(int count, TimeSpan timeout)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            if (Acked.Count >= count) done.TrySetResult();
        }
        Progress += Check;
        Check();
        return done.Task.WaitAsync(timeout);
    }

    public async Task StopAsync()
    {
        await stop.CancelAsync();
        if (loop is not null) await loop;
    }

    private async Task RunAsync()
    {
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var cid = conversations[i % conversations.Length];
            var reference = $"{prefix}-{i}";
            await ws.SendAsync(new { t = "send", cid, @ref = reference, text = $"{prefix} message {i}" });
            Interlocked.Increment(ref sent);
            var answer = await ws.WaitForAsync(f => WsClient.Type(f) is "ack" or "err" && f.TryGetProperty("ref", out var r) && r.GetString() == reference,
                TimeSpan.FromSeconds(30));
            if (WsClient.Type(answer) == "ack") Acked[reference] = (cid, answer.GetProperty("seq").GetInt64());
            else Interlocked.Increment(ref refused);
            Progress?.Invoke();
            try
            {
                await pace.WaitForNextTickAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}
