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
/// published (stored, then fanned out) either with the WebSocket `send` frame on the
/// conversation's follower connection on instance c % 2 (--via ws, the web client's path; the
/// server waits for the commit and answers `ack`) or with REST POST /api/conversations/{id}/messages
/// on instance c % 2 (--via rest).
/// args: fanout --urls U1,U2 --pids P1,P2 --label L [--via ws|rest] [--conversations 300] [--followers 10] [--seconds 15] [--closed 32]
/// </summary>
internal static class FanoutBench
{
    private static int errFrames;

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
        var via = FanoutCore.Get(args, "--via", "ws");
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
        var senders = new WsSender?[convs];
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
            var sender = new WsSender(ws);
            _ = Task.Run(() => ReadLoop(ws, core, subscribed, sender));
            await subscribed.Task.WaitAsync(TimeSpan.FromSeconds(30));
            lock (sockets)
            {
                sockets.Add(ws);
                // The conversation's sending connection: its first follower on instance c % instances.
                if (inst == c % urls.Length) senders[c] ??= sender;
            }
        });

        Console.WriteLine(FanoutCore.Header);
        var n = 0L;
        if (via == "ws")
        {
            await core.RunRowsAsync(label, TimeSpan.FromSeconds(seconds), closed, (c, text) =>
                senders[c] is { } s ? s.SendAsync(owners[c].Cid, "f" + Interlocked.Increment(ref n).ToString(CultureInfo.InvariantCulture), text) : Task.FromResult(false));
        }
        else
        {
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
        }
        foreach (var ws in sockets) ws.Abort();
        return 0;
    }

    // A server message is one frame object or an array of frames (docs/protocol.md §3).
    private static async Task ReadLoop(WebSocket ws, FanoutCore core, TaskCompletionSource subscribed, WsSender sender)
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
                    foreach (var f in doc.RootElement.EnumerateArray()) Frame(f, core, subscribed, sender);
                else Frame(doc.RootElement, core, subscribed, sender);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or JsonException)
        {
        }
        subscribed.TrySetException(new WebSocketException("closed before subscribed"));
        sender.Closed();
    }

    private static void Frame(JsonElement f, FanoutCore core, TaskCompletionSource subscribed, WsSender sender)
    {
        switch (f.GetProperty("t").GetString())
        {
            case "ack":
                sender.Answered(f.GetProperty("ref").GetString(), true);
                break;
            case "msg":
                core.Delivered(f.GetProperty("text").GetString() ?? "");
                break;
            case "subscribed":
                subscribed.TrySetResult();
                break;
            case "err":
                if (f.TryGetProperty("ref", out var r) && r.ValueKind == JsonValueKind.String) sender.Answered(r.GetString(), false);
                if (Interlocked.Increment(ref errFrames) <= 5) Console.Error.WriteLine($"err frame: {f.GetRawText()}");
                break;
        }
    }
}

/// <summary>
/// Sends `send` frames on one follower connection and completes each when its `ack` (or `err`)
/// with the same ref arrives. One WebSocket send at a time per connection (the client API
/// allows no concurrent sends); the server handles a connection's frames in order anyway.
/// </summary>
internal sealed class WsSender(WebSocket ws)
{
    private readonly SemaphoreSlim sendLock = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource<bool>> pending = new();

    public async Task<bool> SendAsync(Guid cid, string reference, string text)
    {
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending[reference] = done;
        var frame = Encoding.UTF8.GetBytes($"{{\"t\":\"send\",\"cid\":\"{cid}\",\"ref\":\"{reference}\",\"text\":\"{text}\"}}");
        await sendLock.WaitAsync();
        try
        {
            await ws.SendAsync(frame, WebSocketMessageType.Text, true, CancellationToken.None);
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException)
        {
            pending.TryRemove(reference, out _);
            return false;
        }
        finally
        {
            sendLock.Release();
        }
        try
        {
            return await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            pending.TryRemove(reference, out _);
            return false;
        }
    }

    public void Answered(string? reference, bool ok)
    {
        if (reference is not null && pending.TryRemove(reference, out var t)) t.TrySetResult(ok);
    }

    public void Closed()
    {
        foreach (var key in pending.Keys)
            if (pending.TryRemove(key, out var t)) t.TrySetResult(false);
    }
}
