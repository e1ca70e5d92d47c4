using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

/// <summary>
/// A WebSocket test client: a background loop receives messages, unpacks batched arrays into
/// frames and keeps them all; tests await a specific frame (with a timeout) or the close.
/// With <c>receiveBufferBytes</c> and <c>read: false</c> it is a client that stops reading.
/// </summary>
public sealed class WsClient : IAsyncDisposable
{
    private static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(20);
    private readonly ClientWebSocket ws;
    private readonly List<JsonElement> frames = [];
    private readonly TaskCompletionSource<WebSocketCloseStatus?> closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? loop;
    private Func<JsonElement, bool>? pauseWhen;
    private TaskCompletionSource? resume;
    private long deltas;

    private WsClient(ClientWebSocket ws)
    {
        this.ws = ws;
    }

    public WebSocket Socket => ws;

    /// <summary>When true, delta frames are only counted (a test streaming megabytes keeps no copies).</summary>
    public bool CountDeltasOnly { get; init; }

    public long DeltaCount => Interlocked.Read(ref deltas);

    public void ResetDeltaCount() => Interlocked.Exchange(ref deltas, 0);

    public JsonElement[] Frames
    {
        get
        {
            lock (frames) return [.. frames];
        }
    }

    /// <summary>Gets a ticket from <paramref name="app"/> with the user's token and connects to <paramref name="app"/>.</summary>
    public static async Task<WsClient> ConnectAsync(TestApp app, TestUser user, string? origin = null, int? receiveBufferBytes = null, bool read = true, bool countDeltasOnly = false)
    {
        var ticket = await TicketAsync(app, user);
        return await ConnectWithTicketAsync(app, ticket, origin, receiveBufferBytes, read, countDeltasOnly);
    }

