// Dumps, for every dev query, what hybrid search fuses: the lexical candidates (the same SQL as
// ProductSearch.LexicalAsync, top 200 with their score parts) and the cosine of the query with every
// product (same parser, same encoder, same filters). cv.py evaluates fusion methods on it.
// Usage: dotnet run -c Release -- <data dir> <out.json>  (ConnectionStrings__Postgres = the bench database)
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using ShopGpt.Server.Catalog;
var db = NpgsqlDataSource.Create(Environment.GetEnvironmentVariable("ConnectionStrings__Postgres") ?? "Host=127.0.0.1;Port=55453;Username=shopgpt;Database=shopgpt");
var index = new CatalogIndex(db, Options.Create(new CatalogOptions()), NullLogger<CatalogIndex>.Instance);
await index.ReloadAsync(default);
var cat = index.Current;
var model = new EmbeddingModel();
var dev = JsonDocument.Parse(File.ReadAllText(Path.Combine(args.Length > 0 ? args[0] : "../../../shared/data", "queries", "phone-queries-dev.json"))).RootElement.EnumerateArray().ToList();
var paths = new Dictionary<string,string>();
await using (var c = db.CreateCommand("select product_id, array_to_string(categories, ' > ') from products"))
await using (var r = await c.ExecuteReaderAsync()) while (await r.ReadAsync()) paths[r.GetString(0)] = r.GetString(1);
var outQ = new List<object>();
foreach (var q in dev)
{
    var text = q.GetProperty("query").GetString()!;
    var parsed = QueryParser.Parse(text, cat);
    var lex = new List<object[]>();
    await using (var cmd = db.CreateCommand(
            """
            with q as (
              select plainto_tsquery('english', $1) aq,
                     cast(nullif(replace(plainto_tsquery('english', $1)::text, ' & ', ' | '), '') as tsquery) oq
            ),
            f as not materialized (select product_id, name, search_tsv from products
              where ($2::numeric is null or price >= $2) and ($3::numeric is null or price <= $3) and ($4::text is null or lower(brand) = $4)),
            a as (select product_id from f, q where f.search_tsv @@ q.aq limit 300),
            t as (select product_id from f where $1 <% f.name limit 100),
            o as (select product_id from f, q where (select count(*) from a) < 50 and f.search_tsv @@ q.oq order by ts_rank_cd(f.search_tsv, q.oq, 32) desc limit 100),
            c as (select product_id from a union select product_id from t union select product_id from o)
            select p.product_id, (case when p.search_tsv @@ q.aq then 1.0 else 0 end), coalesce(ts_rank_cd(p.search_tsv, q.oq, 32), 0), word_similarity($1, p.name)
            from c join products p using (product_id), q
            order by (case when p.search_tsv @@ q.aq then 1.0 else 0 end) + coalesce(ts_rank_cd(p.search_tsv, q.oq, 32), 0) + word_similarity($1, p.name) desc, p.product_id
            limit 200
            """))
    {
        cmd.Parameters.AddWithValue(parsed.Text);
        var brandKey = parsed.Brand?.ToLowerInvariant();
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)parsed.MinPrice ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Numeric });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)parsed.MaxPrice ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Numeric });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)brandKey ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) lex.Add([r.GetString(0), (double)r.GetDecimal(1), (double)r.GetFloat(2), (double)r.GetFloat(3)]);
    }
    var v = model.EncodeQueries([parsed.Text])[0];
    var cos = new float[cat.Count];
    for (int i = 0; i < cat.Count; i++) cos[i] = cat.HasVector[i] ? System.Numerics.Tensors.TensorPrimitives.Dot(v, cat.Vectors.AsSpan(i * 384, 384)) : -1;
    // filter (brand/price) applies to semantic too
    var brandK = parsed.Brand?.ToLowerInvariant();
    for (int i = 0; i < cat.Count; i++)
        if ((parsed.MinPrice is { } mn && !(cat.Prices[i] >= mn)) || (parsed.MaxPrice is { } mx && !(cat.Prices[i] <= mx)) || (brandK is not null && cat.BrandKeys[i] != brandK)) cos[i] = -2;
    outQ.Add(new { query = text, parsed = parsed.Text, lvl1 = q.GetProperty("expected").GetProperty("lvl1").GetString(), lvl2 = q.GetProperty("expected").GetProperty("lvl2").GetString(),
        exact = q.TryGetProperty("exactHits", out var e) ? e.GetInt32() : 10, lex, cos });
}
File.WriteAllText(args.Length > 1 ? args[1] : "dump.json", JsonSerializer.Serialize(new { ids = cat.Ids, paths = cat.Ids.Select(i => paths[i]).ToArray(), queries = outQ }));
Console.WriteLine("ok");
