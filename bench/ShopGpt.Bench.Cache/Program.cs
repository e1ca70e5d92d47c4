// ./shopgpt bench cache: replays the query-popularity mix at a fixed rate against two instances
// with three variants of one search endpoint (no cache, plain IDistributedCache, ShopCache) and
// a forced expiry storm in the middle of each measured phase. See docs/benchmarks.md.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Npgsql;
using ShopGpt.Bench.Cache;
using ShopGpt.Server;
using ShopGpt.Server.Caching;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;

var env = Environment.GetEnvironmentVariables();
string Env(string name, string fallback) => env[name] as string is { Length: > 0 } v ? v : fallback;
var pg = Env("SHOPGPT_BENCH_PG", "Host=127.0.0.1;Port=55432;Username=shopgpt;Database=shopgpt_bench");
var redis = Env("SHOPGPT_BENCH_REDIS", "127.0.0.1:56379");
var queriesPath = Env("SHOPGPT_BENCH_QUERIES", "../shared/data/queries/query-popularity.json");
var rate = int.Parse(Env("SHOPGPT_BENCH_RATE", "200"), CultureInfo.InvariantCulture);
var warmup = TimeSpan.FromSeconds(int.Parse(Env("SHOPGPT_BENCH_WARMUP_SECONDS", "30"), CultureInfo.InvariantCulture));
var measure = TimeSpan.FromSeconds(int.Parse(Env("SHOPGPT_BENCH_SECONDS", "60"), CultureInfo.InvariantCulture));
var output = Env("SHOPGPT_BENCH_OUT", "artifacts/bench/cache.md");
// standin: the bench's own table; catalog: the real hybrid ProductSearch on the seeded catalog.
var target = Env("SHOPGPT_BENCH_TARGET", "standin");
var catalogPath = target == "catalog" ? Env("SHOPGPT_BENCH_CATALOG", "../shared/data/catalog") : null;

var queries = JsonSerializer.Deserialize(File.ReadAllText(queriesPath), BenchJson.Default.ListQueryPopularity)!;
Console.WriteLine($"{queries.Count} queries, total popularity {queries.Sum(q => q.Popularity)}; {rate} req/s, warm-up {warmup.TotalSeconds} s, measured {measure.TotalSeconds} s per variant");

if (catalogPath is null) await Catalog.SeedAsync(pg, queries);
await using var a = await Instance.StartAsync(pg, redis, catalogPath);
await using var b = await Instance.StartAsync(pg, redis, catalogPath);
Instance[] instances = [a, b];

var results = new List<Result>();
foreach (var variant in new[] { "none", "plain", "shopcache" })
{
    await using (var mux = await ConnectionMultiplexer.ConnectAsync(redis + ",allowAdmin=true"))
        foreach (var ep in mux.GetEndPoints()) await mux.GetServer(ep).FlushDatabaseAsync();
    foreach (var i in instances) await i.Services.GetRequiredService<IFusionCache>().ClearAsync(allowFailSafe: false);
    Catalog.ResetCounters();
    if (variant != "none")
    {
        // Without a cache there is nothing to warm; with one, the measured phase starts from steady state.
        Console.WriteLine($"--- {variant}: warm-up");
        await Load.RunAsync(instances, variant, queries, rate, warmup, storm: null, seed: 1);
    }
    Catalog.ResetCounters();
    Console.WriteLine($"--- {variant}: measuring (expiry storm at {measure.TotalSeconds / 2} s)");
    var r = await Load.RunAsync(instances, variant, queries, rate, measure, storm: () => Storm(variant), seed: 2);
    results.Add(r);
    Console.WriteLine(r.Row());
}