    public static async Task<string> TicketAsync(TestApp app, TestUser user)
    {
        using var http = app.Client(user.Token);
        var res = await http.PostAsync("/api/realtime/ticket", null);
        res.EnsureSuccessStatusCode();
        return (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("ticket").GetString()!;
    }

    /// <summary>Ticket and upgrade against any server address (a child-process instance, a load balancer).</summary>
    public static async Task<WsClient> ConnectAsync(Uri baseAddress, string token)
    {
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var res = await http.PostAsync("/api/realtime/ticket", null);
        res.EnsureSuccessStatusCode();
        var ticket = (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("ticket").GetString()!;
        return await ConnectWithTicketAsync(baseAddress, ticket);
    }

    public static Task<WsClient> ConnectWithTicketAsync(TestApp app, string? ticket, string? origin = null, int? receiveBufferBytes = null, bool read = true, bool countDeltasOnly = false) =>
        ConnectWithTicketAsync(app.BaseAddress, ticket, origin, receiveBufferBytes, read, countDeltasOnly);

    public static async Task<WsClient> ConnectWithTicketAsync(Uri baseAddress, string? ticket, string? origin = null, int? receiveBufferBytes = null, bool read = true, bool countDeltasOnly = false)
    {
        var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        ws.Options.KeepAliveInterval = TimeSpan.Zero;
        if (origin is not null) ws.Options.SetRequestHeader("Origin", origin);
        var handler = new SocketsHttpHandler();
        if (receiveBufferBytes is { } size)
        {
            // A tiny kernel receive buffer makes "stops reading" felt by the server at once.
            handler.ConnectCallback = async (ctx, ct) =>
            {
                var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveBufferSize = size };
                await s.ConnectAsync(ctx.DnsEndPoint, ct);
                return new NetworkStream(s, ownsSocket: true);
            };
        }
        var uri = new UriBuilder(baseAddress) { Scheme = "ws", Path = "/ws", Query = ticket is null ? "" : $"ticket={Uri.EscapeDataString(ticket)}" }.Uri;
        await ws.ConnectAsync(uri, new HttpMessageInvoker(handler), CancellationToken.None);
        var c = new WsClient(ws) { CountDeltasOnly = countDeltasOnly };
        if (read) c.StartReading();
        return c;
    }

    /// <summary>Tries an upgrade that should be refused; returns the HTTP status and Retry-After.</summary>
    public static async Task<(HttpStatusCode Status, string? RetryAfter)> RefusedAsync(TestApp app, string? ticket, string? origin = null)
    {
        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        if (origin is not null) ws.Options.SetRequestHeader("Origin", origin);
        var uri = new UriBuilder(app.BaseAddress) { Scheme = "ws", Path = "/ws", Query = ticket is null ? "" : $"ticket={Uri.EscapeDataString(ticket)}" }.Uri;
        try
        {
            await ws.ConnectAsync(uri, CancellationToken.None);
        }
        catch (WebSocketException)
        {
            string? retry = null;
            if (ws.HttpResponseHeaders?.TryGetValue("Retry-After", out var v) == true) retry = v.FirstOrDefault();
            return (ws.HttpStatusCode, retry);
        }
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        return (HttpStatusCode.SwitchingProtocols, null);
    }

    public void StartReading() => loop ??= Task.Run(ReadLoopAsync);

    /// <summary>After a frame matching <paramref name="match"/> arrives, stop reading until <see cref="Resume"/>.</summary>
    public void PauseWhen(Func<JsonElement, bool> match) => pauseWhen = match;

    public void Resume() => Interlocked.Exchange(ref resume, null)?.TrySetResult();

    /// <summary>Waits (with a deadline) until a condition over the received frames holds; re-checked on every arrival.</summary>
    public async Task WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultWait);
        while (true)
        {
            Task signal;
            lock (frames)
            {
                if (condition()) return;
                signal = changed.Task;
            }
            try
            {
                await Task.WhenAny(signal, closed.Task).WaitAsync(cts.Token);
                if (closed.Task.IsCompleted && !condition()) throw new InvalidOperationException($"Closed ({closed.Task.Result}); got {FramesText()}");
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Condition not met; got {FramesText()}");
            }
        }
    }

    public int Count(Func<JsonElement, bool> match)
    {
        lock (frames) return frames.Count(match);
    }

    public Task SendAsync(object frame) => SendRawAsync(JsonSerializer.Serialize(frame));

    public Task SendRawAsync(string text) => ws.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>The first received frame (in arrival order) that matches, waiting for it if needed.</summary>
    public async Task<JsonElement> WaitForAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultWait);
        while (true)
        {
            Task signal;
            lock (frames)
            {
                foreach (var f in frames)
                    if (match(f)) return f;
                signal = changed.Task;
            }
            if (closed.Task.IsCompleted) throw new InvalidOperationException($"Closed ({closed.Task.Result}) before the frame arrived; got {FramesText()}");
            try
            {
                await Task.WhenAny(signal, closed.Task).WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"No matching frame; got {FramesText()}");
            }
        }
    }

    public Task<JsonElement> WaitForTypeAsync(string t, TimeSpan? timeout = null) => WaitForAsync(f => Type(f) == t, timeout);

    public Task<JsonElement> AckAsync(string reference) => WaitForAsync(f => Type(f) == "ack" && f.GetProperty("ref").GetString() == reference);

    public Task<JsonElement> MsgAsync(Guid cid, long seq) =>
        WaitForAsync(f => Type(f) == "msg" && f.GetProperty("cid").GetGuid() == cid && f.GetProperty("seq").GetInt64() == seq);

    public Task<JsonElement> SubscribedAsync(Guid cid) =>
        WaitForAsync(f => Type(f) == "subscribed" && f.GetProperty("cid").GetGuid() == cid);

    public async Task SubscribeAsync(Guid cid, long? afterSeq = null)
    {
        await SendAsync(afterSeq is null ? new { t = "sub", cid } : new { t = "sub", cid, afterSeq });
        await SubscribedAsync(cid);
    }

    public long[] MsgSeqs(Guid cid)
    {
        lock (frames)
            return frames.Where(f => Type(f) == "msg" && f.GetProperty("cid").GetGuid() == cid).Select(f => f.GetProperty("seq").GetInt64()).ToArray();
    }

    /// <summary>Waits for the server's close and returns its status (null when the connection just dropped).</summary>
    public async Task<WebSocketCloseStatus?> ClosedAsync(TimeSpan? timeout = null) => await closed.Task.WaitAsync(timeout ?? DefaultWait);

    public static string? Type(JsonElement f) => f.TryGetProperty("t", out var t) ? t.GetString() : null;

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (ws.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", cts.Token);
                if (loop is not null) await closed.Task.WaitAsync(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or TimeoutException)
        {
        }
        ws.Abort();
        ws.Dispose();
    }

    private string FramesText()
    {
        lock (frames) return string.Join(" ", frames.TakeLast(20).Select(f => f.GetRawText().Length > 200 ? f.GetRawText()[..200] : f.GetRawText()));
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        var message = new MemoryStream();
        try
        {
            while (true)
            {
                if (resume is { } paused) await paused.Task;
                var r = await ws.ReceiveAsync(buffer, CancellationToken.None);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    closed.TrySetResult(ws.CloseStatus);
                    if (ws.State == WebSocketState.CloseReceived)
                        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                    return;
                }
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage) continue;
                var doc = JsonDocument.Parse(message.ToArray()).RootElement.Clone();
                message.SetLength(0);
                lock (frames)
                {
                    foreach (var f in doc.ValueKind == JsonValueKind.Array ? doc.EnumerateArray().ToArray() : [doc])
                    {
                        if (CountDeltasOnly && Type(f) == "delta") Interlocked.Increment(ref deltas);
                        else frames.Add(f);
                        if (pauseWhen?.Invoke(f) == true)
                        {
                            pauseWhen = null;
                            resume = new(TaskCreationOptions.RunContinuationsAsynchronously);
                        }
                    }
                    var old = changed;
                    changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
                    old.TrySetResult();
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            closed.TrySetResult(ws.CloseStatus);
        }
    }
}
