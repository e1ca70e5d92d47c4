using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace ShopGpt.Server.Realtime;

/// <summary>
/// Accepts <c>/ws</c> at the connection level, before Kestrel's HTTP/1.1 layer sees the request
/// (docs/design.md, "Idle WebSocket memory"). An upgraded HTTP request stays in progress for the
/// socket's whole life, so through Kestrel every idle socket keeps its Http1Connection, HttpContext,
/// request headers and upgrade streams alive (~6 KiB measured). Here the first request on a new
/// connection is peeked: anything that is not a well-formed WebSocket upgrade to <c>/ws</c> (and
/// every later request on a keep-alive connection) is left unread and goes to HTTP untouched.
/// An upgrade that passes the origin check, redeems its ticket and gets a lease is answered with
/// 101 here and runs over the transport pipes; one that is refused is handed to the HTTP
/// endpoint with the decision (<see cref="TakeRefusal"/>), which answers it exactly as before:
/// problem JSON, Retry-After, security headers.
/// </summary>
public sealed class SocketUpgrade(RealtimeServices rt, RealtimeTickets tickets, IOptions<HostFilteringOptions> hostFiltering)
{
    // With an AllowedHosts list, every upgrade goes through HTTP, where host filtering runs.
    private readonly bool anyHost = hostFiltering.Value.AllowedHosts is not { Count: > 0 } hosts || hosts.Contains("*");

    private static readonly byte[] Prefix = "GET /ws"u8.ToArray();
    private static readonly byte[] HeaderEnd = "\r\n\r\n"u8.ToArray();

    // Refusals decided here (the ticket is already spent) that the HTTP endpoint must answer.
    private readonly ConcurrentDictionary<string, Refusal> refusals = new(StringComparer.Ordinal);

    /// <summary>A refusal decided at the connection level, answered by the HTTP endpoint.</summary>
    public sealed record Refusal(int Status, string Code, string Detail, int? RetryAfter);

    /// <summary>Runs ahead of HTTP on every endpoint (TLS, if configured on an endpoint, runs first: this sees plain text).</summary>
    public static void Install(ListenOptions listen) => listen.Use(next =>
    {
        SocketUpgrade? upgrade = null;
        var limits = listen.KestrelServerOptions.Limits;
        return connection =>
        {
            upgrade ??= listen.ApplicationServices.GetRequiredService<SocketUpgrade>();
            return upgrade.OnConnectionAsync(connection, next, limits);
        };
    });

    public Refusal? TakeRefusal(string connectionId) => refusals.TryRemove(connectionId, out var r) ? r : null;

