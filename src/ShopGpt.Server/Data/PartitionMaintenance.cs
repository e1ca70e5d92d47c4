using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;

namespace ShopGpt.Server.Data;

public sealed record PartitionRun(bool Ran, int Created, int Dropped, long RowsMoved, long DefaultRows);

/// <summary>
/// Keeps monthly message partitions created ahead (this month and the next three) so inserts
/// do not land in the default partition; moves rows that did land there into their month's
/// new partition; optionally drops months older than <see cref="DatabaseOptions.RetentionMonths"/>.
/// Runs at start and then every <see cref="DatabaseOptions.PartitionMaintenanceMinutes"/>; a
/// transaction advisory try-lock means one instance does the work while the others skip.
/// (pg_partman would do the same; an in-app job needs no extension on the server.)
/// </summary>
public sealed partial class PartitionMaintenance(
    NpgsqlDataSource db, IOptions<DatabaseOptions> options, DatabaseMetrics metrics, ILogger<PartitionMaintenance> log) : BackgroundService
{
    internal const int MonthsAhead = 3;

    // Counting is capped so the gauge's query stays cheap even if the default partition fills up.
    private const int DefaultRowsCap = 1_000_000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(options.Value.PartitionMaintenanceMinutes));
        do
        {
            try
            {
                await RunAsync(DateTime.UtcNow, stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                LogFailed(log, e.GetType().Name);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Creates the partitions for <paramref name="now"/>'s month and the next months; idempotent.</summary>
    public async Task<int> EnsurePartitionsAsync(DateTime now, CancellationToken ct) => (await RunAsync(now, ct)).Created;

    /// <summary>One maintenance pass; <c>Ran</c> is false when another instance holds the lock.</summary>
    public async Task<PartitionRun> RunAsync(DateTime now, CancellationToken ct)
    {
        try
        {
            var run = await RunLockedAsync(now, ct);
            metrics.MaintenanceRun(run.Ran ? "ok" : "skipped");
            return run;
        }
        catch
        {
            metrics.MaintenanceRun("failed");
            throw;
        }
    }

    private async Task<PartitionRun> RunLockedAsync(DateTime now, CancellationToken ct)
    {
        if (await MaintenanceLock.TryBeginAsync(db, MaintenanceLock.Partitions, ct) is not var (conn, tx))
        {
            await RefreshDefaultRowsAsync(ct);
            return new PartitionRun(false, 0, 0, 0, metrics.CachedDefaultPartitionRows);
        }
        await using var _ = conn;
        await using var __ = tx;
        var started = await MaintenanceLock.ServerNowAsync(conn, tx, ct);
        var thisMonth = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        var retention = options.Value.RetentionMonths;
        DateTime? cutoff = retention > 0 ? thisMonth.AddMonths(-retention) : null;

        // Months to have: this one and the next ones, plus any month that has rows stranded in the
        // default partition (a clock far ahead, an import of old data, a job that was down).
        var months = new SortedSet<DateTime>(Enumerable.Range(0, MonthsAhead + 1).Select(thisMonth.AddMonths));
        await using (var q = new NpgsqlCommand(
            "select distinct date_trunc('month', created_at at time zone 'UTC') from messages_default", conn, tx))
        await using (var r = await q.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct)) months.Add(DateTime.SpecifyKind(r.GetDateTime(0), DateTimeKind.Utc));
        }

        int created = 0, dropped = 0;
        long moved = 0;
        foreach (var from in months)
        {
            if (cutoff is { } c && from < c) continue;   // retention removes these rows below
            var (made, rows) = await EnsureMonthAsync(conn, tx, from, ct);
            if (made) created++;
            moved += rows;
        }
        if (cutoff is { } limit) dropped = await DropOlderThanAsync(conn, tx, limit, ct);

        long defaultRows;
        await using (var count = new NpgsqlCommand($"select count(*) from (select 1 from messages_default limit {DefaultRowsCap}) d", conn, tx))
            defaultRows = (long)(await count.ExecuteScalarAsync(ct))!;
        metrics.DefaultPartitionRows(defaultRows);

        if (created + dropped > 0 || moved > 0)
            await MaintenanceLock.RecordAsync(conn, tx, "partitions", started, created + dropped + moved, ct);
        await tx.CommitAsync(ct);
        if (created > 0 || dropped > 0 || moved > 0) LogChanged(log, created, moved, dropped);
        if (defaultRows > 0) LogDefaultRows(log, defaultRows);
        return new PartitionRun(true, created, dropped, moved, defaultRows);
    }

    internal static string PartitionName(DateTime month) => $"messages_{month.ToString("yyyy_MM", CultureInfo.InvariantCulture)}";

    private static string Literal(DateTime d) => $"'{d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)} 00:00:00+00'";

    /// <summary>
    /// Creates one month's partition. If rows for that month already sit in the default
    /// partition, CREATE ... PARTITION OF would fail (the default's constraint would be
    /// violated), so the table is built standalone, the rows are moved into it and it is
    /// attached, all in the one transaction: readers see the rows in the default, then in the month.
    /// </summary>
    private static async Task<(bool Created, long Moved)> EnsureMonthAsync(NpgsqlConnection conn, NpgsqlTransaction tx, DateTime from, CancellationToken ct)
    {
        var name = PartitionName(from);
        await using (var exists = new NpgsqlCommand("select to_regclass($1) is not null", conn, tx))
        {
            exists.Parameters.AddWithValue(name);
            if ((bool)(await exists.ExecuteScalarAsync(ct))!) return (false, 0);
        }
        // Identifiers cannot be parameters; the name and bounds are built from a date only.
        string lo = Literal(from), hi = Literal(from.AddMonths(1));
        bool stranded;
        await using (var any = new NpgsqlCommand($"select exists (select 1 from messages_default where created_at >= {lo} and created_at < {hi})", conn, tx))
            stranded = (bool)(await any.ExecuteScalarAsync(ct))!;
        if (!stranded)
        {
            await using var create = new NpgsqlCommand($"create table {name} partition of messages for values from ({lo}) to ({hi})", conn, tx);
            await create.ExecuteNonQueryAsync(ct);
            return (true, 0);
        }
        await using var move = new NpgsqlCommand(
            $"""
            lock table messages_default in access exclusive mode;
            create table {name} (like messages including defaults including constraints);
            alter table {name} add constraint {name}_range check (created_at >= {lo} and created_at < {hi});
            with moved as (delete from messages_default where created_at >= {lo} and created_at < {hi} returning *)
            insert into {name} select * from moved;
            alter table messages attach partition {name} for values from ({lo}) to ({hi});
            alter table {name} drop constraint {name}_range;
            """, conn, tx);
        // The batch reports the INSERT's count among the statements' rows.
        await using var reader = await move.ExecuteReaderAsync(ct);
        await reader.CloseAsync();
        return (true, reader.RecordsAffected);
    }

    private static async Task<int> DropOlderThanAsync(NpgsqlConnection conn, NpgsqlTransaction tx, DateTime cutoff, CancellationToken ct)
    {
        var old = new List<string>();
        await using (var q = new NpgsqlCommand(
            """
            select c.relname from pg_inherits i
            join pg_class c on c.oid = i.inhrelid
            where i.inhparent = 'messages'::regclass and c.relname ~ '^messages_[0-9]{4}_[0-9]{2}$'
            """, conn, tx))
        await using (var r = await q.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                var relname = r.GetString(0);
                var month = DateTime.ParseExact(relname["messages_".Length..], "yyyy_MM", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
                if (month < cutoff) old.Add(relname);
            }
        }
        foreach (var name in old)
        {
            // Detach first: dropping a detached table does not lock the parent for the drop itself.
            await using var drop = new NpgsqlCommand($"alter table messages detach partition {name}; drop table {name}", conn, tx);
            await drop.ExecuteNonQueryAsync(ct);
        }
        await using (var stale = new NpgsqlCommand($"delete from messages_default where created_at < {Literal(cutoff)}", conn, tx))
            await stale.ExecuteNonQueryAsync(ct);
        return old.Count;
    }

    private async Task RefreshDefaultRowsAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"select count(*) from (select 1 from messages_default limit {DefaultRowsCap}) d");
        metrics.DefaultPartitionRows((long)(await cmd.ExecuteScalarAsync(ct))!);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Partition maintenance: created {Created} partitions, moved {Moved} rows out of the default partition, dropped {Dropped} old partitions")]
    private static partial void LogChanged(ILogger logger, int created, long moved, int dropped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Rows} message rows are in the default partition (no partition for their month)")]
    private static partial void LogDefaultRows(ILogger logger, long rows);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Partition maintenance failed ({ExceptionType}); will retry")]
    private static partial void LogFailed(ILogger logger, string exceptionType);
}
