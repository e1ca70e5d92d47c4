using Npgsql;
using ShopGpt.Server.Data;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Observability;

[Collection(AppCollection.Name)]
public sealed class PlatformTests(AppFixture fx)
{
    [Fact]
    public async Task HealthAndReadinessAnswer()
    {
        using var client = fx.App.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        var ready = await client.GetFromJsonAsync<JsonElement>("/readyz");
        Assert.Equal("ready", ready.GetProperty("status").GetString());
    }

    [Fact]
    public async Task ReadinessNamesTheFailingPart()
    {
        // An instance pointed at a Redis port where nothing listens is alive but not ready.
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = "127.0.0.1:1" });
        using var client = app.Client();
        var res = await client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, res.StatusCode);
        var body = await res.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["redis"], body.GetProperty("failing").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task WebAppResponsesCarrySecurityHeaders()
    {
        using var client = fx.App.Client();
        var res = await client.GetAsync("/healthz");
        Assert.Contains("script-src 'self'", res.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("frame-ancestors 'none'", res.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", res.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task ConcurrentMigrationRunsOnAFreshDatabaseApplyEachMigrationOnce()
    {
        var name = $"mig_{Guid.NewGuid():N}";
        await using (var admin = new NpgsqlConnection(TestEnvironment.PostgresAdmin))
        {
            await admin.OpenAsync();
            await new NpgsqlCommand($"create database {name}", admin).ExecuteNonQueryAsync();
        }
        try
        {
            await using var ds = NpgsqlDataSource.Create(TestEnvironment.PostgresDatabase(name));
            var runners = Enumerable.Range(0, 4).Select(_ => new MigrationRunner(ds, Microsoft.Extensions.Logging.Abstractions.NullLogger<MigrationRunner>.Instance));
            await Task.WhenAll(runners.Select(r => r.RunAsync(CancellationToken.None)));

            var files = Directory.GetFiles(MigrationRunner.MigrationsDirectory, "*.sql").Length;
            await using var cmd = ds.CreateCommand("select count(*), count(distinct version) from schema_migrations");
            await using var r = await cmd.ExecuteReaderAsync();
            await r.ReadAsync();
            Assert.Equal(files, r.GetInt64(0));
            Assert.Equal(files, r.GetInt64(1));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(TestEnvironment.PostgresAdmin);
            await admin.OpenAsync();
            await new NpgsqlCommand($"drop database if exists {name} with (force)", admin).ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task MessagesOfEveryMonthHaveAPartitionAheadOfTime()
    {
        var maintenance = fx.App.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<PartitionMaintenance>().Single();
        var future = DateTime.UtcNow.AddMonths(7);
        await maintenance.EnsurePartitionsAsync(future, CancellationToken.None);
        await maintenance.EnsurePartitionsAsync(future, CancellationToken.None); // idempotent

        var ds = fx.App.Services.GetRequiredService<NpgsqlDataSource>();
        for (var i = 0; i <= PartitionMaintenance.MonthsAhead; i++)
        {
            await using var cmd = ds.CreateCommand("select to_regclass($1) is not null");
            cmd.Parameters.AddWithValue($"messages_{future.AddMonths(i):yyyy_MM}");
            Assert.True((bool)(await cmd.ExecuteScalarAsync())!);
        }
    }
}
