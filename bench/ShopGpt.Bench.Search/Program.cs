using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ShopGpt.Server;
using ShopGpt.Server.Catalog;
using ShopGpt.Server.Messaging;

// ./shopgpt bench search | assistant. Starts one real instance in-process (Kestrel on loopback,
// the configured PostgreSQL/Redis with the imported catalog) and drives it over HTTP.
var mode = args.FirstOrDefault() ?? "search";
var dataDir = Environment.GetEnvironmentVariable("SHOPGPT_DATA_DIR") ?? Path.GetFullPath("../shared/data");
var firstDelta = new ConcurrentDictionary<Guid, long>();
var recorder = new DeltaClock(firstDelta);
// BENCH_NO_CACHE=1: search without the product-search cache (FusionCache + Redis), so every
// request runs the engine (SQL + query embedding + fusion); the default measures what shoppers get.
var noCache = Environment.GetEnvironmentVariable("BENCH_NO_CACHE") == "1";
// /metrics is served on a loopback management port only: a free one for this in-process instance.
var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
probe.Start();
var metricsPort = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
probe.Stop();
var metricsUri = new Uri($"http://127.0.0.1:{metricsPort}/metrics");
var app = AppHost.Build(["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Assistant:CatalogChunkDelayMs=0", $"--Metrics:ManagementPort={metricsPort}",
        // One guest stands in for every simulated shopper: lift the per-user REST limit (20/s).
        "--RateLimits:PerUserPerSecond=1000000", "--RateLimits:PerUserBurst=1000000"], null,
    s =>
    {
        s.AddSingleton<IConversationEvents>(recorder);
        if (noCache)
            s.AddSingleton(sp => new ProductSearch(sp.GetRequiredService<Npgsql.NpgsqlDataSource>(), sp.GetRequiredService<CatalogIndex>(),
                sp.GetRequiredService<QueryEncoder>(), sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
                sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<CatalogOptions>>(), cache: null));
    });
await AppHost.PrepareAsync(app);
await app.StartAsync();
var baseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(30) };
var guest = await (await http.PostAsync("/api/auth/guest", null)).Content.ReadFromJsonAsync<JsonElement>();
http.DefaultRequestHeaders.Authorization = new("Bearer", guest.GetProperty("token").GetString());
Console.WriteLine($"result cache: {(noCache ? "off (BENCH_NO_CACHE=1)" : "on")}");
Console.WriteLine($"catalog: {app.Services.GetRequiredService<CatalogIndex>().Current.Count} products, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");

if (mode == "search") await SearchBench();
else if (mode == "assistant") await AssistantBench();
else Console.Error.WriteLine("usage: bench search|assistant");
await app.StopAsync();
return 0;

