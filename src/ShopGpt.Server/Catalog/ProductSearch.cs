using System.Diagnostics;
using System.Diagnostics.Metrics;
using Npgsql;
using ShopGpt.Server.Caching;

namespace ShopGpt.Server.Catalog;

public enum SearchMode
{
    Hybrid,
    Lexical,
    Semantic,
}

/// <summary>A search: free text (parsed for price/brand phrases) plus explicit filters.</summary>
public sealed record SearchQuery(string? Text, decimal? MinPrice = null, decimal? MaxPrice = null, string? Brand = null, string? Category = null,
    int Limit = 10, SearchMode Mode = SearchMode.Hybrid, bool Cheapest = false);

public sealed record SearchOutcome(List<Product> Items, ParsedQuery Parsed, decimal? MinPrice, decimal? MaxPrice, string? Brand, bool SemanticUsed);

/// <summary>
/// Hybrid product search: a lexical list (full-text ts_rank_cd over name/brand/category/
/// description plus pg_trgm word similarity on the name) and a semantic list (MiniLM cosine
/// over the in-memory index), fused by <see cref="HybridRanking"/>: Reciprocal Rank Fusion over
/// the union of both candidate sets (every candidate gets its exact cosine, so both lists rank
/// the same products), then a category vote from the fused head.
/// </summary>
public sealed class ProductSearch
{
    public const int CandidatePool = 50;
    internal const string ProductColumns = "product_id, name, description, brand, categories, price, rating, review_count, image_url, url";

    private readonly NpgsqlDataSource primary;
    private readonly Data.ReplicaReads? replicas;
    private readonly CatalogIndex index;
    private readonly QueryEncoder encoder;
    private readonly Histogram<double> duration;
    private readonly Counter<long> degraded;
    private readonly ProductCache? cache;

    private readonly double semanticBudgetMs;
    private readonly double semanticWeight;
    private readonly double categoryWeight;

