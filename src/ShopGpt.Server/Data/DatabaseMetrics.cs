using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;

namespace ShopGpt.Server.Data;

/// <summary>
/// The ShopGpt.Database meter (docs/metrics.md). Gauges read cached values or in-process state
/// only: a scrape never queries PostgreSQL.
/// </summary>
public sealed class DatabaseMetrics : IDisposable
{
    private readonly Counter<long> maintenanceRuns;
    private readonly Counter<long> unavailable;
    private readonly Counter<long> replicaReads;
    private readonly Meter meter;
    private readonly MeterListener npgsqlListener = new();
    private long defaultPartitionRows;
    private long poolInUse;

    /// <summary>The data source's name: unique per data source so several in one process (tests) are told apart.</summary>
    public string PoolName { get; } = "shopgpt-" + Guid.NewGuid().ToString("N")[..8];

    public DatabaseMetrics(IMeterFactory meters, IOptions<DatabaseOptions> options)
    {
        meter = meters.Create("ShopGpt.Database");
        maintenanceRuns = meter.CreateCounter<long>("shopgpt.database.partition_maintenance_runs", "{run}",
            "Partition maintenance runs by result (ok, skipped: another instance holds the lock, failed)");
        unavailable = meter.CreateCounter<long>("shopgpt.database.unavailable", "{request}",
            "Requests answered 503 because PostgreSQL was down or the pool exhausted");
        meter.CreateObservableGauge("shopgpt.database.default_partition_rows", () => Interlocked.Read(ref defaultPartitionRows), "{row}",
            "Rows in messages_default (should be 0: a month without a partition); refreshed by the maintenance job");
        replicaReads = meter.CreateCounter<long>("shopgpt.database.replica_reads", "{read}",
            "Routed reads by where they went: standby, or primary and why (own_write, standby_failed, uncertain, plain: standby unusable)");
        var max = options.Value.MaxPoolSize;
        meter.CreateObservableGauge("shopgpt.database.pool_max", () => max, "{connection}", "Configured Max Pool Size");
        meter.CreateObservableGauge("shopgpt.database.pool_in_use", ReadPoolInUse, "{connection}", "Pooled connections currently handed out");

        // Npgsql publishes its pool state as observable instruments on its own "Npgsql" meter
        // (db.client.connection.count{db.client.connection.state=used|idle}); we listen and sum "used".
        npgsqlListener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Npgsql" && instrument.Name == "db.client.connection.count") l.EnableMeasurementEvents(instrument);
        };
        npgsqlListener.SetMeasurementEventCallback<int>((_, value, tags, _) => AddIfUsed(value, tags));
        npgsqlListener.SetMeasurementEventCallback<long>((_, value, tags, _) => AddIfUsed(value, tags));
        npgsqlListener.Start();
    }

    public void MaintenanceRun(string result) => maintenanceRuns.Add(1, new KeyValuePair<string, object?>("result", result));

    public void DefaultPartitionRows(long rows) => Interlocked.Exchange(ref defaultPartitionRows, rows);

    public long CachedDefaultPartitionRows => Interlocked.Read(ref defaultPartitionRows);

    public void Unavailable() => unavailable.Add(1);

    /// <summary>Where a routed read went (ReplicaReads); the tag is one of a few fixed values.</summary>
    public void ReplicaRead(string target) => replicaReads.Add(1, new KeyValuePair<string, object?>("target", target));

    /// <summary>Gauges of the standby, from ReplicaReads's last sample (a scrape never queries PostgreSQL).</summary>
    internal void ObserveReplica(Func<StandbyState> sample, bool configured)
    {
        if (!configured) return;
        meter.CreateObservableGauge("shopgpt.database.replica_up", () => sample().Up ? 1 : 0, "{standby}",
            "1 while the read standby answers its sampler, else 0");
        meter.CreateObservableGauge("shopgpt.database.replica_lag", () => sample() is { Up: true } s ? [new Measurement<double>(s.LagSeconds)] : Array.Empty<Measurement<double>>(), "s",
            "Seconds the standby's newest replayed commit is behind while it has WAL to replay (0 when caught up; absent while it is down)");
        meter.CreateObservableGauge("shopgpt.database.replica_lag_bytes", () => sample() is { Up: true } s ? s.LagBytes : 0L, "By",
            "Bytes of WAL the primary has written that the standby has not replayed");
    }

    internal long ReadPoolInUse()
    {
        lock (npgsqlListener)
        {
            poolInUse = 0;
            npgsqlListener.RecordObservableInstruments();
            return poolInUse;
        }
    }

    // Matched on values, not tag keys: the state key was renamed across Npgsql versions; our pool
    // is the one whose pool-name tag carries PoolName.
    private void AddIfUsed(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        bool ours = false, used = false;
        foreach (var t in tags)
        {
            if (t.Value is not string v) continue;
            if (v == PoolName) ours = true;
            else if (v == "used" && t.Key.EndsWith("state", StringComparison.Ordinal)) used = true;
        }
        if (ours && used) poolInUse += value;
    }

    public void Dispose() => npgsqlListener.Dispose();

    /// <summary>
    /// Counts requests that ended as 503 because of PostgreSQL: the outermost middleware sees the
    /// exception the exception handler recorded, so Http/ needs no change.
    /// </summary>
    internal sealed class UnavailableCounting(DatabaseMetrics metrics) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (ctx, nextMiddleware) =>
            {
                await nextMiddleware(ctx);
                if (ctx.Response.StatusCode == StatusCodes.Status503ServiceUnavailable
                    && ctx.Features.Get<IExceptionHandlerFeature>()?.Error is { } e
                    && (e is NpgsqlException || e.InnerException is NpgsqlException))
                    metrics.Unavailable();
            });
            next(app);
        };
    }
}
