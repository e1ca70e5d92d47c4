using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace ShopGpt.Server.Analytics;

/// <summary>
/// Reads committed rows of the publication's tables from the replication slot (pgoutput,
/// Npgsql's logical replication API) and appends them to the event log. Nothing reaches the
/// log that was not committed (decoding only emits committed transactions), and nothing
/// committed is skipped: the slot's confirmed LSN moves past a transaction only after the log
/// acknowledged every event of it, so a crash resumes there and re-publishes at most the
/// unconfirmed tail, which the log drops as duplicates of the same capture position.
/// </summary>
public sealed partial class ChangeCapture(IOptions<AnalyticsOptions> options, NpgsqlDataSource db, IEventLog log, AnalyticsMetrics metrics,
    ILogger<ChangeCapture> logger)
{
    private readonly AnalyticsOptions o = options.Value;

    /// <summary>Streams until cancelled or until the connection or the log fails (the caller restarts it).</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        await EnsureSlotAsync(ct);
        var csb = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Pooling = false, ApplicationName = "shopgpt-capture" };
        await using var conn = new LogicalReplicationConnection(csb.ConnectionString);
        await conn.Open(ct);
        var slot = new PgOutputReplicationSlot(o.Slot);
        var rows = new List<ChangeEvent>();
        var sinceStatus = Stopwatch.StartNew();
        LogCaptureStarted(logger, o.Slot);
        // No start LSN: the server resumes at the slot's confirmed_flush_lsn.
        await foreach (var m in conn.StartReplication(slot, new PgOutputReplicationOptions(o.Publication, PgOutputProtocolVersion.V1), ct))
        {
            switch (m)
            {
                case BeginMessage:
                    rows.Clear();
                    break;
                case InsertMessage ins:
                    if (await ReadAsync(ins.Relation.RelationName, ins.NewRow, ct) is { } e) rows.Add(e);
                    break;
                case CommitMessage c:
                    if (rows.Count > 0)
                    {
                        var lsn = unchecked((long)(ulong)c.CommitLsn);
                        var events = rows.Select((e, i) => e with { Lsn = lsn, Index = i }).ToList();
                        await PublishAsync(events, ct);
                        metrics.Captured(events.Count);
                    }
                    conn.SetReplicationStatus(c.TransactionEndLsn);
                    // Confirm promptly after a published transaction (bounds what a crash re-sends), at most ~10/s.
                    if (rows.Count > 0 && sinceStatus.ElapsedMilliseconds >= 100 || sinceStatus.ElapsedMilliseconds >= 1000)
                    {
                        await conn.SendStatusUpdate(ct);
                        sinceStatus.Restart();
                    }
                    rows.Clear();
                    break;
            }
        }
    }

    /// <summary>Creates the slot on first use. Rows committed before it existed are not captured (docs/analytics.md).</summary>
    private async Task EnsureSlotAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "select pg_create_logical_replication_slot($1, 'pgoutput') where not exists (select 1 from pg_replication_slots where slot_name = $1)");
        cmd.Parameters.AddWithValue(o.Slot);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Partitions in parallel, each partition's events one after another: a retried append never
    /// lands behind a later event of the same user, so per-user order holds in the log.
    /// </summary>
    private async Task PublishAsync(List<ChangeEvent> events, CancellationToken ct)
    {
        var byPartition = events.GroupBy(e => EventPartitioner.PartitionOf(e.UserId, log.Partitions));
        await Task.WhenAll(byPartition.Select(async p =>
        {
            foreach (var e in p) await AppendWithRetryAsync(e, ct);
        }));
    }

    private async Task AppendWithRetryAsync(ChangeEvent e, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        var backoff = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            try
            {
                await log.AppendAsync(e, ct);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                if (deadline.Elapsed > o.PublishTimeout) throw;
                metrics.PublishRetried();
                LogAppendRetry(logger, ex.GetType().Name, ex.Message);
                await Task.Delay(backoff, ct);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 1000));
            }
        }
    }

    /// <summary>One inserted row as an event (Lsn and Index are set at commit); null for a table this capture does not report.</summary>
    private static async Task<ChangeEvent?> ReadAsync(string table, ReplicationTuple tuple, CancellationToken ct)
    {
        var row = new Dictionary<string, string?>(StringComparer.Ordinal);
        // Every value must be consumed, in order, before the next message is read.
        await foreach (var v in tuple)
            row[v.GetFieldName()] = v.IsDBNull || v.IsUnchangedToastedValue ? null : await v.Get<string>(ct);
        return table switch
        {
            "messages" => MessageEvent(row),
            "conversations" => new ChangeEvent(EventKinds.Conversation, 0, 0, Time(row["created_at"]), Guid.Parse(row["user_id"]!),
                ConversationId: Guid.Parse(row["conversation_id"]!)),
            "users" => new ChangeEvent(EventKinds.SignUp, 0, 0, Time(row["created_at"]), Guid.Parse(row["user_id"]!), Guest: row["is_guest"] == "t"),
            "product_opens" => new ChangeEvent(EventKinds.ProductOpened, 0, 0, Time(row["opened_at"]), Guid.Parse(row["user_id"]!), ProductId: row["product_id"]),
            _ => null,
        };
    }

    private static ChangeEvent MessageEvent(Dictionary<string, string?> row)
    {
        var role = row["role"]!;
        var text = row["text"] ?? "";
        var products = ProductIds(row["products"]);
        return new ChangeEvent(EventKinds.Message, 0, 0, Time(row["created_at"]), Guid.Parse(row["user_id"]!),
            ConversationId: Guid.Parse(row["conversation_id"]!),
            Seq: long.Parse(row["seq"]!, CultureInfo.InvariantCulture),
            MessageId: Guid.Parse(row["message_id"]!),
            Role: role,
            Status: row["status"],
            Products: products.Count > 0 ? products : null,
            // A comparison answer is the one with a table over two or more products (Assistant/CatalogResponder).
            Compared: role == "assistant" && products.Count >= 2 && text.Contains("\n|", StringComparison.Ordinal),
            Query: role == "user" ? (text.Length > ChangeEvent.MaxQueryLength ? text[..ChangeEvent.MaxQueryLength] : text) : null);
    }

    private static List<string> ProductIds(string? json)
    {
        var ids = new List<string>();
        if (string.IsNullOrEmpty(json)) return ids;
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.ValueKind != JsonValueKind.Array) return ids;
        foreach (var p in doc.RootElement.EnumerateArray())
            if (p.ValueKind == JsonValueKind.Object && p.TryGetProperty("id", out var id) && id.GetString() is { Length: > 0 } s) ids.Add(s);
        return ids;
    }

    /// <summary>timestamptz in pgoutput's text form ("2026-12-01 22:31:28.123456+00").</summary>
    private static DateTimeOffset Time(string? text) =>
        DateTimeOffset.Parse(text!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUniversalTime();

    [LoggerMessage(Level = LogLevel.Information, Message = "Change capture streaming from slot {Slot}")]
    private static partial void LogCaptureStarted(ILogger logger, string slot);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Appending to the event log failed ({Error}: {Detail}); retrying")]
    private static partial void LogAppendRetry(ILogger logger, string error, string detail);
}
