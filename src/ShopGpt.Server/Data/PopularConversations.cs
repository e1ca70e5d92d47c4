using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;
using ShopGpt.Server.Conversations;
using ShopGpt.Server.Http;

namespace ShopGpt.Server.Data;

/// <summary>One row of GET /api/conversations/popular.</summary>
public sealed record PopularConversation(Guid Id, string Title, long MessageCount, int Participants, DateTimeOffset LastActivityAt);

public sealed record PopularList(IReadOnlyList<PopularConversation> Items, DateTimeOffset? RefreshedAt);

/// <summary>
/// The popular_conversations materialized view (db/migrations/0600): refreshed CONCURRENTLY
/// (readers are never blocked: the new contents are diffed in) every
/// <see cref="DatabaseOptions.PopularRefreshSeconds"/> by exactly one instance (advisory lock).
/// </summary>
public sealed partial class PopularConversations(
    NpgsqlDataSource db, IOptions<DatabaseOptions> options, Caching.ShopCache cache, Caching.CachePolicies policies,
    ILogger<PopularConversations> log, ReplicaReads replicas) : BackgroundService
{
    public const string RefreshSql = "refresh materialized view concurrently popular_conversations";
    public const int MaxLimit = 100;

    // One cached entry (the top MaxLimit) serves every user and page size; a refresh drops it on
    // every instance (backplane), so readers see the new view at once and the view otherwise at
    // most Cache:PopularDuration late.
    private const string CacheKey = "popular";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.PopularRefreshSeconds));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RefreshAsync(stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                LogFailed(log, e.GetType().Name);
            }
        }
    }

    /// <summary>Refreshes the view unless another instance is doing it; true when this call refreshed.</summary>
    public async Task<bool> RefreshAsync(CancellationToken ct)
    {
        if (await MaintenanceLock.TryBeginAsync(db, MaintenanceLock.PopularRefresh, ct) is not var (conn, tx)) return false;
        await using var _ = conn;
        await using var __ = tx;
        var started = await MaintenanceLock.ServerNowAsync(conn, tx, ct);
        long rows;
        await using (var refresh = new NpgsqlCommand(RefreshSql, conn, tx) { CommandTimeout = 300 })
            await refresh.ExecuteNonQueryAsync(ct);
        await using (var count = new NpgsqlCommand("select count(*) from popular_conversations", conn, tx))
            rows = (long)(await count.ExecuteScalarAsync(ct))!;
        await MaintenanceLock.RecordAsync(conn, tx, "popular_refresh", started, rows, ct);
        await tx.CommitAsync(ct);
        await cache.InvalidateAsync(CacheKey, ct);
        return true;
    }

    /// <summary>The view's top rows, from the read standby when usable (a view refreshed every minute tolerates its lag).</summary>
    public Task<PopularList> TopAsync(int limit, CancellationToken ct) => replicas.LagTolerantAsync(from => TopAsync(from, limit, ct));

    private static async Task<PopularList> TopAsync(NpgsqlDataSource from, int limit, CancellationToken ct)
    {
        await using var conn = await from.OpenConnectionAsync(ct);
        await using var batch = new NpgsqlBatch(conn)
        {
            BatchCommands =
            {
                new("""
                    select conversation_id, title, message_count, participants, last_activity_at
                    from popular_conversations
                    order by message_count desc, last_activity_at desc, conversation_id
                    limit $1
                    """) { Parameters = { new() { Value = limit } } },
                new("select max(finished_at) from maintenance_runs where job = 'popular_refresh'"),
            },
        };
        var items = new List<PopularConversation>(limit);
        await using var r = await batch.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            items.Add(new(r.GetGuid(0), r.GetString(1), r.GetInt64(2), r.GetInt32(3), r.GetFieldValue<DateTimeOffset>(4)));
        await r.NextResultAsync(ct);
        DateTimeOffset? refreshed = await r.ReadAsync(ct) && !r.IsDBNull(0) ? r.GetFieldValue<DateTimeOffset>(0) : null;
        return new PopularList(items, refreshed);
    }

    /// <summary>GET /api/conversations/popular?limit=20 (mapped in ConversationEndpoints; "popular" never matches {id:guid}).</summary>
    /// <summary>The top <paramref name="limit"/> through the cache (read path: L1 → L2 → the view).</summary>
    public async Task<PopularList> CachedTopAsync(int limit, CancellationToken ct)
    {
        var all = await cache.GetOrSetAsync(CacheKey, c => TopAsync(MaxLimit, c), policies.Popular, ct);
        return all.Items.Count <= limit ? all : all with { Items = all.Items.Take(limit).ToList() };
    }

    internal static async Task<IResult> GetAsync(PopularConversations popular, string? limit, CancellationToken ct)
    {
        if (!Shared.QueryLimits.TryParse(limit, 20, MaxLimit, out var n, out var error)) return error!;
        return TypedResults.Ok(await popular.CachedTopAsync(n, ct));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refreshing popular_conversations failed ({ExceptionType}); will retry")]
    private static partial void LogFailed(ILogger logger, string exceptionType);
}

/// <summary>Deletes expired sessions in small batches (each its own short statement) under an advisory lock.</summary>
public sealed partial class SessionPurge(NpgsqlDataSource db, IOptions<DatabaseOptions> options, ILogger<SessionPurge> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(options.Value.SessionPurgeMinutes));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var purged = await PurgeAsync(stoppingToken);
                if (purged > 0) LogPurged(log, purged);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                LogFailed(log, e.GetType().Name);
            }
        }
    }

    /// <summary>Deletes every expired session, <see cref="DatabaseOptions.SessionPurgeBatch"/> rows per statement; -1 when skipped.</summary>
    public async Task<long> PurgeAsync(CancellationToken ct)
    {
        // The lock's transaction only records the run; each batch commits on its own connection
        // so no statement holds row locks (or bloats one transaction) for long.
        if (await MaintenanceLock.TryBeginAsync(db, MaintenanceLock.SessionPurge, ct) is not var (conn, tx)) return -1;
        await using var _ = conn;
        await using var __ = tx;
        var started = await MaintenanceLock.ServerNowAsync(conn, tx, ct);
        long total = 0;
        while (true)
        {
            // Keyed on the primary key (user_id, token_hash): Citus routes each delete by shard.
            await using var cmd = db.CreateCommand(
                """
                delete from sessions s using (
                    select user_id, token_hash from sessions where expires_at < now() limit $1) e
                where s.user_id = e.user_id and s.token_hash = e.token_hash
                """);
            cmd.Parameters.AddWithValue(options.Value.SessionPurgeBatch);
            var n = await cmd.ExecuteNonQueryAsync(ct);
            total += n;
            if (n < options.Value.SessionPurgeBatch) break;
        }
        await MaintenanceLock.RecordAsync(conn, tx, "session_purge", started, total, ct);
        await tx.CommitAsync(ct);
        return total;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Purged {Count} expired sessions")]
    private static partial void LogPurged(ILogger logger, long count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session purge failed ({ExceptionType}); will retry")]
    private static partial void LogFailed(ILogger logger, string exceptionType);
}
