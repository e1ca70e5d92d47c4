using System.Buffers;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace ShopGpt.Bench;

/// <summary>
/// ShopGPT side of `./shopgpt bench fanout`: per conversation one guest owner (REST on
/// instance c % 2), its followers are WebSocket connections of the same user (tickets work on
/// any instance) spread over the instances, each `sub`s the conversation; messages are
/// published with REST POST /api/conversations/{id}/messages (stored, then fanned out).
/// args: fanout --urls U1,U2 --pids P1,P2 --label L [--conversations 300] [--followers 10] [--seconds 15] [--closed 32]
/// </summary>
internal static class FanoutBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var urls = FanoutCore.Get(args, "--urls").Split(',').Select(u => new Uri(u)).ToArray();
        if (urls.Any(u => !u.IsLoopback)) throw new ArgumentException("benchmarks only target loopback addresses");
        var pids = FanoutCore.Get(args, "--pids").Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        var label = FanoutCore.Get(args, "--label");
        var convs = int.Parse(FanoutCore.Get(args, "--conversations", "300"), CultureInfo.InvariantCulture);
        var followers = int.Parse(FanoutCore.Get(args, "--followers", "10"), CultureInfo.InvariantCulture);
        var seconds = int.Parse(FanoutCore.Get(args, "--seconds", "15"), CultureInfo.InvariantCulture);
        var closed = int.Parse(FanoutCore.Get(args, "--closed", "32"), CultureInfo.InvariantCulture);
        var core = new FanoutCore(convs, followers, pids);

        var http = urls.Select(u => new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = u, Timeout = TimeSpan.FromSeconds(30) }).ToArray();
        var owners = new (string Token, Guid Cid)[convs];
        await Parallel.ForAsync(0, convs, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (c, ct) =>
        {
            var h = http[c % http.Length];
            var auth = await (await h.PostAsync("/api/auth/guest", null, ct)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(ct);
            var token = auth.GetProperty("token").GetString()!;
            using var req = new HttpRequestMessage(HttpMethod.Post, "/api/conversations") { Content = JsonContent.Create(new { title = "fanout" }) };
            req.Headers.Authorization = new("Bearer", token);
            var conv = await (await h.SendAsync(req, ct)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(ct);
            owners[c] = (token, conv.GetProperty("id").GetGuid());
        });

        var sockets = new List<WebSocket>();
        await core.ConnectAsync(urls.Length, async (c, inst) =>
        {
            var h = http[inst];
            using var t = new HttpRequestMessage(HttpMethod.Post, "/api/realtime/ticket");
            t.Headers.Authorization = new("Bearer", owners[c].Token);
            var ticket = await (await h.SendAsync(t)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
            var ws = new ClientWebSocket();
            ws.Options.KeepAliveInterval = TimeSpan.Zero;
            var q = $"ticket={Uri.EscapeDataString(ticket.GetProperty("ticket").GetString()!)}";
            await ws.ConnectAsync(new UriBuilder(urls[inst]) { Scheme = "ws", Path = "/ws", Query = q }.Uri, CancellationToken.None);
            await ws.SendAsync(Encoding.UTF8.GetBytes($"{{\"t\":\"sub\",\"cid\":\"{owners[c].Cid}\"}}"), WebSocketMessageType.Text, true, CancellationToken.None);
            var subscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _ = Task.Run(() => ReadLoop(ws, core, subscribed));
            await subscribed.Task.WaitAsync(TimeSpan.FromSeconds(30));
            lock (sockets) sockets.Add(ws);
        });

        Console.WriteLine(FanoutCore.Header);
        var n = 0L;
        await core.RunRowsAsync(label, TimeSpan.FromSeconds(seconds), closed, async (c, text) =>
        {
            var h = http[c % http.Length];
            using var req = new HttpRequestMessage(HttpMethod.Post, $"/api/conversations/{owners[c].Cid}/messages")
            {
                Content = JsonContent.Create(new { text, clientId = "f" + Interlocked.Increment(ref n).ToString(CultureInfo.InvariantCulture) }),
            };
            req.Headers.Authorization = new("Bearer", owners[c].Token);
            using var res = await h.SendAsync(req);
            return res.IsSuccessStatusCode;
        });
        foreach (var ws in sockets) ws.Abort();
        return 0;
    }

    // A server message is one frame object or an array of frames (docs/protocol.md §3).
    private static async Task ReadLoop(WebSocket ws, FanoutCore core, TaskCompletionSource subscribed)
    {
        var buf = new ArrayBufferWriter<byte>(8192);
        try
        {
            while (ws.State == WebSocketState.Open)
            {
                buf.ResetWrittenCount();
                ValueWebSocketReceiveResult r;
                do
                {
                    r = await ws.ReceiveAsync(buf.GetMemory(8192), CancellationToken.None);
                    buf.Advance(r.Count);
                } while (!r.EndOfMessage);
                if (r.MessageType == WebSocketMessageType.Close) break;
                using var doc = JsonDocument.Parse(buf.WrittenMemory);
                if (doc.RootElement.ValueKind == JsonValueKind.Array)
                    foreach (var f in doc.RootElement.EnumerateArray()) Frame(f, core, subscribed);
                else Frame(doc.RootElement, core, subscribed);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or JsonException)
        {
        }
        subscribed.TrySetException(new WebSocketException("closed before subscribed"));
    }

    private static void Frame(JsonElement f, FanoutCore core, TaskCompletionSource subscribed)
    {
        switch (f.GetProperty("t").GetString())
        {
            case "msg":
                core.Delivered(f.GetProperty("text").GetString() ?? "");
                break;
            case "subscribed":
                subscribed.TrySetResult();
                break;
            case "err":
                Console.Error.WriteLine($"err frame: {f.GetRawText()}");
                break;
        }
    }
}
