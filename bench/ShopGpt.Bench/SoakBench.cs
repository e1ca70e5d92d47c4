using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;

namespace ShopGpt.Bench;

/// <summary>
/// `./shopgpt bench soak --minutes N` (issue 9): a moderate, fixed-rate mix of REST (list, send,
/// product search) and WebSocket traffic (sends that start assistant answers, followed live by
/// every user's socket) against one server process, sampling the server every few seconds —
/// RSS (/proc/PID/status), GC heap, thread-pool threads, open connections, requests and errors
/// (/metrics) — into a CSV. The summary compares idle memory before the load, at its end, and
/// idle again after it (the leak check), and the least-squares memory slope over the second half.
/// </summary>
public static class SoakBench
{
    private const int Users = 20;
    private static readonly string[] Questions =
    [
        "wireless headphones under $200", "samsung galaxy case", "cheapest usb-c charger", "laptop backpack", "bluetooth speaker",
        "gaming mouse", "4k monitor under 400", "running shoes", "coffee maker", "phone case by otterbox",
    ];

    public static async Task<int> RunAsync(Uri server, TimeSpan duration, int pid, string csvPath, TimeSpan sampleEvery)
    {
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 64, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        using var http = new HttpClient(handler) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(30) };
        var counters = new Counters();

        Console.Error.WriteLine($"soak: {Users} users, each with a WebSocket and 2 conversations; {duration.TotalMinutes:0.#} min; sampling every {sampleEvery.TotalSeconds:0} s");
        // The server seeds the catalog on its first start: wait until search finds products, so
        // the baseline is not taken in the middle of the import.
        var ready = Stopwatch.StartNew();
        while (true)
        {
            var probe = await SoakUser.CreateAsync(server, http, counters);
            using var req = new HttpRequestMessage(HttpMethod.Get, "/api/products/search?q=phone&limit=1");
            req.Headers.Authorization = new("Bearer", probe.Token);
            using var res = await http.SendAsync(req);
            var found = res.IsSuccessStatusCode && (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items").GetArrayLength() > 0;
            await probe.DisposeAsync();
            if (found) break;
            if (ready.Elapsed > TimeSpan.FromMinutes(10)) throw new TimeoutException("the catalog was not seeded within 10 minutes");
            await Task.Delay(TimeSpan.FromSeconds(2));
        }
        Console.Error.WriteLine($"soak: catalog ready after {ready.Elapsed.TotalSeconds:0} s");
        var users = new List<SoakUser>();
        for (var i = 0; i < Users; i++) users.Add(await SoakUser.CreateAsync(server, http, counters));

        // Idle baseline after a short warm-up (JIT, pools): the same mix for 20 s, then quiet.
        var sampler = new Sampler(http, pid);
        await RunMixAsync(users, http, counters, TimeSpan.FromSeconds(20));
        await Task.Delay(TimeSpan.FromSeconds(5));
        var baseline = await sampler.SampleAsync(0, counters);
        counters.Reset();   // the summary counts the measured run only, not the warm-up
        await sampler.SampleAsync(0, counters);

        var rows = new List<Sample>();
        var load = RunMixAsync(users, http, counters, duration);
        var sw = Stopwatch.StartNew();
        await using (var csv = new StreamWriter(csvPath, append: false))
        {
            await csv.WriteLineAsync(Sample.Header);
            using var tick = new PeriodicTimer(sampleEvery);
            while (!load.IsCompleted)
            {
                await Task.WhenAny(tick.WaitForNextTickAsync().AsTask(), load);
                if (load.IsCompleted) break;   // the end of the load is not a sampling tick
                var s = await sampler.SampleAsync(sw.Elapsed.TotalSeconds, counters);
                rows.Add(s);
                await csv.WriteLineAsync(s.Row());
                await csv.FlushAsync();
                Console.Error.WriteLine($"  {s.Seconds,6:0}s rss {s.RssMb,6:0.0} MB  heap {s.GcHeapMb,6:0.0} MB  threads {s.PoolThreads,3}  ws {s.WsConnections,3}  rps {s.Rps,6:0.0}  errors {s.Errors}");
            }
            await load;
            // Quiet again: what memory settles to with no load (a leak keeps it up).
            await Task.Delay(TimeSpan.FromSeconds(15));
            var idle = await sampler.SampleAsync(sw.Elapsed.TotalSeconds, counters);
            rows.Add(idle);
            await csv.WriteLineAsync(idle.Row());

            var secondHalf = rows.Where(r => r.Seconds >= duration.TotalSeconds / 2 && r.Seconds <= duration.TotalSeconds).ToList();
            var slope = Slope(secondHalf.Select(r => (r.Seconds / 60, r.RssMb)).ToList());
            var heapSlope = Slope(secondHalf.Select(r => (r.Seconds / 60, r.GcHeapMb)).ToList());
            var underLoad = rows.Where(r => r.Seconds <= duration.TotalSeconds).ToList();
            Console.WriteLine("| measure | value |\n|---|---|");
            Console.WriteLine($"| duration | {duration.TotalMinutes:0.#} min, sampled every {sampleEvery.TotalSeconds:0} s ({rows.Count} samples) |");
            Console.WriteLine($"| traffic | {counters.Ok} ok requests/frames ({counters.Ok / duration.TotalSeconds:0.0}/s): REST {counters.Rest}, WS sends acked {counters.WsAcked}, assistant answers done {counters.AnswersDone}, live msg frames {counters.MsgFrames} |");
            Console.WriteLine($"| errors | {counters.Errors} (client side) + {idle.ServerErrors} server 5xx |");
            Console.WriteLine($"| RSS idle before / peak under load / idle after | {baseline.RssMb:0.0} / {underLoad.Max(r => r.RssMb):0.0} / {idle.RssMb:0.0} MB |");
            Console.WriteLine($"| GC heap idle before / peak under load / idle after | {baseline.GcHeapMb:0.0} / {underLoad.Max(r => r.GcHeapMb):0.0} / {idle.GcHeapMb:0.0} MB |");
            Console.WriteLine($"| RSS trend, second half | {slope:+0.00;-0.00} MB/min (GC heap {heapSlope:+0.00;-0.00} MB/min) |");
            Console.WriteLine($"| thread-pool threads min / max | {underLoad.Min(r => r.PoolThreads)} / {underLoad.Max(r => r.PoolThreads)} |");
            Console.WriteLine($"| WebSockets open at end | {idle.WsConnections} of {Users} |");
        }
        foreach (var u in users) await u.DisposeAsync();
        return counters.Errors == 0 ? 0 : 1;
    }

