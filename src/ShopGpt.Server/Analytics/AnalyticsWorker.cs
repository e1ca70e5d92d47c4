using Microsoft.Extensions.Options;
using Npgsql;

namespace ShopGpt.Server.Analytics;

/// <summary>
/// Runs the capture and the consumers on the one instance that holds the analytics lease: a
/// session advisory lock on a dedicated (unpooled) connection, which PostgreSQL releases the
/// moment that instance's connection ends, SIGKILL included. Every instance samples the slot's lag.
/// A lost lease connection cancels the work at once; the replication slot itself admits one
/// reader at a time, so even a capture that has not yet noticed cannot run beside its successor.
/// </summary>
public sealed partial class AnalyticsWorker(IOptions<AnalyticsOptions> options, NpgsqlDataSource db, IEventLog log, ChangeCapture capture,
    RollupConsumer consumer, IEnumerable<IRollup> rollups, AnalyticsMetrics metrics, ILogger<AnalyticsWorker> logger) : BackgroundService
{
    private readonly AnalyticsOptions o = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sampler = SampleSlotAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var lease = await TryLeaseAsync(stoppingToken);
                if (lease is null)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                    continue;
                }
                metrics.Lease(true);
                LogLeaseAcquired(logger);
                using var held = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                var work = new List<Task> { CaptureLoopAsync(held.Token) };
                foreach (var r in rollups)
                    for (var p = 0; p < log.Partitions; p++) work.Add(consumer.RunAsync(r, p, untilCaughtUp: false, held.Token));
                await WatchLeaseAsync(lease, held.Token);
                await held.CancelAsync();
                await Task.WhenAll(work.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
                if (!stoppingToken.IsCancellationRequested) LogLeaseLost(logger);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogWorkerFailed(logger, ex.GetType().Name, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
            finally
            {
                metrics.Lease(false);
            }
        }
        await sampler.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private async Task<NpgsqlConnection?> TryLeaseAsync(CancellationToken ct)
    {
        var csb = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Pooling = false, ApplicationName = "shopgpt-analytics-lease", KeepAlive = 5 };
        var conn = new NpgsqlConnection(csb.ConnectionString);
        try
        {
            await conn.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand("select pg_try_advisory_lock($1)", conn);
            cmd.Parameters.AddWithValue(o.LeaseKey);
            if (await cmd.ExecuteScalarAsync(ct) is true) return conn;
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            LogWorkerFailed(logger, ex.GetType().Name, ex.Message);
        }
        await conn.DisposeAsync();
        return null;
    }

    /// <summary>Returns when the lease connection fails or on shutdown.</summary>
    private static async Task WatchLeaseAsync(NpgsqlConnection lease, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
                await using var cmd = new NpgsqlCommand("select 1", lease);
                await cmd.ExecuteScalarAsync(ct);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or NpgsqlException or TimeoutException or InvalidOperationException)
        {
        }
    }

    private async Task CaptureLoopAsync(CancellationToken ct)
    {
        var first = true;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (!first) metrics.CaptureRestarted();
                first = false;
                await log.EnsureAsync(ct);
                await capture.RunAsync(ct);
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                LogCaptureFailed(logger, ex.GetType().Name, ex.Message);
                try { await Task.Delay(TimeSpan.FromSeconds(1), ct); }
                catch (OperationCanceledException) { return; }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task SampleSlotAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var cmd = db.CreateCommand(
                    "select coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint, active from pg_replication_slots where slot_name = $1");
                cmd.Parameters.AddWithValue(o.Slot);
                await using var r = await cmd.ExecuteReaderAsync(ct);
                if (await r.ReadAsync(ct)) metrics.SlotSampled(r.GetInt64(0), r.GetBoolean(1));
                else metrics.SlotSampled(-1, false);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try { await Task.Delay(o.SlotSampleInterval, ct); }
            catch (OperationCanceledException) { return; }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "This instance holds the analytics lease: capturing and consuming")]
    private static partial void LogLeaseAcquired(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The analytics lease connection was lost; capture and consumers stopped")]
    private static partial void LogLeaseLost(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Change capture failed ({Error}: {Detail}); resuming from the slot's confirmed LSN")]
    private static partial void LogCaptureFailed(ILogger logger, string error, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Analytics worker failed ({Error}: {Detail})")]
    private static partial void LogWorkerFailed(ILogger logger, string error, string detail);
}
