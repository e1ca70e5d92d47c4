using System.ComponentModel.DataAnnotations;
using Npgsql;
using StackExchange.Redis;

namespace ShopGpt.Server.Data;

public sealed class DatabaseOptions
{
    // Defaults from issue 2: a pool of 100 with 25 kept warm; tests lower them.
    [Range(1, 1000)] public int MaxPoolSize { get; set; } = 100;
    [Range(0, 1000)] public int MinPoolSize { get; set; } = 25;

    /// <summary>Seconds to wait for a pooled connection; short so pool exhaustion is a fast 503, not a hung request.</summary>
    [Range(1, 60)] public int ConnectionTimeoutSeconds { get; set; } = 3;

    [Range(1, 600)] public int CommandTimeoutSeconds { get; set; } = 15;

    /// <summary>Statements Npgsql prepares automatically once used twice (0 turns auto-prepare off).</summary>
    [Range(0, 1000)] public int MaxAutoPrepare { get; set; } = 100;
}

public static class DataSetup
{
    public static void AddData(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<DatabaseOptions>().BindConfiguration("Database").ValidateDataAnnotations().ValidateOnStart();

        var pg = builder.Configuration.GetConnectionString("Postgres")
            ?? throw new InvalidOperationException("ConnectionStrings:Postgres is not set (./shopgpt up sets it).");
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<DatabaseOptions>>().Value;
            var csb = new NpgsqlConnectionStringBuilder(pg)
            {
                MaxPoolSize = o.MaxPoolSize,
                MinPoolSize = Math.Min(o.MinPoolSize, o.MaxPoolSize),
                Timeout = o.ConnectionTimeoutSeconds,
                CommandTimeout = o.CommandTimeoutSeconds,
                MaxAutoPrepare = o.MaxAutoPrepare,
                AutoPrepareMinUsages = 2,
                // Fail fast when the server is gone instead of letting a dead socket hang a request.
                KeepAlive = 10,
                CancellationTimeout = 2000,
            };
            if (string.IsNullOrEmpty(csb.ApplicationName)) csb.ApplicationName = "shopgpt";
            var dsb = new NpgsqlDataSourceBuilder(csb.ConnectionString)
            {
                // Npgsql labels its pool metrics with this name; the default is the connection string.
                Name = "shopgpt",
            };
            dsb.UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>());
            return dsb.Build();
        });
        builder.Services.AddSingleton<MigrationRunner>();
        builder.Services.AddHostedService<PartitionMaintenance>();

        // Redis is optional for a single instance: with no connection string, in-memory stand-ins serve.
        var redis = builder.Configuration.GetConnectionString("Redis");
        if (!string.IsNullOrWhiteSpace(redis))
        {
            builder.Services.AddSingleton<IConnectionMultiplexer>(_ =>
            {
                var cfg = ConfigurationOptions.Parse(redis);
                cfg.AbortOnConnectFail = false;   // start (and keep serving) while Redis is down
                cfg.ConnectTimeout = 2000;
                cfg.SyncTimeout = 2000;
                cfg.AsyncTimeout = 2000;
                cfg.ReconnectRetryPolicy = new ExponentialRetry(250, 2000);
                return ConnectionMultiplexer.Connect(cfg);
            });
        }
    }
}
