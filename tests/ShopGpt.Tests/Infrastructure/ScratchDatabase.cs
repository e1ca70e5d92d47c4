using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using ShopGpt.Server.Data;

namespace ShopGpt.Tests.Infrastructure;

/// <summary>
/// A fresh database on the test server with every migration applied, for tests that drop
/// partitions, count whole tables or need a planner-friendly seeded table without touching the
/// shared test database other suites use in parallel.
/// </summary>
public sealed class ScratchDatabase : IAsyncDisposable
{
    private ScratchDatabase(string name, NpgsqlDataSource db)
    {
        Name = name;
        Db = db;
    }

    public string Name { get; }

    public NpgsqlDataSource Db { get; }

    public string ConnectionString => TestEnvironment.PostgresDatabase(Name);

    public static async Task<ScratchDatabase> CreateAsync()
    {
        var name = $"scratch_{Guid.NewGuid():N}";
        await using (var admin = new NpgsqlConnection(TestEnvironment.PostgresAdmin))
        {
            await admin.OpenAsync();
            await new NpgsqlCommand($"create database {name}", admin).ExecuteNonQueryAsync();
        }
        var db = NpgsqlDataSource.Create(TestEnvironment.PostgresDatabase(name));
        await new MigrationRunner(db, NullLogger<MigrationRunner>.Instance).RunAsync(CancellationToken.None);
        return new ScratchDatabase(name, db);
    }

    public static DatabaseMetrics Metrics(DatabaseOptions? o = null)
    {
        var sp = new ServiceCollection().AddMetrics().BuildServiceProvider();
        return new DatabaseMetrics(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), Options.Create(o ?? new DatabaseOptions()));
    }

    public PartitionMaintenance Partitions(DatabaseOptions? o = null, NpgsqlDataSource? db = null) =>
        new(db ?? Db, Options.Create(o ?? new DatabaseOptions()), Metrics(o), NullLogger<PartitionMaintenance>.Instance);

    public async Task<T> ScalarAsync<T>(string sql, params object[] args)
    {
        await using var cmd = Db.CreateCommand(sql);
        foreach (var a in args) cmd.Parameters.AddWithValue(a);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    public async Task ExecAsync(string sql, params object[] args)
    {
        await using var cmd = Db.CreateCommand(sql);
        foreach (var a in args) cmd.Parameters.AddWithValue(a);
        await cmd.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Db.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(TestEnvironment.PostgresAdmin);
        await admin.OpenAsync();
        await new NpgsqlCommand($"drop database if exists {Name} with (force)", admin).ExecuteNonQueryAsync();
    }
}
