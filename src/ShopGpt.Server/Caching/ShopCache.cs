using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;

namespace ShopGpt.Server.Caching;

/// <summary>The Redis behind L2, if any; without it the cache is L1 only.</summary>
public sealed record CacheTopology(IConnectionMultiplexer? Redis, Data.RedisNames Names)
{
    public bool HasDistributed => Redis is not null;
}

/// <summary>
/// The one entry point for cached reads. FusionCache does the heavy lifting (L1 + Redis L2,
/// stampede protection with a per-instance memory lock and a Redis distributed lock, backplane,
/// fail-safe, timeouts, jitter, eager refresh at 80 %); this class adds what it lacks: the
/// XFetch early refresh (δ stored with each entry), hot-key tracking with TTL boost and L1
/// pinning, and the sensitive-entry rules for authorization data.
/// </summary>
public sealed partial class ShopCache
{
    private readonly IFusionCache cache;
    private readonly HotKeyTracker hotKeys;
    private readonly CacheMetrics metrics;
    private readonly CacheOptions options;
    private readonly CacheTopology topology;
    private readonly TimeProvider clock;
    private readonly ILogger<ShopCache> log;
    private readonly ConcurrentDictionary<string, byte> refreshing = new(StringComparer.Ordinal);

    public ShopCache(IFusionCache cache, HotKeyTracker hotKeys, CacheMetrics metrics, IOptions<CacheOptions> options,
        CacheTopology topology, TimeProvider clock, ILogger<ShopCache> log)
    {
        this.cache = cache;
        this.hotKeys = hotKeys;
        this.metrics = metrics;
        this.options = options.Value;
        this.topology = topology;
        this.clock = clock;
        this.log = log;
        metrics.Attach(cache);
    }

    /// <summary>Uniform draw in (0, 1] for XFetch; replaceable so tests can seed it.</summary>
    public Func<double> Random { get; set; } = () => 1.0 - System.Random.Shared.NextDouble();

    public HotKeyTracker HotKeys => hotKeys;

    /// <summary>
    /// The value for <paramref name="key"/>: from L1, else L2, else <paramref name="factory"/>
    /// run once across all instances (others wait for it and read its result).
    /// </summary>
    /// <param name="durationFor">Optional: a shorter lifetime for some values (e.g. a degraded answer), null for the policy's.</param>
    public async ValueTask<T> GetOrSetAsync<T>(string key, Func<CancellationToken, Task<T>> factory, CachePolicy policy, CancellationToken ct = default,
        Func<T, TimeSpan?>? durationFor = null)
    {
        var hot = false;
        if (!policy.Sensitive) hot = hotKeys.Record(key);
        var ran = false;
        var entry = await cache.GetOrSetAsync<Cached<T>>(key, async (ctx, token) =>
        {
            ran = true;
            var made = await ComputeAsync(factory, policy, hot, token);
            Adapt(ctx.Options, policy, hot);
            if (durationFor?.Invoke(made.Value) is { } shorter && shorter < ctx.Options.Duration)
            {
                ctx.Options.Duration = shorter;
                made = made with { ExpiresAtMs = (clock.GetUtcNow() + shorter).ToUnixTimeMilliseconds() };
            }
            return made;
        }, EntryOptions(policy, hot), ct);
        if (!ran && !policy.Sensitive) MaybeRefreshEarly(key, entry, factory, policy, hot);
        return entry.Value;
    }

    /// <summary>Drops the key everywhere: L1 here, L2, and (through the backplane) L1 on every other instance.</summary>
    public ValueTask RemoveAsync(string key, CancellationToken ct = default) =>
        cache.RemoveAsync(key, RedisDown ? RemoveWhileRedisDownOptions : RemoveOptions, ct);

    /// <summary>
    /// The multiplexer knows it has no connection (Redis stopped or unreachable): every Redis call
    /// would wait in its backlog until the command timeout, so the cache does not try.
    /// </summary>
    private bool RedisDown => topology.Redis is { IsConnected: false };

    /// <summary>
    /// Removal after a write to the source: removes now, and once more when any factory that
    /// read the old data before the write can no longer be running, i.e. at or after the key's
    /// LAST invalidation + hard timeout + 1 s, so a slow read that started before the write
    /// cannot leave the old value cached.
    /// </summary>
    public async ValueTask InvalidateAsync(string key, CancellationToken ct = default)
    {
        // Scheduled before the immediate removal, so even a failed one is followed by the late one.
        ScheduleDelayedRemoval(key);
        await RemoveAsync(key, ct);
    }