    private async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next, KestrelServerLimits limits)
    {
        Accepted? accepted;
        try
        {
            // Its own method, so that nothing of the handshake (request text, timeout) stays
            // referenced from this frame while the socket lives.
            accepted = await TryAcceptAsync(connection, limits);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ConnectionResetException or ConnectionAbortedException)
        {
            // No complete request within Kestrel's own timeouts, or the peer left: nothing to answer.
            return;
        }
        if (accepted is not null)
        {
            await RunAsync(connection, accepted);
            return;
        }
        try
        {
            await next(connection);
        }
        finally
        {
            refusals.TryRemove(connection.ConnectionId, out _);
        }
    }

    private sealed record Accepted(string Key, Guid User, Lease Lease);

    /// <summary>The admitted upgrade, its request consumed; null to hand the connection to HTTP.</summary>
    private async Task<Accepted?> TryAcceptAsync(ConnectionContext connection, KestrelServerLimits limits)
    {
        var input = connection.Transport.Input;
        // Kestrel's timeouts, which do not run while the request is ours: keep-alive until the
        // first byte, then the request-headers timeout. A server shutting down ends the wait at
        // once, as it ends HTTP's wait for a request on an idle keep-alive connection.
        var closing = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(closing);
        timeout.CancelAfter(limits.KeepAliveTimeout);
        var started = false;
        while (true)
        {
            var result = await input.ReadAsync(timeout.Token);
            var buffer = result.Buffer;
            if (!started && buffer.Length > 0)
            {
                started = true;
                timeout.CancelAfter(limits.RequestHeadersTimeout);
            }
            var prefix = MatchPrefix(buffer);
            if (prefix is false)
            {
                input.AdvanceTo(buffer.Start);
                return null;
            }
            if (prefix is true && Find(buffer, HeaderEnd) is { } end)
            {
                var headers = buffer.Slice(0, end);
                var request = UpgradeRequest.Parse(headers);
                if (request is null)
                {
                    input.AdvanceTo(buffer.Start);
                    return null;
                }
                // TLS, when an endpoint has it, ran before this middleware: the request came over https.
                var scheme = connection.Features.Get<Microsoft.AspNetCore.Connections.Features.ITlsHandshakeFeature>() is null ? "http" : "https";
                var outcome = await DecideAsync(request, connection.ConnectionId, scheme);
                if (outcome is not { } lease)
                {
                    input.AdvanceTo(buffer.Start);
                    return null;
                }
                // The request is ours: consume it; whatever follows it is already WebSocket frames.
                input.AdvanceTo(buffer.GetPosition(end + HeaderEnd.Length));
                return new Accepted(request.Key, lease.User, lease.Lease);
            }
            if (result.IsCompleted || result.IsCanceled || buffer.Length > limits.MaxRequestHeadersTotalSize)
            {
                // Incomplete or oversized: HTTP has the answer (400, 431, or nothing).
                input.AdvanceTo(buffer.Start);
                return null;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// The checks of the HTTP path, in its order. Null hands the request to HTTP: either it fails
    /// a check that spends nothing (shutting down 503, origin 403: HTTP repeats and answers it),
    /// or it was refused after the ticket was spent (401, 429, 503: the decision is recorded).
    /// </summary>
    private async Task<(Guid User, Lease Lease)?> DecideAsync(UpgradeRequest request, string connectionId, string scheme)
    {
        if (!anyHost || !rt.Registry.Accepting || !RealtimeEndpoints.OriginAllowed(request.Origin, scheme, request.Host, rt.Options.AllowedOrigins)) return null;
        var refusal = await RealtimeEndpoints.AdmitAsync(request.Ticket, rt, tickets);
        if (refusal.Refusal is { } r)
        {
            refusals[connectionId] = r;
            return null;
        }
        return (refusal.UserId, refusal.Lease);
    }

    private async Task RunAsync(ConnectionContext connection, Accepted admitted)
    {
        var o = rt.Options;
        var stream = new DuplexPipeStream(connection.Transport);
        WebSocket ws;
        try
        {
            await WriteSwitchingProtocolsAsync(connection.Transport.Output, admitted.Key);
            ws = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions
            {
                IsServer = true,
                KeepAliveInterval = TimeSpan.FromSeconds(o.HeartbeatSeconds),
                KeepAliveTimeout = TimeSpan.FromSeconds(o.HeartbeatSeconds * 2),
            });
        }
        catch
        {
            await rt.Limiter.ReleaseAsync(admitted.Lease);
            throw;
        }
        using (ws)
        {
            await RealtimeEndpoints.RunConnectionAsync(ws, admitted.User, admitted.Lease, rt);
            // An aborted socket (e.g. the peer stopped reading and its close timed out): drop the
            // connection rather than let Kestrel wait to flush to a peer that will never read.
            // After a close handshake (even a half one) Kestrel ends it gracefully, so the
            // close frame is not lost to a reset.
            if (ws.State == WebSocketState.Aborted) connection.Abort(new ConnectionAbortedException("WebSocket aborted."));
        }
    }

    private static async Task WriteSwitchingProtocolsAsync(PipeWriter output, string key)
    {
        // RFC 6455 4.2.2: accept = base64(SHA-1(key + GUID)). No subprotocol, no extensions
        // (compression off), as the HTTP path answered.
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"), hash);
        var response = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "
            + Convert.ToBase64String(hash) + "\r\n\r\n";
        await output.WriteAsync(Encoding.ASCII.GetBytes(response));
    }

    /// <summary>True: starts with "GET /ws" then ' ' or '?'; false: cannot; null: too few bytes yet.</summary>
    private static bool? MatchPrefix(ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[Prefix.Length + 1];
        var n = (int)Math.Min(buffer.Length, head.Length);
        buffer.Slice(0, n).CopyTo(head);
        var common = Math.Min(n, Prefix.Length);
        if (!head[..common].SequenceEqual(Prefix.AsSpan(0, common))) return false;
        if (n < head.Length) return null;
        return head[Prefix.Length] is (byte)' ' or (byte)'?';
    }

    private static long? Find(ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> value)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> _, value, advancePastDelimiter: false) ? reader.Consumed : null;
    }

    /// <summary>
    /// The few parts of an upgrade request this path needs. Anything unusual (not HTTP/1.1, a body,
    /// a repeated header, not a valid RFC 6455 handshake) returns null and is left to HTTP, which
    /// answers it as it always did.
    /// </summary>
    internal sealed record UpgradeRequest(string Key, string? Origin, string? Host, string? Ticket)
    {
        public static UpgradeRequest? Parse(ReadOnlySequence<byte> headers)
        {
            var text = Encoding.Latin1.GetString(headers);
            var lines = text.Split("\r\n");
            var requestLine = lines[0].Split(' ');
            if (requestLine.Length != 3 || requestLine[0] != "GET" || requestLine[2] != "HTTP/1.1") return null;
            var target = requestLine[1];
            var q = target.IndexOf('?', StringComparison.Ordinal);
            if ((q < 0 ? target : target[..q]) != "/ws") return null;

            string? host = null, origin = null, upgrade = null, connectionHeader = null, version = null, key = null;
            for (var i = 1; i < lines.Length; i++)
            {
                var colon = lines[i].IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0) return null;
                var name = lines[i][..colon];
                var value = lines[i][(colon + 1)..].Trim(' ', '\t');
                if (name.AsSpan().ContainsAny(' ', '\t')) return null;
                switch (name.ToLowerInvariant())
                {
                    case "host": if (!Set(ref host, value)) return null; break;
                    case "origin": if (!Set(ref origin, value)) return null; break;
                    case "upgrade": if (!Set(ref upgrade, value)) return null; break;
                    case "connection": if (!Set(ref connectionHeader, value)) return null; break;
                    case "sec-websocket-version": if (!Set(ref version, value)) return null; break;
                    case "sec-websocket-key": if (!Set(ref key, value)) return null; break;
                    case "content-length" or "transfer-encoding": return null;
                    // Proxied: whether to believe the proxy (and its scheme) is the HTTP path's decision.
                    case "x-forwarded-proto" or "x-forwarded-for" or "forwarded": return null;
                }
            }
            if (host is null || version != "13" || key is null || !HasToken(upgrade, "websocket") || !HasToken(connectionHeader, "upgrade")) return null;
            Span<byte> decoded = stackalloc byte[24];
            if (!Convert.TryFromBase64String(key, decoded, out var keyBytes) || keyBytes != 16) return null;

            string? ticket = null;
            if (q >= 0)
            {
                var query = QueryHelpers.ParseQuery(target[q..]);
                if (query.TryGetValue("ticket", out var t)) ticket = t;
            }
            return new UpgradeRequest(key, origin, host, ticket);
        }

        private static bool Set(ref string? slot, string value)
        {
            if (slot is not null) return false;
            slot = value;
            return true;
        }

        private static bool HasToken(string? header, string token) =>
            header is not null && header.Split(',').Any(p => string.Equals(p.Trim(), token, StringComparison.OrdinalIgnoreCase));
    }
}
