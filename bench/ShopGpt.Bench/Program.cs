using System.Buffers;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

// ./shopgpt bench ws drives this: an echo server (the baseline) and idle-connection clients.
// Load generators for ./shopgpt bench <name>. Traffic goes to 127.0.0.0/8 only, is bounded in
// count and time, and stops by itself.
return args.FirstOrDefault() switch
{
    "rest" => await RestMain(args),
    // soak <url> <minutes> <server pid> <csv path> [sample seconds]
    "soak" => await ShopGpt.Bench.SoakBench.RunAsync(new Uri(args[1]),
        TimeSpan.FromMinutes(double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture)),
        int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture), args[4],
        TimeSpan.FromSeconds(args.Length > 5 ? double.Parse(args[5], System.Globalization.CultureInfo.InvariantCulture) : 5)),
    "echo-server" => await EchoServer.RunAsync(Arg(args, "--port", "5099")),
    "idle" => await IdleClients.RunAsync(args),
    "fanout" => await ShopGpt.Bench.FanoutBench.RunAsync(args),
    // floor-server --port P: the fan-out bench's floor row (FloorServer.cs)
    "floor-server" => await ShopGpt.Bench.FloorServer.RunAsync(Arg(args, "--port", "18509")),
    _ => Usage(),
};

// rest <server-url> [conversations] [listRate] [sendRate] [seconds]
static async Task<int> RestMain(string[] args)
{
    var server = new Uri(args.Length > 1 ? args[1] : "http://127.0.0.1:18180");
    if (!server.IsLoopback) throw new ArgumentException("benchmarks only target loopback addresses");
    return await ShopGpt.Bench.RestBench.RunAsync(server,
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1000,
        args.Length > 3 ? double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 1000,
        args.Length > 4 ? double.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture) : 200,
        TimeSpan.FromSeconds(args.Length > 5 ? int.Parse(args[5], System.Globalization.CultureInfo.InvariantCulture) : 20));
}

static int Usage()
{
    Console.Error.WriteLine("usage: ShopGpt.Bench echo-server --port P | idle --base URL --kind shopgpt|echo --count N --source 127.10.X --dir D --name NAME");
    return 2;
}

