using Microsoft.Extensions.Options;
using ShopGpt.Server.Data;
using StackExchange.Redis;

namespace ShopGpt.Server.Realtime;

public readonly record struct Lease(Guid UserId, string Member);

/// <summary>Per-user connection slots shared by all instances (Redis) or by one (memory).</summary>
public interface ILeaseStore
{
    /// <summary>Takes a slot; when the user has <paramref name="max"/> already, returns the seconds until one may free up.</summary>
    Task<(bool Acquired, int RetryAfterSeconds)> TryAcquireAsync(Lease lease, int max, int leaseSeconds);

    Task ReleaseAsync(Lease lease);

    /// <summary>The owning instance's heartbeat: pushes every live lease's expiry forward.</summary>
    Task RefreshAsync(IReadOnlyList<Lease> leases, int leaseSeconds);
}

/// <summary>
/// A sorted set per user, member = instance:connection, score = expiry (Redis server time, so
/// instance clocks don't matter). A lease that stops being refreshed (its instance died)
/// expires by itself and is pruned by the next acquire: no stale slots after a crash.
/// </summary>
public sealed class RedisLeaseStore(IConnectionMultiplexer redis, RedisNames names) : ILeaseStore
{
    // Prune expired, check the count, add: one script, so two instances can't both take the last slot.
    private const string AcquireScript =
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ttl = tonumber(ARGV[2])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
          local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
          return math.max(1, tonumber(first[2]) - now)
        end
        redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
        if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
        return 0
        """;

    // Plain ZADD (not XX): a lease pruned during a long pause is restored by the next heartbeat.
    private const string RefreshScript =
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ttl = tonumber(ARGV[1])
        for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
        if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
        return 0
        """;

    public async Task<(bool Acquired, int RetryAfterSeconds)> TryAcquireAsync(Lease lease, int max, int leaseSeconds)
    {
        var r = (long)await redis.GetDatabase().ScriptEvaluateAsync(AcquireScript, [Key(lease.UserId)], [max, leaseSeconds * 1000L, lease.Member]);
        return r == 0 ? (true, 0) : (false, (int)Math.Clamp((r + 999) / 1000, 1, leaseSeconds));
    }

    public Task ReleaseAsync(Lease lease) => redis.GetDatabase().SortedSetRemoveAsync(Key(lease.UserId), lease.Member);

    public async Task RefreshAsync(IReadOnlyList<Lease> leases, int leaseSeconds)
    {
        var db = redis.GetDatabase();
        var calls = new List<Task>();
        foreach (var g in leases.GroupBy(l => l.UserId))
        {
            RedisValue[] args = [leaseSeconds * 1000L, .. g.Select(l => (RedisValue)l.Member)];
            calls.Add(db.ScriptEvaluateAsync(RefreshScript, [Key(g.Key)], args));
        }
        await Task.WhenAll(calls);
    }

    private RedisKey Key(Guid userId) => names.ConnectionLeases(userId);
}

/// <summary>Slots for a single instance without Redis: nothing can crash away from under it.</summary>
public sealed class MemoryLeaseStore : ILeaseStore
{
    private readonly Dictionary<Guid, HashSet<string>> byUser = [];

    public Task<(bool Acquired, int RetryAfterSeconds)> TryAcquireAsync(Lease lease, int max, int leaseSeconds)
    {
        lock (byUser)
        {
            if (!byUser.TryGetValue(lease.UserId, out var set)) byUser[lease.UserId] = set = [];
            if (set.Count >= max) return Task.FromResult((false, 1));
            set.Add(lease.Member);
            return Task.FromResult((true, 0));
        }
    }

    public Task ReleaseAsync(Lease lease)
    {
        lock (byUser)
        {
            if (byUser.TryGetValue(lease.UserId, out var set) && set.Remove(lease.Member) && set.Count == 0) byUser.Remove(lease.UserId);
        }
        return Task.CompletedTask;
    }

    public Task RefreshAsync(IReadOnlyList<Lease> leases, int leaseSeconds) => Task.CompletedTask;
}

/// <summary>The per-user connection limit (API.md: 429 + Retry-After) on top of a lease store.</summary>
public sealed partial class ConnectionLimiter(ILeaseStore store, IOptions<RealtimeOptions> options, ILogger<ConnectionLimiter> log)
{
    private volatile bool frozen;

    public Task<(bool Acquired, int RetryAfterSeconds)> TryAcquireAsync(Lease lease) =>
        store.TryAcquireAsync(lease, options.Value.MaxConnectionsPerUser, options.Value.LeaseSeconds);

    public async Task ReleaseAsync(Lease lease)
    {
        if (frozen) return;
        try
        {
            await store.ReleaseAsync(lease);
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e))
        {
            // The lease expires on its own when the heartbeat stops refreshing it.
            LogReleaseFailed(log, e.GetType().Name);
        }
    }

    public async Task RefreshAsync(IReadOnlyList<Lease> leases)
    {
        if (frozen || leases.Count == 0) return;
        try
        {
            await store.RefreshAsync(leases, options.Value.LeaseSeconds);
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e))
        {
            LogRefreshFailed(log, leases.Count, e.GetType().Name);
        }
    }

    /// <summary>
    /// Test hook that plays a crashed process: no more heartbeats and no releases, so this
    /// instance's leases can only disappear by expiring.
    /// </summary>
    internal void SimulateCrash() => frozen = true;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Releasing a connection lease failed ({ExceptionType}); it will expire")]
    private static partial void LogReleaseFailed(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refreshing {Count} connection leases failed ({ExceptionType})")]
    private static partial void LogRefreshFailed(ILogger logger, int count, string exceptionType);
}
