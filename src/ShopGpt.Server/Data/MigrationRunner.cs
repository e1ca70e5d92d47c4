using System.Globalization;
using Npgsql;

namespace ShopGpt.Server.Data;

/// <summary>
/// Applies db/migrations/NNNN_name.sql in order, each in its own transaction, recorded in
/// schema_migrations. A session advisory lock makes concurrent start-ups of several instances
/// take turns: the second one finds everything applied.
/// </summary>
public sealed partial class MigrationRunner(NpgsqlDataSource db, ILogger<MigrationRunner> log)
{
    private const long LockKey = 0x5_4090_0001; // arbitrary, fixed: "shopgpt migrations"

    public static string MigrationsDirectory => Path.Combine(AppContext.BaseDirectory, "migrations");

    public async Task RunAsync(CancellationToken ct)
    {
        var files = Directory.GetFiles(MigrationsDirectory, "*.sql")
            .Select(f => (Version: int.Parse(Path.GetFileName(f).Split('_')[0], CultureInfo.InvariantCulture), Path: f))
            .OrderBy(f => f.Version)
            .ToList();

        await using var conn = await OpenWithRetryAsync(ct);
        await using (var lockCmd = new NpgsqlCommand("select pg_advisory_lock($1)", conn))
        {
            lockCmd.Parameters.AddWithValue(LockKey);
            await lockCmd.ExecuteNonQueryAsync(ct);
        }
        try
        {
            await using (var create = new NpgsqlCommand(
                "create table if not exists schema_migrations (version int primary key, name text not null, applied_at timestamptz not null default now())", conn))
            {
                await create.ExecuteNonQueryAsync(ct);
            }
            var applied = new HashSet<int>();
            await using (var q = new NpgsqlCommand("select version from schema_migrations", conn))
            await using (var r = await q.ExecuteReaderAsync(ct))
            {
                while (await r.ReadAsync(ct)) applied.Add(r.GetInt32(0));
            }
            foreach (var (version, path) in files.Where(f => !applied.Contains(f.Version)))
            {
                var sql = await File.ReadAllTextAsync(path, ct);
                await using var tx = await conn.BeginTransactionAsync(ct);
                await using (var cmd = new NpgsqlCommand(sql, conn, tx)) await cmd.ExecuteNonQueryAsync(ct);
                await using (var rec = new NpgsqlCommand("insert into schema_migrations (version, name) values ($1, $2)", conn, tx))
                {
                    rec.Parameters.AddWithValue(version);
                    rec.Parameters.AddWithValue(Path.GetFileName(path));
                    await rec.ExecuteNonQueryAsync(ct);
                }
                await tx.CommitAsync(ct);
                LogApplied(log, Path.GetFileName(path));
            }
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("select pg_advisory_unlock($1)", conn);
            unlock.Parameters.AddWithValue(LockKey);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    // The database may still be starting when an instance starts (./shopgpt up, restarts in tests).
    private async Task<NpgsqlConnection> OpenWithRetryAsync(CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await db.OpenConnectionAsync(ct);
            }
            catch (NpgsqlException) when (attempt < 30)
            {
                LogWaiting(log, attempt);
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Name}")]
    private static partial void LogApplied(ILogger logger, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "PostgreSQL not reachable yet (attempt {Attempt}); retrying")]
    private static partial void LogWaiting(ILogger logger, int attempt);
}