static string Arg(string[] args, string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

/// <summary>The bench's own minimal servers (echo baseline, fan-out floor): Kestrel on loopback, WebSockets, /healthz.</summary>
internal static class BenchHost
{
    public static WebApplication Create(string port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        app.UseWebSockets();
        app.MapGet("/healthz", () => "ok");
        return app;
    }
}

/// <summary>The reference point: a minimal Kestrel WebSocket echo server with zero-byte reads.</summary>
internal static class EchoServer
{
    public static async Task<int> RunAsync(string port)
    {
        var app = BenchHost.Create(port);
        app.Map("/ws", async (HttpContext ctx) =>
        {
            if (!ctx.WebSockets.IsWebSocketRequest)
            {
                ctx.Response.StatusCode = 400;
                return;
            }
            using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
            while (ws.State == WebSocketState.Open)
            {
                var first = await ws.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                if (first.MessageType == WebSocketMessageType.Close) break;
                var buffer = ArrayPool<byte>.Shared.Rent(4096);
                try
                {
                    var r = await ws.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                    if (r.MessageType == WebSocketMessageType.Close) break;
                    await ws.SendAsync(buffer.AsMemory(0, r.Count), r.MessageType, r.EndOfMessage, CancellationToken.None);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        });
        await app.RunAsync();
        return 0;
    }
}

/// <summary>
/// One load-generator process: N idle connections from source addresses 127.10.X.* (each
/// address has its own ephemeral port range). For ShopGPT every connection is authenticated
/// (guest user, one-time ticket) and subscribed to a conversation before it goes idle.
/// Files in --dir coordinate the processes: NAME.ready after setup, go to start, NAME.open after.
/// </summary>
internal static class IdleClients
{
    public static async Task<int> RunAsync(string[] args)
    {
        var baseUrl = new Uri(Get(args, "--base"));
        var kind = Get(args, "--kind");
        var count = int.Parse(Get(args, "--count"));
        var source = Get(args, "--source");
        var dir = Get(args, "--dir");
        var name = Get(args, "--name");
        const int perUser = 5;

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(60) };
        var plan = new (string? Ticket, Guid Cid)[count];
        if (kind == "shopgpt")
        {
            var users = (count + perUser - 1) / perUser;
            await Parallel.ForAsync(0, users, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (u, ct) =>
            {
                var auth = await (await http.PostAsync("/api/auth/guest", null, ct)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(ct);
                var token = auth.GetProperty("token").GetString()!;
                using var req = new HttpRequestMessage(HttpMethod.Post, "/api/conversations") { Content = JsonContent.Create(new { title = "bench" }) };
                req.Headers.Authorization = new("Bearer", token);
                var conv = await (await http.SendAsync(req, ct)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(ct);
                var cid = conv.GetProperty("id").GetGuid();
                for (var k = 0; k < perUser && u * perUser + k < count; k++)
                {
                    using var t = new HttpRequestMessage(HttpMethod.Post, "/api/realtime/ticket");
                    t.Headers.Authorization = new("Bearer", token);
                    var ticket = await (await http.SendAsync(t, ct)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(ct);
                    plan[u * perUser + k] = (ticket.GetProperty("ticket").GetString(), cid);
                }
            });
        }
        await File.WriteAllTextAsync(Path.Combine(dir, name + ".ready"), "ready");
        while (!File.Exists(Path.Combine(dir, "go"))) await Task.Delay(100);

        var sockets = new WebSocket?[count];
        var failures = 0;
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
        {
            try
            {
                var local = IPAddress.Parse($"{source}.{1 + i % 200}");
                var handler = new SocketsHttpHandler
                {
                    ConnectCallback = async (ctx, c) =>
                    {
                        var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                        s.Bind(new IPEndPoint(local, 0));
                        await s.ConnectAsync(ctx.DnsEndPoint, c);
                        return new NetworkStream(s, ownsSocket: true);
                    },
                };
                var ws = new ClientWebSocket();
                ws.Options.KeepAliveInterval = TimeSpan.Zero;
                var q = plan[i].Ticket is { } t ? $"ticket={Uri.EscapeDataString(t)}" : "";
                await ws.ConnectAsync(new UriBuilder(baseUrl) { Scheme = "ws", Path = "/ws", Query = q }.Uri, new HttpMessageInvoker(handler), ct);
                if (kind == "shopgpt")
                {
                    await ws.SendAsync(Encoding.UTF8.GetBytes($"{{\"t\":\"sub\",\"cid\":\"{plan[i].Cid}\"}}"), WebSocketMessageType.Text, true, ct);
                    var buf = new byte[4096];
                    var seen = new StringBuilder();
                    while (!seen.ToString().Contains("\"subscribed\"", StringComparison.Ordinal))
                    {
                        var r = await ws.ReceiveAsync(buf, ct);
                        if (r.MessageType == WebSocketMessageType.Close) throw new WebSocketException("closed during setup");
                        seen.Append(Encoding.UTF8.GetString(buf, 0, r.Count));
                    }
                }
                sockets[i] = ws;
                // Keep reading with a zero-byte read so server pings are answered while idle.
                _ = Task.Run(async () =>
                {
                    var b = new byte[1024];
                    try
                    {
                        while (ws.State == WebSocketState.Open) await ws.ReceiveAsync(b, CancellationToken.None);
                    }
                    catch (WebSocketException)
                    {
                    }
                }, CancellationToken.None);
            }
            catch (Exception e) when (e is WebSocketException or HttpRequestException or SocketException or IOException)
            {
                if (Interlocked.Increment(ref failures) <= 3) Console.Error.WriteLine($"{name}: {e.GetType().Name}: {e.Message}");
            }
        });
        var open = sockets.Count(s => s is { State: WebSocketState.Open });
        await File.WriteAllTextAsync(Path.Combine(dir, name + ".open"), $"{open} {failures}\n");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }

    private static string Get(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"missing {name}");
    }
}
