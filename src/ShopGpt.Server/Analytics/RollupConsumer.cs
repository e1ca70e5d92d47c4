using Microsoft.Extensions.Options;
using Npgsql;

namespace ShopGpt.Server.Analytics;

/// <summary>
/// Runs one rollup over one partition of the log with effectively-once results: each batch is
/// applied in one PostgreSQL transaction that also moves the consumer's stored position, after
/// checking (row locked) that the stored position is still the one this reader started from.
/// So a crash loses at most an uncommitted batch (read again after restart), a redelivery is
/// skipped by position, and two readers of the same rollup (a second instance, a replay) never
/// both count a batch: the one that finds the position moved re-reads from the stored one.
/// </summary>
public sealed partial class RollupConsumer(NpgsqlDataSource db, IEventLog log, IOptions<AnalyticsOptions> options, AnalyticsMetrics metrics,
    ILogger<RollupConsumer> logger)
{
    private sealed record Position(long StreamSeq, long Lsn, int Index);

    /// <summary>Consumes until cancelled; with <paramref name="untilCaughtUp"/>, returns once a read finds nothing left (replay).</summary>
    public async Task RunAsync(IRollup rollup, int partition, bool untilCaughtUp, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var at = await LoadAsync(rollup.Name, partition, ct);
                await using var reader = log.OpenReader(partition, at.StreamSeq);
                while (true)
                {
                    var batch = await reader.ReadAsync(options.Value.ConsumerBatch, untilCaughtUp ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(5), ct);
                    if (batch.Count == 0)
                    {
                        metrics.Pending(rollup.Name, partition, 0);
                        if (untilCaughtUp) return;
                        continue;
                    }
                    var next = await ApplyAsync(rollup, partition, at, batch, ct);
                    if (next is null) break;   // the stored position moved under us: re-read from it
                    at = next;
                    metrics.Pending(rollup.Name, partition, batch[^1].Pending);
                    if (untilCaughtUp && batch[^1].Pending == 0) return;
                }
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                LogConsumerFailed(logger, rollup.Name, partition, ex.GetType().Name, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    private async Task<Position> LoadAsync(string consumer, int partition, CancellationToken ct)
    {
        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(EngagementRollup.Command("insert into analytics_positions (consumer, partition) values ($1, $2) on conflict do nothing", consumer, partition));
        batch.BatchCommands.Add(EngagementRollup.Command(
            "select stream_seq, capture_lsn, capture_idx from analytics_positions where consumer = $1 and partition = $2", consumer, partition));
        // The insert returns no result set: the reader starts at the select's.
        await using var r = await batch.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return new Position(r.GetInt64(0), r.GetInt64(1), r.GetInt32(2));
    }

    private async Task<Position?> ApplyAsync(IRollup rollup, int partition, Position at, IReadOnlyList<LoggedEvent> batch, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        Position stored;
        await using (var lockCmd = new NpgsqlCommand(
            "select stream_seq, capture_lsn, capture_idx from analytics_positions where consumer = $1 and partition = $2 for update", conn, tx))
        {
            lockCmd.Parameters.AddWithValue(rollup.Name);
            lockCmd.Parameters.AddWithValue(partition);
            await using var r = await lockCmd.ExecuteReaderAsync(ct);
            if (!await r.ReadAsync(ct)) return null;
            stored = new Position(r.GetInt64(0), r.GetInt64(1), r.GetInt32(2));
        }
        if (stored.StreamSeq != at.StreamSeq) return null;

        // Skip what is at or before the stored capture position: the same row captured twice
        // (after a crash, past the log's duplicate window) sits at a later stream sequence.
        var fresh = new List<ChangeEvent>(batch.Count);
        var (lsn, idx) = (stored.Lsn, stored.Index);
        foreach (var le in batch)
        {
            var e = le.Event;
            if (e.Lsn < lsn || (e.Lsn == lsn && e.Index <= idx)) continue;
            fresh.Add(e);
            (lsn, idx) = (e.Lsn, e.Index);
        }
        if (fresh.Count > 0) await rollup.ApplyAsync(conn, tx, fresh, ct);
        var next = new Position(batch[^1].StreamSeq, lsn, idx);
        await using (var move = new NpgsqlCommand(
            "update analytics_positions set stream_seq = $3, capture_lsn = $4, capture_idx = $5, updated_at = now() where consumer = $1 and partition = $2", conn, tx))
        {
            move.Parameters.AddWithValue(rollup.Name);
            move.Parameters.AddWithValue(partition);
            move.Parameters.AddWithValue(next.StreamSeq);
            move.Parameters.AddWithValue(next.Lsn);
            move.Parameters.AddWithValue(next.Index);
            await move.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        metrics.Applied(rollup.Name, fresh.Count, batch.Count - fresh.Count);
        var now = DateTimeOffset.UtcNow;
        foreach (var e in fresh) metrics.EndToEnd(rollup.Name, Math.Max(0, (now - e.At).TotalSeconds));
        return next;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Analytics consumer {Consumer} partition {Partition} failed ({Error}: {Detail}); restarting from its stored position")]
    private static partial void LogConsumerFailed(ILogger logger, string consumer, int partition, string error, string detail);
}
