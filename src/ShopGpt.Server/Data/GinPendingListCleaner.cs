using Microsoft.Extensions.Options;
using Npgsql;

namespace ShopGpt.Server.Data;

/// <summary>
/// Merges the GIN pending lists of the messages partitions (the trigram index on message text)
/// every <see cref="DatabaseOptions.GinCleanSeconds"/>, off the send path. With fastupdate on,
/// an insert appends to the pending list, and the insert that takes it past
/// gin_pending_list_limit (4 MB) merges all of it inside its own transaction: in the fan-out
/// bench an INSERT of the group-commit batcher took 30-80 ms every ~3 s instead of ~1 ms, and
/// every send queued behind that batch waited with it (the p99). Cleaned every second here, the
/// list never reaches the limit under the bench's load, so no send pays for a merge. A smaller
/// limit was tried and is worse: each merge costs about the same whatever the list's size.
/// One instance cleans at a time (advisory lock; the others skip that tick).
/// </summary>
public sealed partial class GinPendingListCleaner(NpgsqlDataSource db, IOptions<DatabaseOptions> options, ILogger<GinPendingListCleaner> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.GinCleanSeconds == 0) return;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.GinCleanSeconds));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await CleanAsync(stoppingToken);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
                {
                    // The database is down or busy: the inserts merge by themselves meanwhile.
                    LogFailed(log, e.GetType().Name);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Merges every pending list now; returns the pending-list pages merged, or -1 if another instance holds the lock.</summary>
    public async Task<long> CleanAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            """
            with lock as (select pg_try_advisory_xact_lock(hashtext('shopgpt.gin_pending_list_clean')) as held)
            select case when (select held from lock) then coalesce((
                select sum(gin_clean_pending_list(c.oid::regclass))::bigint
                from pg_inherits h
                join pg_index i on i.indrelid = h.inhrelid
                join pg_class c on c.oid = i.indexrelid
                join pg_am a on a.oid = c.relam
                where h.inhparent = 'messages'::regclass and a.amname = 'gin'), 0) else -1 end::bigint
            """);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cleaning the GIN pending lists failed ({ExceptionType}); will retry")]
    private static partial void LogFailed(ILogger logger, string exceptionType);
}