    /// <summary>
    /// Due time (clock ms) of the one pending late removal per key. A re-invalidation moves the
    /// due time later instead of adding a timer: a hot key invalidated 5×/s gets ONE late removal
    /// when it goes quiet, not 5 per second. That still bounds staleness: a stale value is stored
    /// by a factory that started before some invalidation and so finishes within the hard timeout
    /// of it; if another invalidation follows the store, its immediate removal drops the value,
    /// otherwise the store happened before the last invalidation + hard timeout and the final late
    /// removal drops it. Entries leave once due, so this holds only the keys invalidated in the
    /// last hard timeout + 1 s (+ one tick).
    /// </summary>
    private readonly ConcurrentDictionary<string, long> delayedRemovals = new(StringComparer.Ordinal);

    /// <summary>How often <see cref="RunDelayedRemovalsAsync"/> looks for due keys: late by at most this, cheap when idle.</summary>
    internal static readonly TimeSpan DelayedRemovalTick = TimeSpan.FromMilliseconds(250);

    // Removals sent at once per sweep: StackExchange.Redis pipelines them on the one connection,
    // one after the other would be a round trip each.
    private const int DelayedRemovalParallelism = 64;

    private void ScheduleDelayedRemoval(string key)
    {
        var due = (clock.GetUtcNow() + options.FactoryHardTimeout + TimeSpan.FromSeconds(1)).ToUnixTimeMilliseconds();
        // Max: a later due time never moves earlier (two racing invalidations keep the later one).
        delayedRemovals.AddOrUpdate(key, static (_, due) => due, static (_, old, due) => Math.Max(old, due), due);
    }

    /// <summary>
    /// Removes every key whose late removal is due now; returns how many. Called by
    /// <see cref="RunDelayedRemovalsAsync"/>; tests call it directly to sweep at a chosen clock time.
    /// </summary>
    internal async Task<int> RemoveDueAsync(CancellationToken ct = default)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var due = new List<string>();
        foreach (var entry in delayedRemovals)
        {
            // Only if the due time is unchanged: a re-invalidation since the read moved it later,
            // and that later removal (still in the dictionary) is the one that counts.
            if (entry.Value <= now && delayedRemovals.TryRemove(entry)) due.Add(entry.Key);
        }
        for (var i = 0; i < due.Count; i += DelayedRemovalParallelism)
        {
            var chunk = due.GetRange(i, Math.Min(DelayedRemovalParallelism, due.Count - i));
            await Task.WhenAll(chunk.Select(async key =>
            {
                try
                {
                    await RemoveAsync(key, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    // Not retried (it was not before either): FusionCache already queues L2 removals
                    // that fail for auto-recovery, so a throw here is rare; one key must not stop the rest.
                    LogDelayedRemoveFailed(log, e.GetType().Name, e);
                }
            }));
        }
        return due.Count;
    }

