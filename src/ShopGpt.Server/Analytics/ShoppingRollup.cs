using System.Text;
using Npgsql;

namespace ShopGpt.Server.Analytics;

/// <summary>
/// Shopping: how often each product was recommended (in an assistant answer), compared (an
/// answer with a comparison table) and opened (the web app's report); and what the catalog
/// lacks: a user's query whose answer, complete, recommended no product. The query waits in
/// analytics_pending_queries until its conversation's answer arrives; both are in the same
/// partition (one user), so the answer always comes after its query.
/// </summary>
public sealed class ShoppingRollup : IRollup
{
    public const string ConsumerName = "shopping";

    public string Name => ConsumerName;

    public IReadOnlyList<string> Tables { get; } = ["analytics_products", "analytics_pending_queries", "analytics_no_match"];

    public async Task ApplyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<ChangeEvent> events, CancellationToken ct)
    {
        var answered = events.Where(e => e.Kind == EventKinds.Message && e.Role == "assistant").Select(e => e.ConversationId!.Value).Distinct().ToArray();
        // Pending queries from earlier batches; null marks "resolved in this batch" (deleted at the end).
        var pending = new Dictionary<Guid, string?>();
        if (answered.Length > 0)
        {
            await using var read = new NpgsqlCommand("select conversation_id, query from analytics_pending_queries where conversation_id = any($1)", conn, tx);
            read.Parameters.Add(new NpgsqlParameter { Value = answered });
            await using var r = await read.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) pending[r.GetGuid(0)] = r.GetString(1);
        }

        var products = new Dictionary<(string Id, string Kind), long>();
        var noMatch = new Dictionary<string, (long Count, DateTimeOffset Last)>(StringComparer.Ordinal);
        void Count(string id, string kind) => products[(id, kind)] = products.GetValueOrDefault((id, kind)) + 1;

        foreach (var e in events)
        {
            switch (e.Kind)
            {
                case EventKinds.Message when e.Role == "user":
                    if (Normalise(e.Query) is { } q) pending[e.ConversationId!.Value] = q;
                    break;
                case EventKinds.Message:
                    var cid = e.ConversationId!.Value;
                    foreach (var id in e.Products ?? [])
                    {
                        Count(id, "recommended");
                        if (e.Compared) Count(id, "compared");
                    }
                    if (e.Products is not { Count: > 0 } && e.Status == "complete" && pending.GetValueOrDefault(cid) is { } query)
                        noMatch[query] = (noMatch.GetValueOrDefault(query).Count + 1, e.At);
                    if (pending.ContainsKey(cid)) pending[cid] = null;
                    break;
                case EventKinds.ProductOpened when e.ProductId is { } pid:
                    Count(pid, "opened");
                    break;
            }
        }

        await using var batch = new NpgsqlBatch(conn, tx);
        if (products.Count > 0)
            batch.BatchCommands.Add(EngagementRollup.Command(
                "insert into analytics_products (product_id, kind, value) select * from unnest($1::text[], $2::text[], $3::bigint[]) " +
                "on conflict (product_id, kind) do update set value = analytics_products.value + excluded.value",
                products.Keys.Select(k => k.Id).ToArray(), products.Keys.Select(k => k.Kind).ToArray(), products.Values.ToArray()));
        if (noMatch.Count > 0)
            batch.BatchCommands.Add(EngagementRollup.Command(
                "insert into analytics_no_match (query, value, last_at) select * from unnest($1::text[], $2::bigint[], $3::timestamptz[]) " +
                "on conflict (query) do update set value = analytics_no_match.value + excluded.value, last_at = greatest(analytics_no_match.last_at, excluded.last_at)",
                noMatch.Keys.ToArray(), noMatch.Values.Select(v => v.Count).ToArray(), noMatch.Values.Select(v => v.Last.UtcDateTime).ToArray()));
        var resolved = pending.Where(p => p.Value is null).Select(p => p.Key).ToArray();
        if (resolved.Length > 0)
            batch.BatchCommands.Add(EngagementRollup.Command("delete from analytics_pending_queries where conversation_id = any($1)", resolved));
        var waiting = pending.Where(p => p.Value is not null).ToArray();
        if (waiting.Length > 0)
            batch.BatchCommands.Add(EngagementRollup.Command(
                "insert into analytics_pending_queries (conversation_id, query) select * from unnest($1::uuid[], $2::text[]) " +
                "on conflict (conversation_id) do update set query = excluded.query",
                waiting.Select(p => p.Key).ToArray(), waiting.Select(p => p.Value!).ToArray()));
        if (batch.BatchCommands.Count > 0) await batch.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Lower case, single spaces, trimmed: "Waterproof  Hiking Boots " and "waterproof hiking boots" are one query.</summary>
    internal static string? Normalise(string? query)
    {
        if (string.IsNullOrWhiteSpace(query)) return null;
        var sb = new StringBuilder(query.Length);
        foreach (var part in query.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            if (sb.Length > 0) sb.Append(' ');
            sb.Append(part.ToLowerInvariant());
        }
        return sb.Length > ChangeEvent.MaxQueryLength ? sb.ToString(0, ChangeEvent.MaxQueryLength) : sb.ToString();
    }
}
