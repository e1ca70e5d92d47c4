using System.Numerics.Tensors;
using Microsoft.Extensions.Options;
using Npgsql;

namespace ShopGpt.Server.Catalog;

/// <summary>
/// What search keeps in memory, rebuilt from the products table after an import and when
/// another process changed it: the embedding matrix for brute-force SIMD cosine (4k x 384
/// floats = 6.6 MB, ~1 ms per query), the filter columns, the brands and the vocabulary that
/// the query parser corrects misspellings against.
/// Scaling: brute force stays under ~10 ms to ~100k products per core; at 1M products the
/// matrix is 1.5 GB of float32 (0.4 GB as int8), so switch to an ANN index (HNSW, e.g.
/// pgvector or an in-process HNSW graph over int8 vectors) and keep this class's interface.
/// </summary>
public sealed partial class CatalogIndex(NpgsqlDataSource db, IOptions<CatalogOptions> options, ILogger<CatalogIndex> log) : BackgroundService
{
    private volatile Snapshot current = Snapshot.Empty;
    private readonly SemaphoreSlim reloadGate = new(1, 1);

    public Snapshot Current => current;

    public sealed class Snapshot
    {
        public static readonly Snapshot Empty = new([], [], [], [], [], new float[0], [], new Dictionary<string, string>(), Vocabulary.Empty, (0, DateTime.MinValue));

        public Snapshot(string[] ids, decimal?[] prices, string?[] brandKeys, string[] categoryKeys, string[] names, float[] vectors,
            bool[] hasVector, Dictionary<string, string> brands, Vocabulary vocabulary, (long, DateTime) version)
        {
            Ids = ids;
            Prices = prices;
            BrandKeys = brandKeys;
            CategoryKeys = categoryKeys;
            Names = names;
            Vectors = vectors;
            HasVector = hasVector;
            Brands = brands;
            Vocabulary = vocabulary;
            Version = version;
            Positions = new Dictionary<string, int>(ids.Length, StringComparer.Ordinal);
            for (var i = 0; i < ids.Length; i++) Positions[ids[i]] = i;
        }

        /// <summary>Product id → its row in the arrays (to score lexical candidates by cosine too).</summary>
        public Dictionary<string, int> Positions { get; }

        /// <summary>Cosine of the query with one product's stored vector (unit vectors: a dot product); null without a vector.</summary>
        public float? Cosine(float[] query, int i) =>
            HasVector[i] ? TensorPrimitives.Dot(query.AsSpan(), Vectors.AsSpan(i * EmbeddingModel.Dimensions, EmbeddingModel.Dimensions)) : null;

        public string[] Ids { get; }
        public decimal?[] Prices { get; }
        public string?[] BrandKeys { get; }
        public string[] CategoryKeys { get; }
        public string[] Names { get; }
        public float[] Vectors { get; }
        public bool[] HasVector { get; }

        /// <summary>Lower-case brand key → the brand as the catalog spells it.</summary>
        public Dictionary<string, string> Brands { get; }

        public Vocabulary Vocabulary { get; }
        public (long Count, DateTime Max) Version { get; }
        public int Count => Ids.Length;
        public int EmbeddedCount => HasVector.Count(h => h);

        /// <summary>Top <paramref name="k"/> products by cosine similarity that pass the filter.</summary>
        public List<(int Index, float Score)> Nearest(float[] query, int k, Func<int, bool> accept)
        {
            var dims = EmbeddingModel.Dimensions;
            var top = new PriorityQueue<int, float>(k + 1);
            var q = query.AsSpan();
            for (var i = 0; i < Ids.Length; i++)
            {
                if (!HasVector[i] || !accept(i)) continue;
                var s = TensorPrimitives.Dot(q, Vectors.AsSpan(i * dims, dims));
                if (top.Count < k) top.Enqueue(i, s);
                else if (top.TryPeek(out _, out var min) && s > min) top.EnqueueDequeue(i, s);
            }
            var result = new List<(int, float)>(top.Count);
            while (top.TryDequeue(out var i, out var s)) result.Add((i, s));
            result.Reverse();
            return result;
        }
    }

    public async Task ReloadAsync(CancellationToken ct)
    {
        await reloadGate.WaitAsync(ct);
        try
        {
            var ids = new List<string>();
            var prices = new List<decimal?>();
            var brandKeys = new List<string?>();
            var cats = new List<string>();
            var names = new List<string>();
            var has = new List<bool>();
            var vectors = new List<float>();
            var brands = new Dictionary<string, string>();
            var vocab = new Vocabulary.Builder();
            (long, DateTime) version = (0, DateTime.MinValue);
            await using var conn = await db.OpenConnectionAsync(ct);
            await using (var cmd = new NpgsqlCommand("select count(*), coalesce(max(updated_at), '-infinity') from products", conn))
            await using (var r = await cmd.ExecuteReaderAsync(ct))
            {
                await r.ReadAsync(ct);
                version = (r.GetInt64(0), r.GetDateTime(1));
            }
            await using (var cmd = new NpgsqlCommand("select product_id, price, brand, category_path, name, embedding from products order by product_id", conn))
            await using (var r = await cmd.ExecuteReaderAsync(ct))
            {
                while (await r.ReadAsync(ct))
                {
                    ids.Add(r.GetString(0));
                    prices.Add(r.IsDBNull(1) ? null : r.GetDecimal(1));
                    var brand = r.IsDBNull(2) ? null : r.GetString(2);
                    brandKeys.Add(brand?.ToLowerInvariant());
                    if (brand is not null) brands.TryAdd(brand.ToLowerInvariant(), brand);
                    var cat = r.GetString(3);
                    cats.Add(cat.ToLowerInvariant());
                    var name = r.GetString(4);
                    names.Add(name);
                    vocab.Add(name);
                    vocab.Add(brand);
                    vocab.Add(cat);
                    if (!r.IsDBNull(5) && r.GetFieldValue<float[]>(5) is { Length: EmbeddingModel.Dimensions } v)
                    {
                        vectors.AddRange(v);
                        has.Add(true);
                    }
                    else
                    {
                        vectors.AddRange(new float[EmbeddingModel.Dimensions]);
                        has.Add(false);
                    }
                }
            }
            current = new Snapshot(ids.ToArray(), prices.ToArray(), brandKeys.ToArray(), cats.ToArray(), names.ToArray(), vectors.ToArray(),
                has.ToArray(), brands, vocab.Build(), version);
            LogLoaded(log, ids.Count, current.EmbeddedCount);
        }
        finally
        {
            reloadGate.Release();
        }
    }

    /// <summary>Picks up imports done by another process (the CLI, another instance).</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.RefreshSeconds));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await using var cmd = db.CreateCommand("select count(*), coalesce(max(updated_at), '-infinity') from products");
                await using var r = await cmd.ExecuteReaderAsync(stoppingToken);
                await r.ReadAsync(stoppingToken);
                var version = (r.GetInt64(0), r.GetDateTime(1));
                await r.DisposeAsync();
                if (version != current.Version) await ReloadAsync(stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                LogRefreshFailed(log, e.GetType().Name);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Catalog index loaded: {Count} products, {Embedded} with embeddings")]
    private static partial void LogLoaded(ILogger logger, int count, int embedded);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Catalog refresh check failed ({ExceptionType}); keeping the loaded index")]
    private static partial void LogRefreshFailed(ILogger logger, string exceptionType);
}