// The storm: every entry expires at once, and a burst of concurrent requests for the ten most
// popular queries arrives right then (a traffic spike meeting the expiry: the thundering herd).
async Task<long> Storm(string variant)
{
    var top = queries.OrderByDescending(q => q.Popularity).Take(10).ToArray();
    Catalog.Watch(top.Select(q => q.Query));
    await Expire(variant);
    using var http = new HttpClient();
    await Task.WhenAll(Enumerable.Range(0, 400).Select(i => http.GetAsync(
        new Uri(instances[i % 2].Address, $"/bench/search/{variant}?q={Uri.EscapeDataString(top[i % top.Length].Query)}"))));
    // Queries for the ten burst keys from the expiry until the burst was answered (scheduled traffic for them included).
    return Catalog.StopWatching();
}

async Task Expire(string variant)
{
    switch (variant)
    {
        case "plain":
            // Every entry gone at once, as when keys written together reach their TTL together.
            await using (var mux = await ConnectionMultiplexer.ConnectAsync(redis + ",allowAdmin=true"))
                foreach (var ep in mux.GetEndPoints()) await mux.GetServer(ep).FlushDatabaseAsync();
            break;
        case "shopcache":
            // Every entry expired at once on every instance (backplane); fail-safe keeps the old values as a fallback.
            await a.Services.GetRequiredService<IFusionCache>().ClearAsync(allowFailSafe: true);
            break;
    }
}

