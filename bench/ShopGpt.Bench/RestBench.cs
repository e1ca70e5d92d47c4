using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace ShopGpt.Bench;

/// <summary>
/// `./shopgpt bench rest`: conversation list (first and deep page) and REST send at fixed
/// rates, then the group-commit batcher's throughput under a closed-loop flood.
/// </summary>
public static class RestBench
{
    public static async Task<int> RunAsync(Uri server, int conversations, double listRate, double sendRate, TimeSpan duration)
    {
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        using var http = new HttpClient(handler) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(30) };

        var guest = await (await http.PostAsync("/api/auth/guest", null)).Content.ReadFromJsonAsync<JsonElement>();
        var token = guest.GetProperty("token").GetString()!;
        http.DefaultRequestHeaders.Authorization = new("Bearer", token);

        Console.Error.WriteLine($"seeding {conversations} conversations with one message each...");
        var ids = new Guid[conversations];
        await Parallel.ForEachAsync(Enumerable.Range(0, conversations), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
        {
            var c = await (await http.PostAsJsonAsync("/api/conversations", new { title = $"bench {i}" }, ct)).Content.ReadFromJsonAsync<JsonElement>(ct);
            ids[i] = c.GetProperty("id").GetGuid();
            (await http.PostAsJsonAsync($"/api/conversations/{ids[i]}/messages", new { text = $"hello {i}", clientId = $"seed-{i}" }, ct)).EnsureSuccessStatusCode();
        });

        // A cursor deep in the list: walk to item ~80 % of the way.
        string? deep = null;
        for (var walked = 0; walked < conversations * 4 / 5; walked += 100)
        {
            var page = await http.GetFromJsonAsync<JsonElement>($"/api/conversations?limit=100{(deep is null ? "" : "&cursor=" + deep)}");
            deep = page.GetProperty("nextCursor").GetString();
        }

        // Warm-up (JIT, pool, prepared statements) before measuring.
        for (var i = 0; i < 500; i++) (await http.GetAsync("/api/conversations?limit=20")).Dispose();

        var results = new List<RateResult>
        {
            await OpenLoop.RunAsync("GET /api/conversations (first page, limit 20)", listRate, duration, async _ =>
            {
                using var r = await http.GetAsync("/api/conversations?limit=20");
                return r.IsSuccessStatusCode;
            }),
            await OpenLoop.RunAsync($"GET /api/conversations (deep page at ~{conversations * 4 / 5}, limit 20)", listRate, duration, async _ =>
            {
                using var r = await http.GetAsync($"/api/conversations?limit=20&cursor={deep}");
                return r.IsSuccessStatusCode;
            }),
            await OpenLoop.RunAsync("POST /api/conversations/{id}/messages", sendRate, duration, async n =>
            {
                var cid = ids[n % ids.Length];
                using var r = await http.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { text = "bench message", clientId = $"b-{n}" });
                return r.IsSuccessStatusCode;
            }),
        };
        Console.WriteLine(RateResult.Header);
        foreach (var r in results) Console.WriteLine(r.Row());

        // Batcher throughput: closed loop, many concurrent senders over many conversations.
        var before = await ScrapeAsync(http);
        var sent = 0L;
        var sw = Stopwatch.StartNew();
        var flood = TimeSpan.FromSeconds(Math.Min(15, duration.TotalSeconds));
        await Parallel.ForEachAsync(Enumerable.Range(0, 256), new ParallelOptions { MaxDegreeOfParallelism = 256 }, async (w, ct) =>
        {
            var k = 0;
            while (sw.Elapsed < flood)
            {
                var cid = ids[(w * 7919 + k) % ids.Length];
                using var r = await http.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { text = "flood", clientId = $"f-{w}-{k++}" }, ct);
                if (r.IsSuccessStatusCode) Interlocked.Increment(ref sent);
            }
        });
        var elapsed = sw.Elapsed.TotalSeconds;
        var after = await ScrapeAsync(http);
        var committed = after.Committed - before.Committed;
        var batches = after.Batches - before.Batches;
        Console.WriteLine();
        Console.WriteLine($"REST send flood (256 concurrent clients, {flood.TotalSeconds:0} s): {sent / elapsed:0} acked sends/s; " +
                          $"batcher committed {committed / elapsed:0} msg/s in {batches} transactions (mean batch {(batches == 0 ? 0 : committed / (double)batches):0.0})");
        return 0;
    }

    private static async Task<(double Committed, double Batches)> ScrapeAsync(HttpClient http)
    {
        var text = await http.GetStringAsync(ManagementPort.MetricsUri(http));
        double Value(string prefix) => text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        return (Value("shopgpt_messaging_messages_committed_total"), Value("shopgpt_messaging_batch_size_count"));
    }
}
