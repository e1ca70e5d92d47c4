using System.Diagnostics;
using System.Globalization;
using HdrHistogram;

namespace ShopGpt.Bench;

/// <summary>
/// The fan-out measurement shared by `./shopgpt bench fanout`'s two sides (ShopGPT in this
/// project, the SignalR peer in ShopGpt.Bench.SignalR, which links this file): the system under
/// test only supplies "connect a follower of conversation c to instance i" and "publish text into
/// conversation c". Every published text is "fo:{row}:{scheduled Stopwatch timestamp}", so a
/// follower computes send→deliver latency from the SCHEDULED send time (open loop, no
/// coordinated omission) and stragglers of an earlier row are not counted in a later one.
/// </summary>
public sealed class FanoutCore(int conversations, int followers, int[] serverPids)
{
    private LongHistogram hist = new(TimeSpan.TicksPerSecond * 60, 3);
    private LongHistogram ackHist = new(TimeSpan.TicksPerSecond * 60, 3); // scheduled send → publish call returned (ShopGPT: committed)
    private readonly Lock histLock = new();
    private long delivered;
    private long lastDelivery;
    private volatile int row = -1;

    public int Conversations => conversations;

    public int Followers => followers;

    public const string Header =
        "| system | load | target msg/s | sent msg/s | send errors | delivered | expected | delivered frames/s | p50 ms | p95 ms | p99 ms | max ms | send→ack p50 / p99 ms | server CPU s | CPU s per 100k delivered | load avg (1 min, row end) |\n" +
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

    /// <summary>Called by a follower for every delivered message text.</summary>
    public void Delivered(string text)
    {
        var now = Stopwatch.GetTimestamp();
        var parts = text.Split(':');
        if (parts.Length != 3 || parts[0] != "fo") return;
        if (int.Parse(parts[1], CultureInfo.InvariantCulture) != row) return;
        var sent = long.Parse(parts[2], CultureInfo.InvariantCulture);
        var ticks = Math.Max(1, Stopwatch.GetElapsedTime(sent, now).Ticks);
        lock (histLock) hist.RecordValue(Math.Min(ticks, TimeSpan.TicksPerSecond * 60));
        Interlocked.Increment(ref delivered);
        Volatile.Write(ref lastDelivery, now);
    }

    /// <summary>Connects conversations × followers followers (follower f of a conversation goes to instance f % instances).</summary>
    public async Task<int> ConnectAsync(int instances, Func<int, int, Task> connect, int parallelism = 32)
    {
        var failures = 0;
        var sw = Stopwatch.StartNew();
        await Parallel.ForAsync(0, conversations * followers, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (n, _) =>
        {
            try
            {
                await connect(n / followers, n % followers % instances);
            }
            catch (Exception e)
            {
                if (Interlocked.Increment(ref failures) <= 3) Console.Error.WriteLine($"follower setup failed: {e.GetType().Name}: {e.Message}");
            }
        });
        Console.Error.WriteLine($"connected {conversations * followers - failures} followers ({failures} failed) in {sw.Elapsed.TotalSeconds:0.0} s");
        return failures;
    }