    /// <summary>Fixed rates (per second): 10 conversation lists, 4 REST sends, 4 searches, 2 WebSocket questions (→ 2 assistant answers).</summary>
    private static Task RunMixAsync(List<SoakUser> users, HttpClient http, Counters counters, TimeSpan duration)
    {
        var rnd = new Random(42);
        Task Every(double perSecond, Func<int, Task> action) => Task.Run(async () =>
        {
            using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1 / perSecond));
            var sw = Stopwatch.StartNew();
            var inFlight = new List<Task>();
            for (var n = 0; sw.Elapsed < duration && await tick.WaitForNextTickAsync(); n++)
            {
                inFlight.Add(action(n));
                inFlight.RemoveAll(t => t.IsCompleted);
            }
            await Task.WhenAll(inFlight);
        });
        async Task Rest(SoakUser u, Func<HttpRequestMessage> make)
        {
            try
            {
                using var req = make();
                req.Headers.Authorization = new("Bearer", u.Token);
                using var res = await http.SendAsync(req);
                if (res.IsSuccessStatusCode) counters.RestOk(); else counters.Error();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                counters.Error();
            }
        }
        return Task.WhenAll(
            Every(10, n => Rest(users[n % Users], () => new HttpRequestMessage(HttpMethod.Get, "/api/conversations?limit=20"))),
            Every(4, n =>
            {
                var u = users[n % Users];
                return Rest(u, () => new HttpRequestMessage(HttpMethod.Post, $"/api/conversations/{u.Conversations[1]}/messages")
                {
                    Content = JsonContent.Create(new { text = "soak note", clientId = $"rest-{Guid.NewGuid():N}" }),
                });
            }),
            Every(4, n => Rest(users[n % Users], () => new HttpRequestMessage(HttpMethod.Get, $"/api/products/search?q={Uri.EscapeDataString(Questions[n % Questions.Length])}&limit=5"))),
            Every(2, n =>
            {
                int pick;
                lock (rnd) pick = rnd.Next(Questions.Length);
                return users[n % Users].AskAsync(Questions[pick]);
            }));
    }

    private static double Slope(List<(double X, double Y)> points)
    {
        if (points.Count < 2) return 0;
        var mx = points.Average(p => p.X);
        var my = points.Average(p => p.Y);
        var den = points.Sum(p => (p.X - mx) * (p.X - mx));
        return den == 0 ? 0 : points.Sum(p => (p.X - mx) * (p.Y - my)) / den;
    }

    private sealed class Counters
    {
        private long rest, wsAcked, answersDone, msgFrames, errors;

        public long Rest => Interlocked.Read(ref rest);
        public long WsAcked => Interlocked.Read(ref wsAcked);
        public long AnswersDone => Interlocked.Read(ref answersDone);
        public long MsgFrames => Interlocked.Read(ref msgFrames);
        public long Errors => Interlocked.Read(ref errors);
        public long Ok => Rest + WsAcked;

        public void Reset()
        {
            Interlocked.Exchange(ref rest, 0);
            Interlocked.Exchange(ref wsAcked, 0);
            Interlocked.Exchange(ref answersDone, 0);
            Interlocked.Exchange(ref msgFrames, 0);
            Interlocked.Exchange(ref errors, 0);
        }

        public void RestOk() => Interlocked.Increment(ref rest);
        public void Acked() => Interlocked.Increment(ref wsAcked);
        public void Done() => Interlocked.Increment(ref answersDone);
        public void Msg() => Interlocked.Increment(ref msgFrames);
        public void Error() => Interlocked.Increment(ref errors);
    }

    /// <summary>One shopper: a guest token, two conversations and a WebSocket following both.</summary>
    private sealed class SoakUser : IAsyncDisposable
    {
        private readonly ClientWebSocket ws = new();
        private readonly Counters counters;
        private Task? reader;
        private long sent;

        private SoakUser(string token, Guid[] conversations, Counters counters)
        {
            Token = token;
            Conversations = conversations;
            this.counters = counters;
        }

        public string Token { get; }

        public Guid[] Conversations { get; }

        public static async Task<SoakUser> CreateAsync(Uri server, HttpClient http, Counters counters)
        {
            var guest = await (await http.PostAsync("/api/auth/guest", null)).Content.ReadFromJsonAsync<JsonElement>();
            var token = guest.GetProperty("token").GetString()!;
            var ids = new Guid[2];
            for (var i = 0; i < 2; i++)
            {
                using var req = new HttpRequestMessage(HttpMethod.Post, "/api/conversations") { Content = JsonContent.Create(new { title = $"soak {i}" }) };
                req.Headers.Authorization = new("Bearer", token);
                using var res = await http.SendAsync(req);
                ids[i] = (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
            }
            var u = new SoakUser(token, ids, counters);
            using (var req = new HttpRequestMessage(HttpMethod.Post, "/api/realtime/ticket"))
            {
                req.Headers.Authorization = new("Bearer", token);
                using var res = await http.SendAsync(req);
                var ticket = (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("ticket").GetString()!;
                await u.ws.ConnectAsync(new UriBuilder(server) { Scheme = "ws", Path = "/ws", Query = "ticket=" + Uri.EscapeDataString(ticket) }.Uri, CancellationToken.None);
            }
            u.reader = Task.Run(u.ReadAsync);
            foreach (var cid in ids) await u.SendFrameAsync(new { t = "sub", cid });
            return u;
        }

        public async Task AskAsync(string text)
        {
            var n = Interlocked.Increment(ref sent);
            try
            {
                await SendFrameAsync(new { t = "send", cid = Conversations[0], @ref = $"q-{n}", text });
            }
            catch (Exception e) when (e is WebSocketException or ObjectDisposedException or InvalidOperationException)
            {
                counters.Error();
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (ws.State == WebSocketState.Open) await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                if (reader is not null) await reader.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is WebSocketException or TimeoutException)
            {
            }
            ws.Dispose();
        }

        private readonly SemaphoreSlim sendGate = new(1, 1);

        private async Task SendFrameAsync(object frame)
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(frame);
            await sendGate.WaitAsync();
            try
            {
                await ws.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None);
            }
            finally
            {
                sendGate.Release();
            }
        }

        private async Task ReadAsync()
        {
            var buffer = new byte[64 * 1024];
            using var message = new MemoryStream();
            try
            {
                while (true)
                {
                    var r = await ws.ReceiveAsync(buffer, CancellationToken.None);
                    if (r.MessageType == WebSocketMessageType.Close) return;
                    message.Write(buffer, 0, r.Count);
                    if (!r.EndOfMessage) continue;
                    using var doc = JsonDocument.Parse(message.ToArray());
                    message.SetLength(0);
                    var root = doc.RootElement;
                    if (root.ValueKind == JsonValueKind.Array)
                        foreach (var f in root.EnumerateArray()) Count(f);
                    else Count(root);
                }
            }
            catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
            {
                counters.Error();   // the server dropped a connection during the soak
            }
        }

        private void Count(JsonElement f)
        {
            switch (f.TryGetProperty("t", out var t) ? t.GetString() : null)
            {
                case "ack": counters.Acked(); break;
                case "done": counters.Done(); break;
                case "msg": counters.Msg(); break;
                case "err": counters.Error(); break;
            }
        }
    }

    private sealed record Sample(double Seconds, double RssMb, double GcHeapMb, int PoolThreads, int WsConnections, int HttpConnections, double Rps, long Errors, long ServerErrors)
    {
        public const string Header = "seconds,rss_mb,gc_heap_mb,threadpool_threads,ws_connections,kestrel_connections,ok_per_second,errors_total,server_5xx_total";

        public string Row() => string.Create(CultureInfo.InvariantCulture,
            $"{Seconds:0.0},{RssMb:0.0},{GcHeapMb:0.0},{PoolThreads},{WsConnections},{HttpConnections},{Rps:0.0},{Errors},{ServerErrors}");
    }

    /// <summary>Reads the server: RSS from /proc, the rest from its Prometheus /metrics.</summary>
    private sealed class Sampler(HttpClient http, int pid)
    {
        private long lastOk;
        private double lastAt;

        public async Task<Sample> SampleAsync(double seconds, Counters counters)
        {
            var rssKb = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            var metrics = await http.GetStringAsync(ManagementPort.MetricsUri(http));
            var ok = counters.Ok;
            var rps = seconds > lastAt ? (ok - lastOk) / (seconds - lastAt) : 0;
            (lastOk, lastAt) = (ok, seconds);
            return new Sample(seconds, long.Parse(rssKb, CultureInfo.InvariantCulture) / 1024.0,
                Sum(metrics, "dotnet_gc_last_collection_heap_size_bytes") / 1024 / 1024,
                (int)Sum(metrics, "dotnet_thread_pool_thread_count_total"),
                (int)Sum(metrics, "shopgpt_realtime_connections"),
                (int)Sum(metrics, "kestrel_active_connections"),
                rps, counters.Errors,
                (long)SumWhere(metrics, "http_server_request_duration_seconds_count", "http_response_status_code=\"5"));
        }

        /// <summary>Sum of every series of a metric (all tag combinations).</summary>
        private static double Sum(string metrics, string name) => SumWhere(metrics, name, null);

        private static double SumWhere(string metrics, string name, string? contains)
        {
            double total = 0;
            foreach (var line in metrics.Split('\n'))
            {
                if (!line.StartsWith(name, StringComparison.Ordinal) || line.Length <= name.Length || (line[name.Length] != ' ' && line[name.Length] != '{')) continue;
                if (contains is not null && !line.Contains(contains, StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // "name{tags} value [timestamp]": the value follows the closing brace.
                var value = line.Contains('}', StringComparison.Ordinal) ? line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0] : parts[1];
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) total += v;
            }
            return total;
        }
    }
}
