using Npgsql;

namespace ShopGpt.Server.Analytics;

/// <summary>
/// <c>./shopgpt analytics replay [consumer...]</c>: empties a rollup and its positions in one
/// transaction, then rebuilds it from the start of what the log retains. A running instance's
/// consumer of the same rollup notices that its stored position moved and continues from there,
/// so both together still count every event once.
/// </summary>
public sealed class RollupReplay(NpgsqlDataSource db, IEventLog log, RollupConsumer consumer, IEnumerable<IRollup> rollups)
{
    public async Task<int> RunAsync(IReadOnlyCollection<string> names, TextWriter output, CancellationToken ct)
    {
        var chosen = rollups.Where(r => names.Count == 0 || names.Contains(r.Name)).ToList();
        var unknown = names.Except(rollups.Select(r => r.Name)).ToList();
        if (unknown.Count > 0)
        {
            await output.WriteLineAsync($"unknown consumer(s): {string.Join(", ", unknown)}; known: {string.Join(", ", rollups.Select(r => r.Name))}");
            return 2;
        }
        foreach (var r in chosen)
        {
            await ResetAsync(r, ct);
            var started = DateTime.UtcNow;
            await Task.WhenAll(Enumerable.Range(0, log.Partitions).Select(p => consumer.RunAsync(r, p, untilCaughtUp: true, ct)));
            await output.WriteLineAsync($"replayed {r.Name} from the start of the log in {(DateTime.UtcNow - started).TotalSeconds:F1}s");
        }
        return 0;
    }

    public async Task ResetAsync(IRollup rollup, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using var batch = new NpgsqlBatch(conn, tx);
        // Positions first (row locks): a live consumer's next batch waits, then sees the reset.
        batch.BatchCommands.Add(EngagementRollup.Command(
            "update analytics_positions set stream_seq = 0, capture_lsn = 0, capture_idx = 0, updated_at = now() where consumer = $1", rollup.Name));
        foreach (var t in rollup.Tables) batch.BatchCommands.Add(new NpgsqlBatchCommand($"delete from {t}"));
        await batch.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }
}
