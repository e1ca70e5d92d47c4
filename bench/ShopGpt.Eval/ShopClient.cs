using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace ShopGpt.Eval;

/// <summary>
/// Talks to a running ShopGPT like the web client does: a guest account, one WebSocket, a
/// conversation per dialogue; a turn is <c>send</c> → the assistant's stored <c>msg</c> + <c>done</c>.
/// Product categories come from <c>GET /api/products/{id}</c> (a message carries product refs only).
/// </summary>
public sealed class ShopClient : IAsyncDisposable
{
    private readonly HttpClient http;
    private readonly ClientWebSocket ws = new();
    private readonly Dictionary<string, ShownProduct> products = new(StringComparer.Ordinal);
    private readonly Uri baseUri;

    private ShopClient(Uri baseUri, HttpClient http)
    {
        this.baseUri = baseUri;
        this.http = http;
    }

    public static async Task<ShopClient> ConnectAsync(Uri baseUri, CancellationToken ct)
    {
        var http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(60) };
        var guest = await (await http.PostAsync("/api/auth/guest", null, ct)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(ct);
        http.DefaultRequestHeaders.Authorization = new("Bearer", guest.GetProperty("token").GetString());
        var client = new ShopClient(baseUri, http);
        var ticket = await (await http.PostAsync("/api/realtime/ticket", null, ct)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(ct);
        var wsUri = new UriBuilder(baseUri) { Scheme = baseUri.Scheme == "https" ? "wss" : "ws", Path = "/ws", Query = "ticket=" + Uri.EscapeDataString(ticket.GetProperty("ticket").GetString()!) }.Uri;
        await client.ws.ConnectAsync(wsUri, ct);
        await client.NextAsync(f => f.GetProperty("t").GetString() == "hello", ct);
        return client;
    }

    public async Task<Guid> NewConversationAsync(string title, CancellationToken ct)
    {
        var res = await http.PostAsJsonAsync("/api/conversations", new { title }, ct);
        var cid = (await res.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetGuid();
        await SendFrameAsync(new { t = "sub", cid }, ct);
        await NextAsync(f => f.GetProperty("t").GetString() == "subscribed" && f.GetProperty("cid").GetGuid() == cid, ct);
        return cid;
    }

    /// <summary>Sends the shopper's text and returns the stored assistant answer with its products.</summary>
    public async Task<Answer> AskAsync(Guid cid, string text, CancellationToken ct)
    {
        var reference = Guid.NewGuid().ToString("N");
        await SendFrameAsync(new { t = "send", cid, @ref = reference, text }, ct);
        var ack = await NextAsync(f => f.GetProperty("t").GetString() is "ack" or "err" && f.TryGetProperty("ref", out var r) && r.GetString() == reference, ct);
        if (ack.GetProperty("t").GetString() == "err") throw new InvalidOperationException($"send refused: {ack}");
        var userId = ack.GetProperty("id").GetString();
        JsonElement? stored = null;
        string? doneId = null;
        while (stored is null || doneId is null || stored.Value.GetProperty("id").GetString() != doneId)
        {
            var f = await NextAsync(f => f.TryGetProperty("cid", out var c) && c.GetGuid() == cid && f.GetProperty("t").GetString() is "msg" or "done", ct);
            if (f.GetProperty("t").GetString() == "done") doneId = f.GetProperty("id").GetString();
            else if (f.GetProperty("role").GetString() == "assistant" && f.TryGetProperty("clientId", out var c) && c.GetString() == "assistant:" + userId) stored = f;
        }
        var shown = new List<ShownProduct>();
        if (stored.Value.TryGetProperty("products", out var ps) && ps.ValueKind == JsonValueKind.Array)
            foreach (var p in ps.EnumerateArray()) shown.Add(await ProductAsync(p.GetProperty("id").GetString()!, ct));
        return new Answer(stored.Value.GetProperty("text").GetString() ?? "", shown);
    }

    private async Task<ShownProduct> ProductAsync(string id, CancellationToken ct)
    {
        if (products.TryGetValue(id, out var known)) return known;
        var p = await http.GetFromJsonAsync<JsonElement>("/api/products/" + Uri.EscapeDataString(id), ct);
        var shown = new ShownProduct(id, p.GetProperty("name").GetString()!, p.GetProperty("brand").ValueKind == JsonValueKind.String ? p.GetProperty("brand").GetString() : null,
            p.GetProperty("price").ValueKind == JsonValueKind.Number ? p.GetProperty("price").GetDecimal() : null,
            string.Join(" > ", p.GetProperty("categories").EnumerateArray().Select(c => c.GetString())));
        products[id] = shown;
        return shown;
    }

    private readonly Queue<JsonElement> pending = new();

    private async Task SendFrameAsync<T>(T frame, CancellationToken ct) =>
        await ws.SendAsync(JsonSerializer.SerializeToUtf8Bytes(frame, new JsonSerializerOptions(JsonSerializerDefaults.Web)), WebSocketMessageType.Text, true, ct);

    /// <summary>The next frame that matches (frames before it that do not match are dropped; a server message may batch frames in an array).</summary>
    private async Task<JsonElement> NextAsync(Func<JsonElement, bool> match, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            while (pending.TryDequeue(out var f))
                if (match(f)) return f;
            using var ms = new MemoryStream();
            WebSocketReceiveResult r;
            do
            {
                r = await ws.ReceiveAsync(buffer, ct);
                if (r.MessageType == WebSocketMessageType.Close) throw new InvalidOperationException($"server closed the WebSocket: {r.CloseStatus} {r.CloseStatusDescription}");
                ms.Write(buffer, 0, r.Count);
            } while (!r.EndOfMessage);
            var root = JsonDocument.Parse(ms.ToArray()).RootElement;
            if (root.ValueKind == JsonValueKind.Array) foreach (var f in root.EnumerateArray()) pending.Enqueue(f);
            else pending.Enqueue(root);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (ws.State == WebSocketState.Open)
        {
            try
            {
                await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            }
            catch (WebSocketException)
            {
            }
        }
        ws.Dispose();
        http.Dispose();
    }

    public override string ToString() => baseUri.ToString();
}
