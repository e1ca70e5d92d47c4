using System.ComponentModel.DataAnnotations;
using Npgsql;

namespace ShopGpt.Server.Shortlist;

public sealed class ShortlistOptions
{
    /// <summary>Saved products per user: a shortlist is for deciding, and a bound keeps the panel and its frame small.</summary>
    [Range(1, 1000)] public int MaxItems { get; set; } = 100;
}

public enum SaveResult
{
    Added,
    AlreadySaved,
    Full,
}

/// <summary>
/// The shortlist table. Every statement names the user in its key (Citus routes it to one
/// shard; another user's rows are simply not found).
/// </summary>
public sealed class ShortlistStore(NpgsqlDataSource db)
{
    public async Task<List<(string ProductId, DateTimeOffset AddedAt)>> ListAsync(Guid userId, int limit, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "select product_id, added_at from shortlist_items where user_id = $1 order by added_at desc, product_id limit $2");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(limit);
        var list = new List<(string, DateTimeOffset)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add((r.GetString(0), r.GetFieldValue<DateTimeOffset>(1)));
        return list;
    }

    /// <summary>
    /// Saves once (a repeat answers the first save's time). The user's row is locked so two
    /// concurrent saves cannot both pass the size check.
    /// </summary>
    public async Task<(SaveResult Result, DateTimeOffset AddedAt)> SaveAsync(Guid userId, string productId, int maxItems, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var batch = new NpgsqlBatch(conn, tx)
        {
            BatchCommands =
            {
                new("select 1 from users where user_id = $1 for update") { Parameters = { new() { Value = userId } } },
                new("select added_at from shortlist_items where user_id = $1 and product_id = $2")
                {
                    Parameters = { new() { Value = userId }, new() { Value = productId } },
                },
                new("select count(*) from shortlist_items where user_id = $1") { Parameters = { new() { Value = userId } } },
            },
        })
        {
            await using var r = await batch.ExecuteReaderAsync(ct);
            await r.NextResultAsync(ct);
            if (await r.ReadAsync(ct)) return (SaveResult.AlreadySaved, r.GetFieldValue<DateTimeOffset>(0));
            await r.NextResultAsync(ct);
            await r.ReadAsync(ct);
            if (r.GetInt64(0) >= maxItems) return (SaveResult.Full, default);
        }
        await using var insert = new NpgsqlCommand(
            "insert into shortlist_items (user_id, product_id) values ($1, $2) returning added_at", conn, tx);
        insert.Parameters.AddWithValue(userId);
        insert.Parameters.AddWithValue(productId);
        var added = (DateTime)(await insert.ExecuteScalarAsync(ct))!;
        await tx.CommitAsync(ct);
        return (SaveResult.Added, new DateTimeOffset(added, TimeSpan.Zero));
    }

    public async Task<bool> RemoveAsync(Guid userId, string productId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("delete from shortlist_items where user_id = $1 and product_id = $2");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(productId);
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    /// <summary>Which of <paramref name="productIds"/> this user has saved.</summary>
    public async Task<HashSet<string>> SavedAmongAsync(Guid userId, IReadOnlyList<string> productIds, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select product_id from shortlist_items where user_id = $1 and product_id = any($2)");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(productIds.ToArray());
        var set = new HashSet<string>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) set.Add(r.GetString(0));
        return set;
    }

    /// <summary>Counts each pair of a comparison both ways, for "often compared with" on the product page.</summary>
    public async Task RecordComparisonAsync(IReadOnlyList<string> productIds, CancellationToken ct)
    {
        var pairs = (from a in productIds from b in productIds where a != b select (a, b)).OrderBy(p => p.a, StringComparer.Ordinal)
            .ThenBy(p => p.b, StringComparer.Ordinal).ToArray(); // one order everywhere: concurrent upserts never deadlock
        await using var cmd = db.CreateCommand(
            """
            insert into product_comparisons (product_id, other_id, times)
            select a, b, 1 from unnest($1::text[], $2::text[]) as k(a, b)
            on conflict (product_id, other_id) do update set times = product_comparisons.times + 1
            """);
        cmd.Parameters.AddWithValue(pairs.Select(p => p.a).ToArray());
        cmd.Parameters.AddWithValue(pairs.Select(p => p.b).ToArray());
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The products compared with <paramref name="productId"/> most often, most first.</summary>
    public async Task<List<string>> ComparedWithAsync(string productId, int limit, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "select other_id from product_comparisons where product_id = $1 order by times desc, other_id limit $2");
        cmd.Parameters.AddWithValue(productId);
        cmd.Parameters.AddWithValue(limit);
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(r.GetString(0));
        return list;
    }
}
