using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace ShopGpt.Bench;

/// <summary>
/// The floor row of `./shopgpt bench fanout`: the least work a server can do for the bench's
/// ShopGPT client, to measure what this machine lets ANY fan-out server deliver with this load
/// generator beside it. One process (every follower local: no second instance, no Redis), no
/// accounts (any token, ticket or id is accepted), nothing stored, no limits; a `send` becomes
/// one pre-encoded `msg` frame of the product's shape written to every follower, then an `ack`.
/// It is not a product and must never be one: it is the upper bound the 2× target is held to
/// (docs/benchmarks.md, "the floor").
/// </summary>
internal static class FloorServer
{
    public static async Task<int> RunAsync(string port)
    {
        var app = BenchHost.Create(port);
        var topics = new ConcurrentDictionary<Guid, List<WebSocket>>();
        long seq = 0;
        app.MapPost("/api/auth/guest", () => Results.Json(new { token = Guid.NewGuid().ToString("N") }));
        app.MapPost("/api/conversations", () => Results.Json(new { id = Guid.NewGuid() }));
        app.MapPost("/api/realtime/ticket", () => Results.Json(new { ticket = Guid.NewGuid().ToString("N") }));
        app.Map("/ws", async (HttpContext ctx) =>
        {
            if (!ctx.WebSockets.IsWebSocketRequest)
            {
                ctx.Response.StatusCode = 400;
                return;
            }
            using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[8192];
            var pending = new List<Task>();
            try
            {
                while (true)
                {
                    var n = 0;
                    ValueWebSocketReceiveResult r;
                    do
                    {
                        r = await ws.ReceiveAsync(buffer.AsMemory(n), CancellationToken.None);
                        n += r.Count;
                    } while (!r.EndOfMessage && n < buffer.Length);
                    if (r.MessageType == WebSocketMessageType.Close) break;
                    using var doc = JsonDocument.Parse(buffer.AsMemory(0, n));
                    var f = doc.RootElement;
                    var cid = f.GetProperty("cid").GetGuid();
                    switch (f.GetProperty("t").GetString())
                    {
                        case "sub":
                            var list = topics.GetOrAdd(cid, _ => []);
                            lock (list) list.Add(ws);
                            await ws.SendAsync(Encoding.UTF8.GetBytes($"{{\"t\":\"subscribed\",\"cid\":\"{cid}\",\"lastSeq\":null,\"replayed\":0,\"complete\":true}}"),
                                WebSocketMessageType.Text, true, CancellationToken.None);
                            break;
                        case "send":
                            // The product's msg frame shape and size; encoded once for every follower.
                            var msg = JsonSerializer.SerializeToUtf8Bytes(new
                            {
                                t = "msg", cid, id = Guid.CreateVersion7(), seq = Interlocked.Increment(ref seq), role = "user",
                                text = f.GetProperty("text").GetString(), createdAt = DateTimeOffset.UtcNow,
                            });
                            WebSocket[] followers;
                            lock (topics[cid]) followers = [.. topics[cid]];
                            // A follower's frames all come from this loop (its conversation's one
                            // sender), so one send per socket is in flight at a time.
                            foreach (var s in followers)
                            {
                                var sent = s.SendAsync(msg.AsMemory(), WebSocketMessageType.Text, true, CancellationToken.None);
                                if (!sent.IsCompletedSuccessfully) pending.Add(sent.AsTask());
                            }
                            await Task.WhenAll(pending);
                            pending.Clear();
                            await ws.SendAsync(Encoding.UTF8.GetBytes($"{{\"t\":\"ack\",\"ref\":\"{f.GetProperty("ref").GetString()}\",\"id\":\"{Guid.Empty}\",\"seq\":0}}").AsMemory(),
                                WebSocketMessageType.Text, true, CancellationToken.None);
                            break;
                    }
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
            {
                // The bench aborts its sockets at the end.
            }
        });
        await app.RunAsync();
        return 0;
    }
}
