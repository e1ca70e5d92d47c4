using System.ComponentModel.DataAnnotations;

namespace ShopGpt.Server.Caching;

/// <summary>Cache tuning (section "Cache"); defaults follow the scaling report section 3.</summary>
public sealed class CacheOptions
{
    /// <summary>Fraction of an entry's life after which a hit refreshes it in the background.</summary>
    [Range(0.5, 0.99)] public float EagerRefreshThreshold { get; set; } = 0.8f;

    /// <summary>XFetch β: larger refreshes earlier (Vattani et al., "Optimal probabilistic cache stampede prevention").</summary>
    [Range(0.0, 100.0)] public double XFetchBeta { get; set; } = 1.0;

    /// <summary>How long a stale value may still be served while the source (the database) fails.</summary>
    public TimeSpan FailSafeMaxDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>After a failed refresh, the stale value is reused this long before the source is tried again.</summary>
    public TimeSpan FailSafeThrottleDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A slow factory with a stale value to fall back on is abandoned (and completes in the background) after this.</summary>
    public TimeSpan FactorySoftTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A factory is abandoned after this even with nothing stale to serve.</summary>
    public TimeSpan FactoryHardTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Random extra lifetime so entries written together do not expire together.</summary>
    public TimeSpan JitterMaxDuration { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A Redis call that takes longer is given up (the request goes on from L1 or the database).</summary>
    public TimeSpan DistributedCacheHardTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>After a Redis error, L2 and the backplane are skipped this long instead of waiting on every request.</summary>
    public TimeSpan CircuitBreakerDuration { get; set; } = TimeSpan.FromSeconds(2);

    public TimeSpan SessionDuration { get; set; } = TimeSpan.FromSeconds(60);
    public TimeSpan ConversationListDuration { get; set; } = TimeSpan.FromMinutes(2);
    public TimeSpan ProductDuration { get; set; } = TimeSpan.FromMinutes(10);
    public TimeSpan ProductSearchDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Popular conversations: the materialized view refreshes on a schedule, so a minute of staleness costs nothing.</summary>
    public TimeSpan PopularDuration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Space-Saving counters per window half: fixed memory, error at most N / capacity per key.</summary>
    [Range(16, 1_000_000)] public int HotKeyCapacity { get; set; } = 512;

    /// <summary>Sliding window over which key accesses are counted (two rotating halves).</summary>
    public TimeSpan HotKeyWindow { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Accesses within the window above which a key is hot.</summary>
    [Range(1, int.MaxValue)] public int HotKeyThreshold { get; set; } = 200;

    /// <summary>TTL multiplier for hot keys (they also stay pinned in L1).</summary>
    [Range(1.0, 100.0)] public double HotKeyTtlBoost { get; set; } = 4.0;
}

/// <summary>Section "Admin": the token for admin endpoints; unset means the endpoints do not exist (404).</summary>
public sealed class AdminOptions
{
    public string? Token { get; set; }
}
