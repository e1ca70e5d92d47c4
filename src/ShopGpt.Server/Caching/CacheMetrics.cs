using System.Diagnostics.Metrics;
using ZiggyCreatures.Caching.Fusion;

namespace ShopGpt.Server.Caching;

/// <summary>
/// The shopgpt.cache.* instruments of docs/metrics.md, fed from FusionCache's events plus the
/// factory runs and XFetch refreshes that <see cref="ShopCache"/> does itself. No tags carry
/// keys: the only tag is the cache level.
/// </summary>
public sealed class CacheMetrics
{
    private static readonly KeyValuePair<string, object?> L1 = new("level", "l1");
    private static readonly KeyValuePair<string, object?> L2 = new("level", "l2");
    private readonly Counter<long> hits;
    private readonly Counter<long> misses;
    private readonly Counter<long> staleServed;
    private readonly Counter<long> factoryRuns;
    private readonly Counter<long> evictions;
    private readonly Counter<long> earlyRefreshes;
    private long hitCount;
    private long missCount;

    public CacheMetrics(IMeterFactory meters, HotKeyTracker hotKeys)
    {
        var meter = meters.Create("ShopGpt.Caching");
        hits = meter.CreateCounter<long>("shopgpt.cache.hits", "{hit}", "Cache hits by level");
        misses = meter.CreateCounter<long>("shopgpt.cache.misses", "{miss}", "Lookups found in no level");
        staleServed = meter.CreateCounter<long>("shopgpt.cache.stale_served", "{hit}", "Stale values served because the source failed (fail-safe)");
        factoryRuns = meter.CreateCounter<long>("shopgpt.cache.factory_runs", "{run}", "Values computed from the source");
        evictions = meter.CreateCounter<long>("shopgpt.cache.evictions", "{entry}", "L1 entries evicted or expired");
        earlyRefreshes = meter.CreateCounter<long>("shopgpt.cache.early_refreshes", "{refresh}", "Background refreshes before expiry (eager and XFetch)");
        meter.CreateObservableGauge("shopgpt.cache.hit_ratio", () => HitRatio, "1", "Hits / (hits + misses) since start");
        meter.CreateObservableGauge("shopgpt.cache.hot_keys", hotKeys.HotCount, "{key}", "Keys above the hot threshold in the window");
    }

    public long FactoryRunCount => Interlocked.Read(ref factoryRunCount);
    private long factoryRunCount;

    public double HitRatio
    {
        get
        {
            var h = Interlocked.Read(ref hitCount);
            var total = h + Interlocked.Read(ref missCount);
            return total == 0 ? 0 : (double)h / total;
        }
    }

    /// <summary>Subscribes to one FusionCache instance's events.</summary>
    public void Attach(IFusionCache cache)
    {
        cache.Events.Hit += (_, e) => Interlocked.Increment(ref hitCount);
        cache.Events.Miss += (_, _) =>
        {
            Interlocked.Increment(ref missCount);
            misses.Add(1);
        };
        cache.Events.Memory.Hit += (_, e) => { if (!e.IsStale) hits.Add(1, L1); };
        cache.Events.Distributed.Hit += (_, e) => { if (!e.IsStale) hits.Add(1, L2); };
        cache.Events.FailSafeActivate += (_, _) => staleServed.Add(1);
        cache.Events.EagerRefresh += (_, _) => earlyRefreshes.Add(1);
        cache.Events.Memory.Eviction += (_, _) => evictions.Add(1);
    }

    public void FactoryRun()
    {
        Interlocked.Increment(ref factoryRunCount);
        factoryRuns.Add(1);
    }

    public void EarlyRefresh() => earlyRefreshes.Add(1);
}
