using Npgsql;

namespace ShopGpt.Server.Data;

/// <summary>
/// "Exactly one instance does this job now": a transaction-scoped advisory try-lock, so a
/// crashed instance never leaves the lock behind (it goes with the connection) and the
/// others simply skip. A run that did work is recorded in maintenance_runs before commit,
/// i.e. while the lock is still held.
/// </summary>
public static class MaintenanceLock
{
    // Fixed, arbitrary keys in the 0x5_4090_xxxx family (0001 migrations, 0002 partitions).
    public const long Partitions = 0x5_4090_0002;
    public const long PopularRefresh = 0x5_4090_0003;
    public const long SessionPurge = 0x5_4090_0004;

    /// <summary>Identifies this process in maintenance_runs (host + pid + a per-process nonce).</summary>
    public static readonly string Instance = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>Opens a transaction and tries the lock; null when another instance holds it.</summary>
    public static async Task<(NpgsqlConnection Conn, NpgsqlTransaction Tx)?> TryBeginAsync(NpgsqlDataSource db, long key, CancellationToken ct)
    {
        var conn = await db.OpenConnectionAsync(ct);
        try
        {
            var tx = await conn.BeginTransactionAsync(ct);
            await using var l = new NpgsqlCommand("select pg_try_advisory_xact_lock($1)", conn, tx);
            l.Parameters.AddWithValue(key);
            if ((bool)(await l.ExecuteScalarAsync(ct))!) return (conn, tx);
            await tx.DisposeAsync();
            await conn.DisposeAsync();
            return null;
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
    }

    /// <summary>Records a run inside the locked transaction (so runs of one job never overlap in the table).</summary>
    public static async Task RecordAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string job, DateTimeOffset startedAt, long rows, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "insert into maintenance_runs (job, instance, started_at, finished_at, rows) values ($1, $2, $3, clock_timestamp(), $4)", conn, tx);
        cmd.Parameters.AddWithValue(job);
        cmd.Parameters.AddWithValue(Instance);
        cmd.Parameters.AddWithValue(startedAt);
        cmd.Parameters.AddWithValue(rows);
        await cmd.ExecuteNonQueryAsync(ct);
        // Keep the audit small: a week of history is plenty to see who ran what.
        await using var trim = new NpgsqlCommand("delete from maintenance_runs where job = $1 and started_at < now() - interval '7 days'", conn, tx);
        trim.Parameters.AddWithValue(job);
        await trim.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The server's clock_timestamp(): run intervals compared in the audit all come from one clock.</summary>
    public static async Task<DateTimeOffset> ServerNowAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("select clock_timestamp()", conn, tx);
        return new DateTimeOffset((DateTime)(await cmd.ExecuteScalarAsync(ct))!);
    }
}
