using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

/// <summary>
/// /ws is upgraded by a connection middleware ahead of HTTP (SocketUpgrade): these pin down that
/// HTTP on the same port is untouched by the peek, that an upgrade arriving later on a keep-alive
/// connection still works through HTTP, that a refused upgrade answers like any API error, and
/// that frames sent right behind the upgrade request are not lost.
/// </summary>
[Collection(RealtimePairCollection.Name)]
public sealed class ConnectionLevelUpgradeTests(RealtimePair pair)
{
    [Fact]
    public async Task PlainHttpRequestsSentByteByByteAndPathsThatOnlyStartWithWsAreServedByHttp()
    {
        await using var raw = await RawConnection.OpenAsync(pair.A);
        // One byte at a time: the peek must wait for enough bytes, then hand everything to HTTP.
        foreach (var b in Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")) await raw.WriteAsync([b]);
        Assert.StartsWith("HTTP/1.1 200", await raw.ReadHeadAsync());

        await using var other = await RawConnection.OpenAsync(pair.A);
        await other.WriteAsync(Encoding.ASCII.GetBytes("GET /wsx HTTP/1.1\r\nHost: x\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 404", await other.ReadHeadAsync());
    }

    [Fact]
    public async Task UpgradeOnAKeepAliveConnectionAfterAnHttpRequestIsStillAccepted()
    {
        using var user = await pair.A.GuestAsync();
        var ticket = await WsClient.TicketAsync(pair.A, user);
        await using var raw = await RawConnection.OpenAsync(pair.A);
        await raw.WriteAsync(Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
        var first = await raw.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 200", first);
        await raw.SkipBodyAsync(first);

        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        await raw.WriteAsync(UpgradeRequest(pair.A, ticket, key));
        var head = await raw.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 101", head);
        Assert.Contains(ExpectedAccept(key), head, StringComparison.Ordinal);
        using var ws = WebSocket.CreateFromStream(raw.Stream, new WebSocketCreationOptions { IsServer = false });
        Assert.Equal("hello", (await ReceiveTypesAsync(ws))[0]);
    }

    [Fact]
    public async Task FrameSentInTheSameWriteAsTheUpgradeRequestIsAnswered()
    {
        using var user = await pair.A.GuestAsync();
        var ticket = await WsClient.TicketAsync(pair.A, user);
        await using var raw = await RawConnection.OpenAsync(pair.A);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        await raw.WriteAsync([.. UpgradeRequest(pair.A, ticket, key), .. MaskedText("{\"t\":\"ping\",\"ts\":7}")]);
        var head = await raw.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 101", head);
        Assert.Contains(ExpectedAccept(key), head, StringComparison.Ordinal);
        using var ws = WebSocket.CreateFromStream(raw.Stream, new WebSocketCreationOptions { IsServer = false });
        var types = new List<string>();
        // One message may carry several frames (batching): hello and pong can arrive together.
        while (!types.Contains("pong")) types.AddRange(await ReceiveTypesAsync(ws));
        Assert.Equal("hello", types[0]);
    }

    [Fact]
    public async Task RefusedUpgradeIsAProblemResponseWithSecurityHeaders()
    {
        await using var raw = await RawConnection.OpenAsync(pair.A);
        await raw.WriteAsync(UpgradeRequest(pair.A, "not-a-ticket", Convert.ToBase64String(RandomNumberGenerator.GetBytes(16))));
        var head = await raw.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 401", head);
        Assert.Contains("application/problem+json", head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("X-Content-Type-Options: nosniff", head, StringComparison.OrdinalIgnoreCase);
    }

    private static byte[] UpgradeRequest(TestApp app, string ticket, string key) => Encoding.ASCII.GetBytes(
        $"GET /ws?ticket={Uri.EscapeDataString(ticket)} HTTP/1.1\r\nHost: {app.BaseAddress.Authority}\r\nUpgrade: websocket\r\n" +
        $"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n");

    private static string ExpectedAccept(string key) =>
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));

    /// <summary>A client text frame (RFC 6455 5.2: clients mask), payload under 126 bytes.</summary>
    private static byte[] MaskedText(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        var mask = RandomNumberGenerator.GetBytes(4);
        var frame = new byte[2 + 4 + payload.Length];
        frame[0] = 0x81;
        frame[1] = (byte)(0x80 | payload.Length);
        mask.CopyTo(frame, 2);
        for (var i = 0; i < payload.Length; i++) frame[6 + i] = (byte)(payload[i] ^ mask[i % 4]);
        return frame;
    }

    private static async Task<List<string>> ReceiveTypesAsync(WebSocket ws)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var buffer = new byte[64 * 1024];
        var r = await ws.ReceiveAsync(buffer, cts.Token);
        Assert.Equal(WebSocketMessageType.Text, r.MessageType);
        using var doc = JsonDocument.Parse(buffer.AsMemory(0, r.Count));
        var frames = doc.RootElement.ValueKind == JsonValueKind.Array ? [.. doc.RootElement.EnumerateArray()] : new[] { doc.RootElement };
        return [.. frames.Select(f => f.GetProperty("t").GetString()!)];
    }

    /// <summary>A TCP connection that reads an HTTP response head byte by byte (nothing past it is consumed).</summary>
    private sealed class RawConnection(TcpClient tcp) : IAsyncDisposable
    {
        public NetworkStream Stream { get; } = tcp.GetStream();

        public static async Task<RawConnection> OpenAsync(TestApp app)
        {
            var tcp = new TcpClient { NoDelay = true };
            await tcp.ConnectAsync(app.BaseAddress.Host, app.BaseAddress.Port);
            return new RawConnection(tcp);
        }

        public async Task WriteAsync(byte[] bytes)
        {
            await Stream.WriteAsync(bytes);
            await Stream.FlushAsync();
        }

        public async Task<string> ReadHeadAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await Stream.ReadAsync(one, cts.Token) == 0) throw new IOException("closed before the response head ended");
                head.Append((char)one[0]);
            }
            return head.ToString();
        }

        public async Task SkipBodyAsync(string head)
        {
            var line = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            if (line is not null)
            {
                var length = int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                await Stream.ReadExactlyAsync(new byte[length]);
                return;
            }
            // Chunked: read up to the last chunk.
            var tail = new StringBuilder();
            var one = new byte[1];
            while (!tail.ToString().EndsWith("0\r\n\r\n", StringComparison.Ordinal))
            {
                await Stream.ReadExactlyAsync(one);
                tail.Append((char)one[0]);
            }
        }

        public ValueTask DisposeAsync()
        {
            tcp.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