    /// <summary>Closed loop: `concurrency` senders publish back to back; returns the achieved publish rate (the max for the open-loop rows).</summary>
    public async Task<(double SendRate, string Row)> ClosedLoopAsync(string system, int concurrency, TimeSpan duration, Func<int, string, Task<bool>> publish)
    {
        var r = StartRow();
        long sent = 0, errors = 0;
        var cpu0 = Cpu();
        var sw = Stopwatch.StartNew();
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(w => Task.Run(async () =>
        {
            for (long i = w; sw.Elapsed < duration; i += concurrency)
            {
                var t0 = Stopwatch.GetTimestamp();
                var ok = await SafePublish(publish, (int)(i % conversations), $"fo:{r}:{t0}");
                Ack(t0);
                if (ok) Interlocked.Increment(ref sent); else Interlocked.Increment(ref errors);
            }
        })));
        var sendSeconds = sw.Elapsed.TotalSeconds;
        return (sent / sendSeconds, await FinishRow(system, $"closed loop ({concurrency} senders)", 0, sent / sendSeconds, sent, errors, start, cpu0));
    }

    /// <summary>Open loop at a fixed rate; latency counts from each message's scheduled time.</summary>
    public async Task<string> OpenLoopAsync(string system, string load, double rate, TimeSpan duration, Func<int, string, Task<bool>> publish, int maxInFlight = 2000)
    {
        var r = StartRow();
        long sent = 0, errors = 0;
        // How late the load generator itself starts each publish (scheduled → the publish task runs):
        // part of every latency below, so a late generator shows here rather than as server time.
        var lag = new LongConcurrentHistogram(1, TimeSpan.TicksPerSecond * 60, 3);
        var inFlight = new SemaphoreSlim(maxInFlight);
        var tasks = new List<Task>();
        var cpu0 = Cpu();
        var start = Stopwatch.GetTimestamp();
        var sw = Stopwatch.StartNew();
        var total = (long)(rate * duration.TotalSeconds);
        for (long i = 0; i < total; i++)
        {
            var due = TimeSpan.FromSeconds(i / rate);
            var wait = due - sw.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait);
            var scheduled = start + (long)(due.TotalSeconds * Stopwatch.Frequency);
            if (!inFlight.Wait(0))
            {
                errors++; // over the in-flight bound: counted as failed, never silently skipped
                continue;
            }
            var c = (int)(i % conversations);
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    lag.RecordValue(Math.Max(0, (Stopwatch.GetTimestamp() - scheduled) * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
                    var ok = await SafePublish(publish, c, $"fo:{r}:{scheduled}");
                    Ack(scheduled);
                    if (ok) Interlocked.Increment(ref sent);
                    else Interlocked.Increment(ref errors);
                }
                finally
                {
                    inFlight.Release();
                }
            }));
        }
        await Task.WhenAll(tasks);
        var sendSeconds = sw.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"{system}, {load}: generator lag p50 {lag.GetValueAtPercentile(50) / 1e4:F1} ms, p99 {lag.GetValueAtPercentile(99) / 1e4:F1} ms");
        return await FinishRow(system, load, rate, total / sendSeconds, sent, errors, start, cpu0);
    }

    private static async Task<bool> SafePublish(Func<int, string, Task<bool>> publish, int c, string text)
    {
        try
        {
            return await publish(c, text);
        }
        catch (Exception e) when (e is not OutOfMemoryException) // any failed publish (HTTP, socket, hub error) counts as a send error
        {
            return false;
        }
    }

    private void Ack(long from)
    {
        var ticks = Math.Clamp(Stopwatch.GetElapsedTime(from).Ticks, 1, TimeSpan.TicksPerSecond * 60);
        lock (histLock) ackHist.RecordValue(ticks);
    }

    private int StartRow()
    {
        lock (histLock)
        {
            hist = new LongHistogram(TimeSpan.TicksPerSecond * 60, 3);
            ackHist = new LongHistogram(TimeSpan.TicksPerSecond * 60, 3);
        }
        Interlocked.Exchange(ref delivered, 0);
        return ++row;
    }

    private async Task<string> FinishRow(string system, string load, double target, double sentRate, long sent, long errors, long start, double cpu0)
    {
        // Drain: wait until every follower got every message, or 5 s without progress.
        var expected = sent * followers;
        var last = -1L;
        var stall = Stopwatch.StartNew();
        while (Interlocked.Read(ref delivered) < expected && stall.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(50);
            var d = Interlocked.Read(ref delivered);
            if (d != last) { last = d; stall.Restart(); }
        }
        var got = Interlocked.Read(ref delivered);
        var cpu = Cpu() - cpu0;
        var window = Stopwatch.GetElapsedTime(start, Math.Max(Volatile.Read(ref lastDelivery), start + 1)).TotalSeconds;
        LongHistogram h, a;
        lock (histLock)
        {
            h = hist.Copy() as LongHistogram ?? hist;
            a = ackHist.Copy() as LongHistogram ?? ackHist;
        }
        double AckMs(double p) => a.TotalCount == 0 ? double.NaN : a.GetValueAtPercentile(p) / (double)TimeSpan.TicksPerMillisecond;
        double Ms(double p) => h.TotalCount == 0 ? double.NaN : h.GetValueAtPercentile(p) / (double)TimeSpan.TicksPerMillisecond;
        var perHundredK = got == 0 ? double.NaN : cpu / got * 100_000;
        return string.Create(CultureInfo.InvariantCulture,
            $"| {system} | {load} | {(target > 0 ? target.ToString("0", CultureInfo.InvariantCulture) : "max")} | {sentRate:0} | {errors} | {got} | {expected} | {got / window:0} | {Ms(50):0.0} | {Ms(95):0.0} | {Ms(99):0.0} | {(h.TotalCount == 0 ? double.NaN : h.GetMaxValue() / (double)TimeSpan.TicksPerMillisecond):0.0} | {AckMs(50):0.0} / {AckMs(99):0.0} | {cpu:0.0} | {perHundredK:0.00} | {LoadAverage()} |");
    }

    // The machine is shared: every row says how busy it was (first field of /proc/loadavg).
    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    /// <summary>utime + stime of the server processes, in seconds (/proc/PID/stat fields 14 and 15, USER_HZ = 100).</summary>
    private double Cpu()
    {
        long ticks = 0;
        foreach (var pid in serverPids)
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            ticks += long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
        }
        return ticks / 100.0;
    }

    /// <summary>
    /// The common run. The max is found the same way for every system: closed loops with rising
    /// concurrency (x2 per step, from <paramref name="closedConcurrency"/> up to one sender per
    /// conversation) until the publish rate grows by less than 5 % twice in a row — a system whose sends get
    /// cheaper per message with more concurrency (group commit) is not judged at a fixed 32.
    /// Then 25/50/100 % of the best closed-loop rate, open loop.
    /// </summary>
    public async Task RunRowsAsync(string system, TimeSpan rowDuration, int closedConcurrency, Func<int, string, Task<bool>> publish)
    {
        var step = TimeSpan.FromSeconds(Math.Min(6, rowDuration.TotalSeconds));
        var max = 0.0;
        var flat = 0;
        for (var c = Math.Min(closedConcurrency, conversations); ; c = Math.Min(c * 2, conversations))
        {
            var (rate, closed) = await ClosedLoopAsync(system, c, step, publish);
            Console.WriteLine(closed);
            // Two steps in a row without 5 % growth end the ramp: on a shared machine one noisy
            // step must not stop it early (the same rule for both systems).
            flat = rate > max * 1.05 ? 0 : flat + 1;
            max = Math.Max(max, rate);
            if (flat >= 2 || c >= conversations) break;
        }
        foreach (var pct in new[] { 25, 50, 100 })
            Console.WriteLine(await OpenLoopAsync(system, $"{pct} %", max * pct / 100, rowDuration, publish));
    }

    public static string Get(string[] args, string name, string? fallback = null)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"missing {name}");
    }
}
