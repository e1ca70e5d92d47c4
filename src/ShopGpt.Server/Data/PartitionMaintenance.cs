using Npgsql;

namespace ShopGpt.Server.Data;

/// <summary>
/// Keeps monthly message partitions created ahead (this month and the next three) so no
/// insert ever lands in the default partition. Runs at start and then twice a day; an
/// advisory try-lock means one instance does the work while the others skip.
/// </summary>
public sealed partial class PartitionMaintenance(NpgsqlDataSource db, ILogger<PartitionMaintenance> log) : BackgroundService
{
    private const long LockKey = 0x5_4090_0002;
    internal const int MonthsAhead = 3;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(12));
        do
        {
            try
            {
                await EnsurePartitionsAsync(DateTime.UtcNow, stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                LogFailed(log, e.GetType().Name);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Creates the partitions for <paramref name="now"/>'s month and the next months; idempotent.</summary>
    public async Task<int> EnsurePartitionsAsync(DateTime now, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var l = new NpgsqlCommand("select pg_try_advisory_xact_lock($1)", conn, tx))
        {
            l.Parameters.AddWithValue(LockKey);
            if (!(bool)(await l.ExecuteScalarAsync(ct))!) return 0;
        }
        var created = 0;
        var month = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i <= MonthsAhead; i++)
        {
            var from = month.AddMonths(i);
            var name = $"messages_{from:yyyy_MM}";
            await using var exists = new NpgsqlCommand("select to_regclass($1) is not null", conn, tx);
            exists.Parameters.AddWithValue(name);
            if ((bool)(await exists.ExecuteScalarAsync(ct))!) continue;
            // Identifiers cannot be parameters; the name is built from a date only.
            await using var create = new NpgsqlCommand(
                $"create table if not exists {name} partition of messages for values from ('{from:yyyy-MM-dd}') to ('{from.AddMonths(1):yyyy-MM-dd}')",
                conn, tx);
            await create.ExecuteNonQueryAsync(ct);
            created++;
        }
        await tx.CommitAsync(ct);
        if (created > 0) LogCreated(log, created);
        return created;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created {Count} message partitions")]
    private static partial void LogCreated(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Partition maintenance failed ({ExceptionType}); will retry")]
    private static partial void LogFailed(ILogger logger, string exceptionType);
}