var report = new StringBuilder();
report.AppendLine(CultureInfo.InvariantCulture, $"Target: {(catalogPath is null ? "stand-in table" : "real ProductSearch (hybrid) on " + catalogPath)}; \"DB queries\" = executions of the uncached search.");
report.AppendLine(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores. Rate {rate} req/s over 2 instances, {queries.Count} distinct queries weighted by popularity, measured {measure.TotalSeconds} s per variant after {warmup.TotalSeconds} s warm-up; expiry storm at {measure.TotalSeconds / 2} s (every entry expired + 400 concurrent requests for the top 10 queries; the storm-half hit rate counts the burst's DB queries but not its requests).");
report.AppendLine();
report.AppendLine(Result.Header);
report.AppendLine(Result.Rule);
foreach (var r in results) report.AppendLine(r.Row());
var none = results[0];
var sc = results[2];
report.AppendLine();
report.AppendLine(CultureInfo.InvariantCulture, $"DB queries/s saved by ShopCache vs no cache: {none.DbPerSecond - sc.DbPerSecond:0.0} ({(none.DbPerSecond == 0 ? 0 : 100 * (1 - sc.DbPerSecond / none.DbPerSecond)):0.0} %).");
Console.WriteLine();
Console.WriteLine(report);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
File.WriteAllText(output, report.ToString());
return 0;

namespace ShopGpt.Bench.Cache
{
    public sealed record QueryPopularity(string Query, int Popularity);

    public sealed record BenchProduct(long Id, string Name, int Popularity);

    [JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
    [JsonSerializable(typeof(List<QueryPopularity>))]
    [JsonSerializable(typeof(List<BenchProduct>))]
    [JsonSerializable(typeof(ShopGpt.Server.Catalog.SearchOutcome))]
    [JsonSerializable(typeof(Cached<List<BenchProduct>>))]
    [JsonSerializable(typeof(ZiggyCreatures.Caching.Fusion.Internals.Distributed.FusionCacheDistributedEntry<Cached<List<BenchProduct>>>))]
    public sealed partial class BenchJson : JsonSerializerContext;

    /// <summary>The stand-in catalog: a real table with a trigram index and a real ILIKE search over it.</summary>
    public static class Catalog
    {
        private static long dbQueries;
        private static readonly ConcurrentDictionary<long, int> PerSecond = new();

        private static volatile HashSet<string>? watched;
        private static long watchedQueries;

        public static long DbQueries => Interlocked.Read(ref dbQueries);

        public static void Watch(IEnumerable<string> queries)
        {
            Interlocked.Exchange(ref watchedQueries, 0);
            watched = queries.ToHashSet(StringComparer.Ordinal);
        }

        public static long StopWatching()
        {
            watched = null;
            return Interlocked.Read(ref watchedQueries);
        }
        public static int PeakPerSecond => PerSecond.IsEmpty ? 0 : PerSecond.Values.Max();

        public static void ResetCounters()
        {
            Interlocked.Exchange(ref dbQueries, 0);
            PerSecond.Clear();
        }

        public static async Task SeedAsync(string pg, List<QueryPopularity> queries)
        {
            await using var db = NpgsqlDataSource.Create(pg);
            await using (var cmd = db.CreateCommand(
                """
                create extension if not exists pg_trgm;
                create table if not exists cache_bench_products (id bigint primary key, name text not null, popularity int not null);
                create index if not exists cache_bench_products_name_trgm on cache_bench_products using gin (name gin_trgm_ops);
                """))
                await cmd.ExecuteNonQueryAsync();
            await using (var count = db.CreateCommand("select count(*) from cache_bench_products"))
                if ((long)(await count.ExecuteScalarAsync())! > 0) return;
            // Ten products per query phrase, so every replayed query finds something.
            await using var insert = db.CreateCommand(
                """
                insert into cache_bench_products (id, name, popularity)
                select row_number() over (), q || ' ' || (array['pro','mini','max','plus','lite','2024','refurbished','bundle','case','kit'])[v], (random() * 1000)::int
                from unnest($1::text[]) as q, generate_series(1, 10) as v
                """);
            insert.Parameters.AddWithValue(queries.Select(q => q.Query).ToArray());
            await insert.ExecuteNonQueryAsync();
            await using var analyze = db.CreateCommand("analyze cache_bench_products");
            await analyze.ExecuteNonQueryAsync();
        }

        /// <summary>Counts one execution of the uncached search for <paramref name="q"/>.</summary>
        public static void Count(string q)
        {
            Interlocked.Increment(ref dbQueries);
            if (watched is { } w && w.Contains(q)) Interlocked.Increment(ref watchedQueries);
            PerSecond.AddOrUpdate(Environment.TickCount64 / 1000, 1, (_, n) => n + 1);
        }

        public static async Task<List<BenchProduct>> SearchAsync(NpgsqlDataSource db, string q, CancellationToken ct)
        {
            Count(q);
            await using var cmd = db.CreateCommand(
                "select id, name, popularity from cache_bench_products where name ilike '%' || $1 || '%' order by popularity desc, id limit 20");
            cmd.Parameters.AddWithValue(q);
            var list = new List<BenchProduct>(20);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) list.Add(new BenchProduct(r.GetInt64(0), r.GetString(1), r.GetInt32(2)));
            return list;
        }
    }

    /// <summary>One server instance (the real AppHost) plus the three bench endpoints.</summary>
    public sealed class Instance : IAsyncDisposable
    {
        private readonly WebApplication app;

        private Instance(WebApplication app, Uri address)
        {
            this.app = app;
            Address = address;
        }

        public Uri Address { get; }
        public IServiceProvider Services => app.Services;

        public static async Task<Instance> StartAsync(string pg, string redis, string? catalogPath)
        {
            var app = AppHost.Build([], b =>
            {
                b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["ConnectionStrings:Postgres"] = pg,
                    ["ConnectionStrings:Redis"] = redis,
                    ["Database:MinPoolSize"] = "0",
                    ["Database:MaxPoolSize"] = "50",
                    ["Logging:LogLevel:Default"] = "Warning",
                    ["Catalog:SeedPath"] = catalogPath,
                    ["Assistant:Enabled"] = "false",
                });
                b.WebHost.UseUrls("http://127.0.0.1:0");
                // How a feature makes its cached types source-generated in the L2 wire format.
                b.Services.AddSingleton<IJsonTypeInfoResolver>(BenchJson.Default);
                b.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(BenchJson.Default));
            });
            await AppHost.PrepareAsync(app);
            var plainTtl = new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(5) };
            var plain = new RedisCache(Microsoft.Extensions.Options.Options.Create(new RedisCacheOptions
            {
                ConnectionMultiplexerFactory = () => Task.FromResult(app.Services.GetRequiredService<IConnectionMultiplexer>()),
                InstanceName = "bench-plain:",
            }));
            if (catalogPath is null) MapStandIn(app, plain, plainTtl);
            else MapCatalog(app, plain, plainTtl);
            await app.StartAsync();
            var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new Instance(app, new Uri(address));
        }

        private static void MapStandIn(WebApplication app, RedisCache plain, DistributedCacheEntryOptions plainTtl)
        {
            app.MapGet("/bench/search/none", async (string q, NpgsqlDataSource db, CancellationToken ct) =>
                TypedResults.Ok(await Catalog.SearchAsync(db, q, ct)));
            app.MapGet("/bench/search/plain", async (string q, NpgsqlDataSource db, CancellationToken ct) =>
            {
                // The usual cache-aside without stampede protection: every concurrent miss queries the database.
                var key = ProductCache.SearchKey(q, null);
                if (await plain.GetAsync(key, ct) is { } bytes)
                    return TypedResults.Ok(JsonSerializer.Deserialize(bytes, BenchJson.Default.ListBenchProduct)!);
                var list = await Catalog.SearchAsync(db, q, ct);
                await plain.SetAsync(key, JsonSerializer.SerializeToUtf8Bytes(list, BenchJson.Default.ListBenchProduct), plainTtl, ct);
                return TypedResults.Ok(list);
            });
            app.MapGet("/bench/search/shopcache", async (string q, ProductCache products, NpgsqlDataSource db, CancellationToken ct) =>
                TypedResults.Ok(await products.SearchAsync(q, null, t => Catalog.SearchAsync(db, q, t), ct)));
        }

        /// <summary>The real search: none/plain call an uncached ProductSearch; shopcache goes through ProductCache as ProductSearch itself does.</summary>
        private static void MapCatalog(WebApplication app, RedisCache plain, DistributedCacheEntryOptions plainTtl)
        {
            var sp = app.Services;
            var uncached = new ShopGpt.Server.Catalog.ProductSearch(sp.GetRequiredService<NpgsqlDataSource>(), sp.GetRequiredService<ShopGpt.Server.Catalog.CatalogIndex>(),
                sp.GetRequiredService<ShopGpt.Server.Catalog.QueryEncoder>(), sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
                sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ShopGpt.Server.Catalog.CatalogOptions>>());
            Task<ShopGpt.Server.Catalog.SearchOutcome> Search(string q, CancellationToken ct)
            {
                Catalog.Count(q);
                return uncached.SearchAsync(new ShopGpt.Server.Catalog.SearchQuery(q), ct);
            }
            app.MapGet("/bench/search/none", async (string q, CancellationToken ct) => TypedResults.Ok((await Search(q, ct)).Items.Count));
            app.MapGet("/bench/search/plain", async (string q, CancellationToken ct) =>
            {
                var key = ProductCache.SearchKey(q, null);
                if (await plain.GetAsync(key, ct) is { } bytes)
                    return TypedResults.Ok(JsonSerializer.Deserialize(bytes, BenchJson.Default.SearchOutcome)!.Items.Count);
                var outcome = await Search(q, ct);
                await plain.SetAsync(key, JsonSerializer.SerializeToUtf8Bytes(outcome, BenchJson.Default.SearchOutcome), plainTtl, ct);
                return TypedResults.Ok(outcome.Items.Count);
            });
            app.MapGet("/bench/search/shopcache", async (string q, ProductCache products, CancellationToken ct) =>
                TypedResults.Ok((await products.SearchAsync(q, null, t => Search(q, t), ct)).Items.Count));
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>Steady = the half before the storm; storm = the half from the storm on.</summary>
    public sealed record Result(string Variant, long Requests, long Errors, long SteadyRequests, long SteadyDb, long StormRequests, long StormDb,
        long BurstDb, double Seconds, int PeakDbPerSecond, double SteadyP95Ms, double StormP95Ms, double P99Ms)
    {
        public const string Header = "| variant | requests | errors | hit rate steady | hit rate storm half | DB queries/s | peak DB queries/s (1 s) | DB queries for the 10 burst keys (ideal 10) | p95 ms steady | p95 ms storm half | p99 ms all |";
        public const string Rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

        public double DbPerSecond => (SteadyDb + StormDb) / Seconds;

        private string Rate(long requests, long db) =>
            Variant == "none" ? "–" : string.Create(CultureInfo.InvariantCulture, $"{100.0 * (requests - db) / Math.Max(1, requests):0.00} %");

        public string Row() => string.Create(CultureInfo.InvariantCulture,
            $"| {Variant} | {Requests} | {Errors} | {Rate(SteadyRequests, SteadyDb)} | {Rate(StormRequests, StormDb)} | {DbPerSecond:0.0} | {PeakDbPerSecond} | {BurstDb} | {SteadyP95Ms:0.00} | {StormP95Ms:0.00} | {P99Ms:0.00} |");
    }

    /// <summary>Open-loop load: requests start on a fixed schedule whatever the latency (no coordinated omission).</summary>
    public static class Load
    {
        public static async Task<Result> RunAsync(Instance[] instances, string variant, List<QueryPopularity> queries, int rate, TimeSpan duration,
            Func<Task<long>>? storm, int seed)
        {
            var cdf = new double[queries.Count];
            double sum = 0;
            for (var i = 0; i < queries.Count; i++) cdf[i] = sum += queries[i].Popularity;
            var random = new Random(seed);
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
            {
                Timeout = TimeSpan.FromSeconds(30),
            };
            var steadyLatencies = new ConcurrentBag<double>();
            var stormLatencies = new ConcurrentBag<double>();
            long dbAtStorm = 0;
            long burstDb = 0;
            long errors = 0;
            var inFlight = new List<Task>();
            var total = (int)(rate * duration.TotalSeconds);
            var stormAt = total / 2;
            var start = Stopwatch.GetTimestamp();
            for (var n = 0; n < total; n++)
            {
                if (n == stormAt)
                {
                    dbAtStorm = Catalog.DbQueries;
                    // Scheduled load goes on while the burst runs (open loop): the burst is not awaited here.
                    if (storm is not null) inFlight.Add(Task.Run(async () => burstDb = await storm()));
                }
                var latencies = n < stormAt ? steadyLatencies : stormLatencies;
                var due = TimeSpan.FromSeconds((double)n / rate) - Stopwatch.GetElapsedTime(start);
                if (due > TimeSpan.FromMilliseconds(1)) await Task.Delay(due);
                var pick = Array.BinarySearch(cdf, random.NextDouble() * sum);
                var q = queries[Math.Min(pick >= 0 ? pick : ~pick, queries.Count - 1)].Query;
                var uri = new Uri(instances[n % instances.Length].Address, $"/bench/search/{variant}?q={Uri.EscapeDataString(q)}");
                inFlight.Add(Task.Run(async () =>
                {
                    var t0 = Stopwatch.GetTimestamp();
                    try
                    {
                        using var res = await http.GetAsync(uri);
                        await res.Content.ReadAsByteArrayAsync();
                        if (!res.IsSuccessStatusCode) Interlocked.Increment(ref errors);
                    }
                    catch (HttpRequestException)
                    {
                        Interlocked.Increment(ref errors);
                    }
                    catch (TaskCanceledException)
                    {
                        Interlocked.Increment(ref errors);
                    }
                    latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }));
            }
            await Task.WhenAll(inFlight);
            var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            static double P(IEnumerable<double> values, double p)
            {
                var sorted = values.Order().ToArray();
                return sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
            }
            return new Result(variant, total, Interlocked.Read(ref errors), stormAt, dbAtStorm, total - stormAt, Catalog.DbQueries - dbAtStorm,
                burstDb, seconds, Catalog.PeakPerSecond, P(steadyLatencies, 0.95), P(stormLatencies, 0.95), P(steadyLatencies.Concat(stormLatencies), 0.99));
        }
    }
}