    /// <summary>
    /// The one loop behind every late removal (run by <see cref="DelayedRemovalService"/>): one
    /// timer for the whole instance instead of a Task.Delay per invalidation. Ends when
    /// <paramref name="stoppingToken"/> fires and never throws otherwise.
    /// </summary>
    internal async Task RunDelayedRemovalsAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(DelayedRemovalTick, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    if (!delayedRemovals.IsEmpty) await RemoveDueAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // Logged, never thrown: a BackgroundService that throws stops the whole host.
                    LogDelayedRemoveFailed(log, e.GetType().Name, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Deletes the key from Redis directly and throws if Redis cannot confirm it. FusionCache
    /// never throws for L2 (it queues the removal for auto-recovery), which is right for data but
    /// not for revocations: a removal that silently missed Redis would let the old entry be read
    /// again once Redis is back. Callers revoking access call this first and fail (503) if it throws.
    /// </summary>
    public async ValueTask RemoveFromDistributedOrThrowAsync(string key)
    {
        if (topology.Redis is { } redis) await redis.GetDatabase().KeyDeleteAsync(topology.Names.CacheEntry(key));
    }

    private static readonly FusionCacheEntryOptions RemoveOptions = new()
    {
        // Awaited, not background: when this returns, the next read on any instance misses L2.
        AllowBackgroundDistributedCacheOperations = false,
        AllowBackgroundBackplaneOperations = false,
    };

    // Still attempted (FusionCache's auto-recovery replays it when Redis is back), but not waited for.
    private static readonly FusionCacheEntryOptions RemoveWhileRedisDownOptions = new()
    {
        AllowBackgroundDistributedCacheOperations = true,
        AllowBackgroundBackplaneOperations = true,
    };

    private async Task<Cached<T>> ComputeAsync<T>(Func<CancellationToken, Task<T>> factory, CachePolicy policy, bool hot, CancellationToken ct)
    {
        metrics.FactoryRun();
        var started = Stopwatch.GetTimestamp();
        var value = await factory(ct);
        var computeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var expires = clock.GetUtcNow() + EffectiveDuration(policy, hot);
        return new Cached<T>(value, expires.ToUnixTimeMilliseconds(), computeMs);
    }

    private TimeSpan EffectiveDuration(CachePolicy policy, bool hot) =>
        hot ? policy.Duration * options.HotKeyTtlBoost : policy.Duration;

    private FusionCacheEntryOptions EntryOptions(CachePolicy policy, bool hot)
    {
        var o = new FusionCacheEntryOptions
        {
            Duration = EffectiveDuration(policy, hot),
            FactoryHardTimeout = options.FactoryHardTimeout,
            DistributedCacheHardTimeout = options.DistributedCacheHardTimeout,
            // The L2 write finishes before the distributed lock is released, so another instance
            // waiting on the lock finds the value in Redis instead of running the factory again.
            AllowBackgroundDistributedCacheOperations = false,
        };
        if (RedisDown)
        {
            // L1 and the database only until Redis is back (no backlog waits on every request).
            // Removals are still sent (see RemoveAsync), so nothing stale survives the outage in L2.
            o.SkipDistributedCacheRead = true;
            o.SkipDistributedCacheWrite = true;
            o.SkipDistributedLocker = true;
            o.SkipBackplaneNotifications = true;
        }
        if (policy.Sensitive)
        {
            // Authorization data: never stale, never early, and (with Redis) never from L1, so a
            // removal (logout) is seen by every instance on its next read. One Redis GET per
            // request still replaces one PostgreSQL query. A Redis failure is a miss: the DB decides.
            o.IsFailSafeEnabled = false;
            o.SkipMemoryCacheRead = topology.HasDistributed;
            o.SkipMemoryCacheWrite = topology.HasDistributed;
            o.SkipDistributedLocker = true;
            // A timed-out lookup must not finish later and cache what it read before a logout.
            o.AllowTimedOutFactoryBackgroundCompletion = false;
            return o;
        }
        o.IsFailSafeEnabled = policy.FailSafe;
        o.FailSafeMaxDuration = options.FailSafeMaxDuration;
        o.FailSafeThrottleDuration = options.FailSafeThrottleDuration;
        o.FactorySoftTimeout = options.FactorySoftTimeout;
        o.EagerRefreshThreshold = options.EagerRefreshThreshold;
        o.JitterMaxDuration = options.JitterMaxDuration;
        if (hot) o.Priority = CacheItemPriority.NeverRemove;
        return o;
    }

    private void Adapt(FusionCacheEntryOptions o, CachePolicy policy, bool hot)
    {
        o.Duration = EffectiveDuration(policy, hot);
        if (hot && !policy.Sensitive) o.Priority = CacheItemPriority.NeverRemove;
    }

    /// <summary>On a hit, XFetch may pick this request to refresh the key in the background (one per key here at a time).</summary>
    private void MaybeRefreshEarly<T>(string key, Cached<T> entry, Func<CancellationToken, Task<T>> factory, CachePolicy policy, bool hot)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (!XFetch.ShouldRefresh(now, entry.ExpiresAtMs, entry.ComputeMs, options.XFetchBeta, Random())) return;
        if (!refreshing.TryAdd(key, 0)) return;
        metrics.EarlyRefresh();
        _ = Task.Run(async () =>
        {
            try
            {
                // Through GetOrSet with reads skipped: the factory runs under FusionCache's per-key
                // memory and distributed locks, so it never overlaps an eager refresh or a miss.
                var o = EntryOptions(policy, hot);
                o.SkipMemoryCacheRead = true;
                o.SkipDistributedCacheRead = true;
                await cache.GetOrSetAsync<Cached<T>>(key, async (ctx, token) =>
                {
                    var made = await ComputeAsync(factory, policy, hot, token);
                    Adapt(ctx.Options, policy, hot);
                    return made;
                }, o);
            }
            catch (Exception e)
            {
                // The current value stays; the next hit may try again.
                LogEarlyRefreshFailed(log, e.GetType().Name, e);
            }
            finally
            {
                refreshing.TryRemove(key, out _);
            }
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delayed cache removal failed ({ErrorType})")]
    private static partial void LogDelayedRemoveFailed(ILogger logger, string errorType, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Early cache refresh failed ({ErrorType})")]
    private static partial void LogEarlyRefreshFailed(ILogger logger, string errorType, Exception e);
}

/// <summary>Runs <see cref="ShopCache"/>'s late-removal loop for the life of the app.</summary>
public sealed class DelayedRemovalService(ShopCache cache) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => cache.RunDelayedRemovalsAsync(stoppingToken);
}