async Task SearchBench()
{
    // 1. Relevance on the dev queries, per mode. Gains: 2 = expected lvl2 category, 1 = expected lvl1 only.
    var dev = JsonDocument.Parse(File.ReadAllText(Path.Combine(dataDir, "queries", "phone-queries-dev.json"))).RootElement.EnumerateArray().ToList();
    Console.WriteLine();
    Console.WriteLine("| mode | P@5 lvl2 | P@5 lvl1 | NDCG@10 |");
    Console.WriteLine("|---|---|---|---|");
    foreach (var m in Environment.GetEnvironmentVariable("BENCH_SKIP_RELEVANCE") == "1" ? [] : new[] { "lexical", "semantic", "hybrid" })
    {
        double p2 = 0, p1 = 0, ndcg = 0;
        var withLvl2 = 0;
        foreach (var q in dev)
        {
            var lvl1 = q.GetProperty("expected").GetProperty("lvl1").GetString()!;
            // 8 dev queries name only a lvl1 category: for them lvl1 is the most specific (grade 2) and they skip P@5 lvl2.
            var lvl2 = q.GetProperty("expected").GetProperty("lvl2").GetString();
            var exact = q.TryGetProperty("exactHits", out var e) ? e.GetInt32() : 10;
            var res = await http.GetFromJsonAsync<JsonElement>($"/api/products/search?mode={m}&limit=10&q={Uri.EscapeDataString(q.GetProperty("query").GetString()!)}");
            var paths = res.GetProperty("items").EnumerateArray().Select(p => string.Join(" > ", p.GetProperty("categories").EnumerateArray().Select(c => c.GetString()))).ToList();
            var gains = paths.Select(p => p.StartsWith(lvl2 ?? lvl1, StringComparison.Ordinal) ? 2 : p.StartsWith(lvl1, StringComparison.Ordinal) ? 1 : 0).ToList();
            if (lvl2 is not null)
            {
                p2 += gains.Take(5).Count(g => g == 2) / 5.0;
                withLvl2++;
            }
            p1 += gains.Take(5).Count(g => g >= 1) / 5.0;
            double Dcg(IEnumerable<int> g) => g.Select((x, i) => (Math.Pow(2, x) - 1) / Math.Log2(i + 2)).Sum();
            var ideal = Enumerable.Range(0, 10).Select(i => i < Math.Min(exact, 10) ? 2 : 1);
            ndcg += Dcg(gains) / Dcg(ideal);
        }
        Console.WriteLine($"| {m} | {p2 / withLvl2:F3} | {p1 / dev.Count:F3} | {ndcg / dev.Count:F3} |");
    }

    // 2. Latency: open loop at a fixed rate, queries drawn by popularity (the real read workload).
    var rate = int.Parse(Environment.GetEnvironmentVariable("BENCH_RATE") ?? "200");
    var seconds = int.Parse(Environment.GetEnvironmentVariable("BENCH_SECONDS") ?? "30");
    var latencyMode = Environment.GetEnvironmentVariable("BENCH_MODE") ?? "hybrid";
    var pop = JsonDocument.Parse(File.ReadAllText(Path.Combine(dataDir, "queries", "query-popularity.json"))).RootElement.EnumerateArray()
        .Select(x => (Q: x.GetProperty("query").GetString()!, W: Math.Max(1, x.GetProperty("popularity").GetInt32()))).ToList();
    var cumulative = new long[pop.Count];
    long total = 0;
    for (var i = 0; i < pop.Count; i++) cumulative[i] = total += pop[i].W;
    var rnd = new Random(42);
    string Sample()
    {
        var x = rnd.NextInt64(total);
        var i = Array.BinarySearch(cumulative, x + 1);
        return pop[i < 0 ? ~i : i].Q;
    }
    for (var i = 0; i < 50; i++) await http.GetAsync($"/api/products/search?q={Uri.EscapeDataString(Sample())}"); // warm-up
    var latencies = new ConcurrentBag<double>();
    var errors = 0;
    var n = rate * seconds;
    var tasks = new List<Task>(n);
    var start = Stopwatch.GetTimestamp();
    for (var i = 0; i < n; i++)
    {
        var due = start + (long)(i * (double)Stopwatch.Frequency / rate);
        while (Stopwatch.GetTimestamp() < due) await Task.Delay(1);
        var q = Sample();
        tasks.Add(Task.Run(async () =>
        {
            var t0 = Stopwatch.GetTimestamp();
            try
            {
                using var r = await http.GetAsync($"/api/products/search?mode={latencyMode}&q={Uri.EscapeDataString(q)}");
                if (!r.IsSuccessStatusCode) Interlocked.Increment(ref errors);
                await r.Content.ReadAsByteArrayAsync();
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref errors);
            }
            latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }));
    }
    await Task.WhenAll(tasks);
    var achieved = n / Stopwatch.GetElapsedTime(start).TotalSeconds;
    var sorted = latencies.Order().ToArray();
    Console.WriteLine();
    Console.WriteLine($"search latency, {latencyMode}, {rate} req/s offered ({achieved:F0} achieved) for {seconds} s, popularity-weighted queries: " +
                      $"p50 {P(sorted, 0.50):F1} ms, p95 {P(sorted, 0.95):F1} ms, p99 {P(sorted, 0.99):F1} ms, errors {errors}/{n}");
    // How many searches the encoder could not serve within the budget (answered lexically), and its batch sizes.
    var metrics = await http.GetStringAsync(metricsUri);
    foreach (var line in metrics.Split('\n').Where(l => l.StartsWith("shopgpt_catalog_", StringComparison.Ordinal) && !l.Contains("_bucket", StringComparison.Ordinal)))
        Console.WriteLine("  " + line);
}

