using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace ShopGpt.Server.Analytics;

/// <summary>
/// The analytics meter (docs/metrics.md): what the capture moved, how far the replication slot
/// and each consumer are behind. Tags: <c>consumer</c> (engagement | shopping) only.
/// </summary>
public sealed class AnalyticsMetrics
{
    private readonly Counter<long> captured;
    private readonly Counter<long> publishRetries;
    private readonly Counter<long> captureRestarts;
    private readonly Counter<long> applied;
    private readonly Counter<long> skipped;
    private readonly Histogram<double> endToEnd;
    private readonly ConcurrentDictionary<(string Consumer, int Partition), long> pending = new();
    private long slotLagBytes = -1;
    private int slotActive;
    private int leaseHeld;

    public AnalyticsMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("ShopGpt.Analytics");
        captured = meter.CreateCounter<long>("shopgpt.analytics.captured", "{event}", "Committed rows the capture appended to the event log");
        publishRetries = meter.CreateCounter<long>("shopgpt.analytics.publish_retries", "{attempt}", "Appends to the event log that failed and were retried");
        captureRestarts = meter.CreateCounter<long>("shopgpt.analytics.capture_restarts", "{restart}", "Times the capture reconnected and resumed from its confirmed LSN");
        applied = meter.CreateCounter<long>("shopgpt.analytics.applied", "{event}", "Events a consumer applied to its rollup");
        skipped = meter.CreateCounter<long>("shopgpt.analytics.skipped", "{event}", "Redelivered or re-captured events a consumer skipped (already applied)");
        endToEnd = meter.CreateHistogram<double>("shopgpt.analytics.end_to_end", "s", "Commit of a row to its rollup transaction's commit",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        meter.CreateObservableGauge<long>("shopgpt.analytics.slot_lag", SlotLag, "By",
            "WAL the replication slot holds back: pg_current_wal_lsn() - confirmed_flush_lsn");
        meter.CreateObservableGauge("shopgpt.analytics.slot_active", () => Volatile.Read(ref slotActive), null,
            "1 while a capture reads the replication slot");
        meter.CreateObservableGauge("shopgpt.analytics.lease_held", () => Volatile.Read(ref leaseHeld), null,
            "1 on the instance that holds the capture lease");
        meter.CreateObservableGauge("shopgpt.analytics.consumer_lag", ConsumerLag, "{event}",
            "Events in the log a consumer has not applied yet");
    }

    public void Captured(int n) => captured.Add(n);

    public void PublishRetried() => publishRetries.Add(1);

    public void CaptureRestarted() => captureRestarts.Add(1);

    public void Applied(string consumer, int n, int skippedCount)
    {
        if (n > 0) applied.Add(n, new KeyValuePair<string, object?>("consumer", consumer));
        if (skippedCount > 0) skipped.Add(skippedCount, new KeyValuePair<string, object?>("consumer", consumer));
    }

    public void EndToEnd(string consumer, double seconds) => endToEnd.Record(seconds, new KeyValuePair<string, object?>("consumer", consumer));

    public void Pending(string consumer, int partition, long events) => pending[(consumer, partition)] = events;

    public void SlotSampled(long lagBytes, bool active)
    {
        Volatile.Write(ref slotLagBytes, lagBytes);
        Volatile.Write(ref slotActive, active ? 1 : 0);
    }

    public void Lease(bool held) => Volatile.Write(ref leaseHeld, held ? 1 : 0);

    /// <summary>Current lag per consumer (summed over partitions), also for the dashboard.</summary>
    public IReadOnlyDictionary<string, long> LagByConsumer() =>
        pending.GroupBy(p => p.Key.Consumer).ToDictionary(g => g.Key, g => g.Sum(p => p.Value));

    public long SlotLagBytes => Volatile.Read(ref slotLagBytes);

    private IEnumerable<Measurement<long>> SlotLag()
    {
        // No slot (capture never ran): no series, rather than a misleading 0.
        var v = Volatile.Read(ref slotLagBytes);
        return v >= 0 ? [new Measurement<long>(v)] : [];
    }

    private IEnumerable<Measurement<long>> ConsumerLag() =>
        LagByConsumer().Select(p => new Measurement<long>(p.Value, new KeyValuePair<string, object?>("consumer", p.Key)));
}