    public ProductSearch(NpgsqlDataSource db, CatalogIndex index, QueryEncoder encoder, IMeterFactory meters,
        Microsoft.Extensions.Options.IOptions<CatalogOptions> options, ProductCache? cache = null, Data.ReplicaReads? replicas = null)
    {
        this.replicas = replicas;
        semanticBudgetMs = options.Value.SemanticBudgetMs;
        semanticWeight = options.Value.SemanticWeight;
        categoryWeight = options.Value.CategoryVoteWeight;
        this.cache = cache;
        primary = db;
        this.index = index;
        this.encoder = encoder;
        var meter = meters.Create("ShopGpt.Catalog");
        duration = meter.CreateHistogram<double>("shopgpt.catalog.search_duration", "s", "Product search time",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1] });
        degraded = meter.CreateCounter<long>("shopgpt.catalog.semantic_skipped", "{search}", "Hybrid searches answered lexically because the query encoder was saturated");
    }

    /// <summary>
    /// Cached by the normalised query and filters plus the catalog version (an import changes the
    /// key, so results never outlive the catalog they came from). A hybrid search that had to skip
    /// the semantic half (encoder saturated) is kept only briefly.
    /// </summary>
    public async Task<SearchOutcome> SearchAsync(SearchQuery q, CancellationToken ct)
    {
        if (cache is null) return await SearchUncachedAsync(q, ct);
        var catalog = index.Current;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        return await cache.SearchAsync(q.Text ?? "",
            [
                new("min", q.MinPrice?.ToString(inv)), new("max", q.MaxPrice?.ToString(inv)), new("brand", q.Brand), new("category", q.Category),
                new("limit", q.Limit.ToString(inv)), new("mode", q.Mode.ToString()), new("cheapest", q.Cheapest ? "1" : null),
                new("catalog", VersionTag(catalog)),
            ],
            t => SearchUncachedAsync(q, t), ct,
            o => q.Mode == SearchMode.Hybrid && !o.SemanticUsed && o.Parsed.Text.Length > 0 && catalog.EmbeddedCount > 0 ? DegradedLifetime : null);
    }

    private static readonly TimeSpan DegradedLifetime = TimeSpan.FromSeconds(5);

    // Product reads tolerate lag (the catalog changes only by import): the read standby when it is
    // usable (issue 16), else the primary.
    private NpgsqlDataSource db => replicas?.LagTolerant ?? primary;

    /// <summary>Changes with every import (row count, newest updated_at): part of every cache key.</summary>
    private static string VersionTag(CatalogIndex.Snapshot catalog) => $"{catalog.Version.Count}.{catalog.Version.Max.Ticks}";

    private async Task<SearchOutcome> SearchUncachedAsync(SearchQuery q, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var catalog = index.Current;
        var parsed = QueryParser.Parse(q.Text ?? "", catalog);
        var min = Max(q.MinPrice, parsed.MinPrice);
        var max = Min(q.MaxPrice, parsed.MaxPrice);
        var brand = q.Brand ?? parsed.Brand;
        var brandKey = brand?.Trim().ToLowerInvariant();
        var categoryKey = string.IsNullOrWhiteSpace(q.Category) ? null : q.Category.Trim().ToLowerInvariant();
        var cheapest = q.Cheapest || parsed.Cheapest;
        var semanticUsed = false;

        List<string> ids;
        if (parsed.Text.Length == 0)
        {
            ids = await BrowseAsync(min, max, brandKey, categoryKey, cheapest, q.Limit, ct);
        }
        else
        {
            // Start the query embedding first: the model call overlaps the SQL round trip.
            Task<float[]>? vectorTask = q.Mode != SearchMode.Lexical && catalog.EmbeddedCount > 0 ? encoder.TryEncode(parsed.Text) : null;
            if (vectorTask is null && q.Mode == SearchMode.Hybrid && catalog.EmbeddedCount > 0) degraded.Add(1);
            var lexical = q.Mode == SearchMode.Semantic ? [] : await LexicalAsync(parsed.Text, min, max, brandKey, categoryKey, ct);
            float[]? vector = null;
            if (vectorTask is not null && q.Mode == SearchMode.Hybrid && !vectorTask.IsCompleted)
            {
                // Latency budget: under overload answer lexically rather than queue behind the model;
                // the encoding still finishes and is cached for the next time this query comes.
                try
                {
                    await vectorTask.WaitAsync(TimeSpan.FromMilliseconds(semanticBudgetMs), ct);
                }
                catch (TimeoutException)
                {
                    degraded.Add(1);
                    vectorTask = null;
                }
            }
            if (vectorTask is not null)
            {
                vector = await vectorTask.WaitAsync(ct);
                semanticUsed = true;
            }
            var take = cheapest ? Math.Max(q.Limit, 20) : q.Limit;
            if (vector is null)
            {
                ids = lexical.Take(take).ToList();
            }
            else
            {
                var nearest = catalog.Nearest(vector, CandidatePool, i =>
                    (min is null || catalog.Prices[i] >= min) && (max is null || catalog.Prices[i] <= max)
                    && (brandKey is null || catalog.BrandKeys[i] == brandKey)
                    && (categoryKey is null || catalog.CategoryKeys[i].Contains(categoryKey, StringComparison.Ordinal)));
                if (q.Mode == SearchMode.Semantic)
                {
                    ids = nearest.Take(take).Select(n => catalog.Ids[n.Index]).ToList();
                }
                else
                {
                    // The index holds a vector for every product, so the lexical candidates get their
                    // exact cosine too: both rankings cover the same union of candidates.
                    var candidates = new Dictionary<string, HybridRanking.Candidate>(StringComparer.Ordinal);
                    foreach (var (i, score) in nearest) candidates[catalog.Ids[i]] = new(catalog.Ids[i], score, catalog.CategoryKeys[i]);
                    foreach (var id in lexical)
                        if (!candidates.ContainsKey(id) && catalog.Positions.TryGetValue(id, out var i))
                            candidates[id] = new(id, catalog.Cosine(vector, i), catalog.CategoryKeys[i]);
                    ids = HybridRanking.Rank(lexical, candidates.Values, semanticWeight, categoryWeight).Take(take).ToList();
                }
            }
        }

        var items = await GetManyAsync(ids, ct);
        if (cheapest && parsed.Text.Length > 0)
            items = items.Where(p => p.Price is not null).OrderBy(p => p.Price).Take(q.Limit).ToList();
        duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        return new SearchOutcome(items, parsed, min, max, brand, semanticUsed);
    }

    /// <summary>
    /// One product; cached per catalog version (an import makes a new key), unknown ids briefly,
    /// because product pages and assistant picks repeat.
    /// </summary>
    public async Task<Product?> GetAsync(string id, CancellationToken ct) =>
        cache is null ? await GetUncachedAsync(id, ct)
        : await cache.ByIdAsync($"{id}@{VersionTag(index.Current)}", t => GetUncachedAsync(id, t), ct, p => p is null ? UnknownIdLifetime : null);

    private static readonly TimeSpan UnknownIdLifetime = TimeSpan.FromSeconds(30);

    private async Task<Product?> GetUncachedAsync(string id, CancellationToken ct) => (await GetManyAsync([id], ct)).FirstOrDefault();

    /// <summary>Products by id, in the order given; unknown ids are left out.</summary>
    public async Task<List<Product>> GetManyAsync(IReadOnlyList<string> ids, CancellationToken ct)
    {
        if (ids.Count == 0) return [];
        await using var cmd = db.CreateCommand($"select {ProductColumns} from products where product_id = any($1)");
        cmd.Parameters.AddWithValue(ids.ToArray());
        var found = new Dictionary<string, Product>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) found[r.GetString(0)] = Read(r);
        return ids.Where(found.ContainsKey).Select(id => found[id]).ToList();
    }

    internal static Product Read(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetFieldValue<string[]>(4),
        r.IsDBNull(5) ? null : r.GetDecimal(5), r.IsDBNull(6) ? null : r.GetFloat(6), r.IsDBNull(7) ? null : r.GetInt32(7),
        r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9));

    private async Task<List<string>> LexicalAsync(string text, decimal? min, decimal? max, string? brandKey, string? categoryKey, CancellationToken ct)
    {
        // Candidates come from the indexes only: all words (GIN full-text), the name's trigrams
        // (GIN pg_trgm: typos) and, only when those find fewer than 50, any word ranked by
        // ts_rank_cd. Scoring the small candidate set: all words matched ranks above some words
        // matched (the 1.0 bonus); within each, cover density (normalised to 0..1) plus how well the
        // query matches a stretch of the name. Scoring every OR match instead cost ~100 ms for
        // common words ("case" matches half the catalog).
        await using var cmd = db.CreateCommand(
            """
            with q as (
              select plainto_tsquery('english', $1) aq,
                     cast(nullif(replace(plainto_tsquery('english', $1)::text, ' & ', ' | '), '') as tsquery) oq
            ),
            f as not materialized (
              select product_id, name, search_tsv from products
              where ($2::numeric is null or price >= $2) and ($3::numeric is null or price <= $3)
                and ($4::text is null or lower(brand) = $4)
                and ($5::text is null or strpos(lower(category_path), $5) > 0)
            ),
            a as (select product_id from f, q where f.search_tsv @@ q.aq limit 300),
            t as (select product_id from f where $1 <% f.name limit 100),
            o as (
              select product_id from f, q
              where (select count(*) from a) < 50 and f.search_tsv @@ q.oq
              order by ts_rank_cd(f.search_tsv, q.oq, 32) desc limit 100
            ),
            c as (select product_id from a union select product_id from t union select product_id from o)
            select p.product_id
            from c join products p using (product_id), q
            order by (case when p.search_tsv @@ q.aq then 1.0 else 0 end)
                     + coalesce(ts_rank_cd(p.search_tsv, q.oq, 32), 0)
                     + word_similarity($1, p.name) desc, p.product_id
            limit $6
            """);
        cmd.Parameters.AddWithValue(text);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)min ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Numeric });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)max ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Numeric });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)brandKey ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)categoryKey ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.AddWithValue(CandidatePool);
        var ids = new List<string>(CandidatePool);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) ids.Add(r.GetString(0));
        return ids;
    }

    /// <summary>Filters only (no words): the most popular, or the cheapest, matching products.</summary>
    private async Task<List<string>> BrowseAsync(decimal? min, decimal? max, string? brandKey, string? categoryKey, bool cheapest, int limit, CancellationToken ct)
    {
        var order = cheapest ? "price asc nulls last, product_id" : "popularity desc nulls last, review_count desc nulls last, product_id";
        await using var cmd = db.CreateCommand(
            $"""
            select product_id from products
            where ($1::numeric is null or price >= $1) and ($2::numeric is null or price <= $2)
              and ($3::text is null or lower(brand) = $3)
              and ($4::text is null or strpos(lower(category_path), $4) > 0)
            order by {order}
            limit $5
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)min ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Numeric });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)max ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Numeric });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)brandKey ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)categoryKey ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.AddWithValue(limit);
        var ids = new List<string>(limit);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) ids.Add(r.GetString(0));
        return ids;
    }

    private static decimal? Max(decimal? a, decimal? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);

    private static decimal? Min(decimal? a, decimal? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);
}