async Task AssistantBench()
{
    var conversations = int.Parse(Environment.GetEnvironmentVariable("BENCH_CONVERSATIONS") ?? "50");
    var turns = int.Parse(Environment.GetEnvironmentVariable("BENCH_TURNS") ?? "6");
    var prompts = new[] { "case for galaxy s7", "cheaper ones?", "only OtterBox", "compare the first two", "tell me more about the second", "iphone charger under $30" };
    var ttfd = new ConcurrentBag<double>();
    var ttfdByTurn = Enumerable.Range(0, turns).Select(_ => new ConcurrentBag<double>()).ToArray();
    var full = new ConcurrentBag<double>();
    var acks = new ConcurrentBag<double>();
    // Warm-up, not measured: a fresh process JIT-compiles every path of a turn, opens its pool
    // connections and loads the query model on the first turns (turn 1 ran at ~300 ms p50 cold).
    // BENCH_WARMUP conversations run the whole script once first; 0 measures from a cold start.
    var warmup = int.Parse(Environment.GetEnvironmentVariable("BENCH_WARMUP") ?? "5");
    if (warmup > 0)
    {
        await RunConversations(warmup, "w", new ConcurrentBag<double>(), new ConcurrentBag<double>(), new ConcurrentBag<double>(),
            Enumerable.Range(0, turns).Select(_ => new ConcurrentBag<double>()).ToArray());
        Console.WriteLine($"warm-up: {warmup} conversations x {turns} turns (not measured)");
    }
    await RunConversations(conversations, "b", ttfd, full, acks, ttfdByTurn);

    async Task RunConversations(int count, string tag, ConcurrentBag<double> ttfd, ConcurrentBag<double> full, ConcurrentBag<double> acks, ConcurrentBag<double>[] ttfdByTurn) =>
    await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = count }, async (c, ct) =>
    {
        var cid = (await (await http.PostAsJsonAsync("/api/conversations", new { title = "bench" }, ct)).Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetGuid();
        for (var t = 0; t < turns; t++)
        {
            var sent = Stopwatch.GetTimestamp();
            var res = await http.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { text = prompts[t % prompts.Length], clientId = $"{tag}{c}-{t}" }, ct);
            var userId = (await res.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetGuid();
            acks.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds); // the user message is committed; its turn is queued
            var done = recorder.Await(userId);
            await done.WaitAsync(TimeSpan.FromSeconds(60), ct);
            full.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
            if (recorder.FirstDelta(userId) is { } first)
            {
                ttfd.Add(Stopwatch.GetElapsedTime(sent, first).TotalMilliseconds);
                ttfdByTurn[t].Add(Stopwatch.GetElapsedTime(sent, first).TotalMilliseconds);
            }
        }
    });
    var a = ttfd.Order().ToArray();
    var b = full.Order().ToArray();
    var k = acks.Order().ToArray();
    Console.WriteLine();
    Console.WriteLine($"assistant (catalog provider), {conversations} concurrent conversations x {turns} turns: " +
                      $"time to first delta p50 {P(a, 0.5):F1} ms, p95 {P(a, 0.95):F1} ms; answer stored p50 {P(b, 0.5):F1} ms, p95 {P(b, 0.95):F1} ms ({a.Length} turns); send acknowledged (message committed) p50 {P(k, 0.5):F1} ms, p95 {P(k, 0.95):F1} ms");
    // Per turn of the script: the first turn of every conversation starts at the same instant (a burst).
    for (var t = 0; t < turns; t++)
    {
        var s = ttfdByTurn[t].Order().ToArray();
        Console.WriteLine($"  turn {t + 1} \"{prompts[t % prompts.Length]}\": time to first delta p50 {P(s, 0.5):F1} ms, p95 {P(s, 0.95):F1} ms");
    }
    // Where the time before the first delta goes, per stage (server side, from the turn being queued).
    var metrics = await http.GetStringAsync(metricsUri);
    foreach (var line in metrics.Split('\n').Where(l => l.StartsWith("shopgpt_assistant_turn_stage_duration_seconds_", StringComparison.Ordinal) && !l.Contains("_bucket", StringComparison.Ordinal)))
        Console.WriteLine("  " + line);
}

static double P(double[] sorted, double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

/// <summary>Stands in for the realtime hub: timestamps each answer's first delta and its completion.</summary>
sealed class DeltaClock(ConcurrentDictionary<Guid, long> first) : IConversationEvents
{
    private readonly ConcurrentDictionary<Guid, Guid> answerToUser = new();
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> done = new();
    private readonly ConcurrentDictionary<Guid, long> firstByAnswer = new();

    public void Publish(ConversationEvent e)
    {
        switch (e)
        {
            case AssistantDelta d:
                firstByAnswer.TryAdd(d.MessageId, Stopwatch.GetTimestamp());
                break;
            case MessageStored { Message: { Role: "assistant", ClientId: { } cl } m } when cl.StartsWith("assistant:", StringComparison.Ordinal):
                var userId = Guid.Parse(cl["assistant:".Length..]);
                if (firstByAnswer.TryGetValue(m.Id, out var t)) first[userId] = t;
                done.GetOrAdd(userId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                break;
        }
    }

    public Task Await(Guid userMessageId) => done.GetOrAdd(userMessageId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public long? FirstDelta(Guid userMessageId) => first.TryGetValue(userMessageId, out var t) ? t : null;
}
