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

    /// <summary>Drop message partitions older than this many months (0 = keep everything, the default).</summary>
    [Range(0, 1200)] public int RetentionMonths { get; set; }

    [Range(1, 24 * 60)] public int PartitionMaintenanceMinutes { get; set; } = 60;

    /// <summary>How often one instance refreshes the popular_conversations view.</summary>
    [Range(1, 86_400)] public int PopularRefreshSeconds { get; set; } = 60;

    [Range(1, 24 * 60)] public int SessionPurgeMinutes { get; set; } = 10;

    /// <summary>Expired sessions deleted per statement: short transactions, no long locks.</summary>
    [Range(1, 100_000)] public int SessionPurgeBatch { get; set; } = 5000;

    /// <summary>How often the messages' GIN pending lists are merged off the send path (GinPendingListCleaner); 0 = never.</summary>
    [Range(0, 3600)] public int GinCleanSeconds { get; set; } = 1;
}

public static class DataSetup
{
    private static NpgsqlDataSourceBuilder Build(IServiceProvider sp, string connectionString, string poolSuffix = "")
    {
        var o = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<DatabaseOptions>>().Value;
        var csb = new NpgsqlConnectionStringBuilder(connectionString)
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
        if (string.IsNullOrEmpty(csb.ApplicationName)) csb.ApplicationName = "shopgpt" + poolSuffix;
        var dsb = new NpgsqlDataSourceBuilder(csb.ConnectionString);
        // A per-process name tags this pool's Npgsql metrics (DatabaseMetrics reads "used" of the
        // primary pool, the one without a suffix, for pool_in_use).
        dsb.Name = sp.GetRequiredService<DatabaseMetrics>().PoolName + poolSuffix;
        dsb.UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>());
        return dsb;
    }

    public static void AddData(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<DatabaseOptions>().BindConfiguration("Database").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<RedisOptions>().BindConfiguration("Redis").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(sp => new RedisNames(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<RedisOptions>>().Value.Prefix));
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(DataJsonContext.Default));

        var pg = builder.Configuration.GetConnectionString("Postgres")
            ?? throw new InvalidOperationException("ConnectionStrings:Postgres is not set (./shopgpt up sets it).");
        builder.Services.AddSingleton(sp => Build(sp, pg).Build());
        // The read standby (issue 16): the primary and the standby as one Npgsql multi-host data
        // source; ReplicaReads takes its prefer-standby and standby-only views.
        if (builder.Configuration.GetConnectionString("PostgresStandby") is { Length: > 0 } standby)
        {
            builder.Services.AddSingleton(sp =>
            {
                var p = new NpgsqlConnectionStringBuilder(pg);
                var s = new NpgsqlConnectionStringBuilder(standby);
                var both = new NpgsqlConnectionStringBuilder(pg)
                {
                    Host = $"{p.Host}:{p.Port},{s.Host}:{s.Port}",
                    // A host that refused a connection is skipped for this long, then tried again.
                    HostRecheckSeconds = 2,
                };
                return Build(sp, both.ConnectionString, "-reads").BuildMultiHost();
            });
        }
        builder.Services.AddOptions<ReplicaOptions>().BindConfiguration("Replica").ValidateDataAnnotations()
            .Validate(o => o.ReadYourWritesSeconds > o.MaxLagSeconds, "Replica:ReadYourWritesSeconds must be longer than Replica:MaxLagSeconds").ValidateOnStart();
        builder.Services.AddSingleton<ReplicaReads>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ReplicaReads>());
        builder.Services.AddSingleton<MigrationRunner>();
        builder.Services.AddSingleton<DatabaseMetrics>();
        builder.Services.AddSingleton<IStartupFilter, DatabaseMetrics.UnavailableCounting>();
        builder.Services.AddSingleton<PartitionMaintenance>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PartitionMaintenance>());
        builder.Services.AddSingleton<PopularConversations>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PopularConversations>());
        builder.Services.AddSingleton<SessionPurge>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SessionPurge>());
        builder.Services.AddSingleton<GinPendingListCleaner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<GinPendingListCleaner>());

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
