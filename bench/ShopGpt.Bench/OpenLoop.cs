using System.Diagnostics;
using HdrHistogram;

namespace ShopGpt.Bench;

public sealed record RateResult(string Name, double TargetRate, double AchievedRate, long Ok, long Errors, LongHistogram Latency)
{
    private double Ms(double p) => Latency.GetValueAtPercentile(p) / (double)TimeSpan.TicksPerMillisecond;

    public string Row() =>
        $"| {Name} | {TargetRate:0} | {AchievedRate:0} | {Ok} | {Errors} | {Ms(50):0.00} | {Ms(95):0.00} | {Ms(99):0.00} | {Latency.GetMaxValue() / (double)TimeSpan.TicksPerMillisecond:0.00} |";

    public const string Header =
        "| scenario | target req/s | achieved req/s | ok | errors | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|---|";
}

/// <summary>
/// Open-loop load at a fixed rate: requests start on schedule whether or not earlier ones
/// finished, and latency is measured from the scheduled start, so a stall shows up in the
/// percentiles instead of silently lowering the rate (coordinated omission).
/// </summary>
public static class OpenLoop
{
    public static async Task<RateResult> RunAsync(string name, double rate, TimeSpan duration, Func<long, Task<bool>> request, int maxInFlight = 2000)
    {
        var hist = new LongHistogram(TimeSpan.TicksPerSecond * 60, 3);
        long ok = 0, errors = 0, issued = 0;
        var inFlight = new SemaphoreSlim(maxInFlight);
        var tasks = new List<Task>();
        var sw = Stopwatch.StartNew();
        var interval = TimeSpan.FromSeconds(1 / rate);
        var total = (long)(rate * duration.TotalSeconds);
        for (long i = 0; i < total; i++)
        {
            var due = interval * i;
            var wait = due - sw.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait);
            else if (wait > TimeSpan.Zero) Thread.SpinWait(50);
            if (!inFlight.Wait(0))
            {
                Interlocked.Increment(ref errors); // over the in-flight bound: counted as failed, never silently skipped
                continue;
            }
            var n = i;
            var scheduled = due;
            issued++;
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    var success = await request(n);
                    var latency = sw.Elapsed - scheduled;
                    lock (hist) hist.RecordValue(Math.Max(1, latency.Ticks));
                    if (success) Interlocked.Increment(ref ok); else Interlocked.Increment(ref errors);
                }
                catch
                {
                    Interlocked.Increment(ref errors);
                }
                finally
                {
                    inFlight.Release();
                }
            }));
        }
        await Task.WhenAll(tasks);
        return new RateResult(name, rate, issued / sw.Elapsed.TotalSeconds, ok, errors, hist);
    }
}
