using System.Globalization;
using System.Net.WebSockets;
using System.Security.Claims;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Http;
using ShopGpt.Server.Messaging;
using StackExchange.Redis;

namespace ShopGpt.Server.Realtime;

/// <summary>The realtime feature: <c>POST /api/realtime/ticket</c> and <c>GET /ws</c> (API.md, Realtime; docs/protocol.md).</summary>
public static partial class RealtimeEndpoints
{
    private static long nextConnection;
    private static readonly string InstanceTag = Guid.NewGuid().ToString("N")[..12];

    public static void AddRealtime(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<RealtimeOptions>().BindConfiguration("Realtime").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(RealtimeJsonContext.Default));
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<RealtimeMetrics>();

        // Redis when configured (tickets and leases valid on every instance, cross-instance fan-out);
        // in-memory stand-ins for a single instance without Redis.
        if (!string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("Redis")))
        {
            builder.Services.AddSingleton<ITicketStore, RedisTicketStore>();
            builder.Services.AddSingleton<ILeaseStore, RedisLeaseStore>();
            builder.Services.AddSingleton<IConversationBus, RedisConversationBus>();
        }
        else
        {
            builder.Services.AddSingleton<ITicketStore, MemoryTicketStore>();
            builder.Services.AddSingleton<ILeaseStore, MemoryLeaseStore>();
            builder.Services.AddSingleton<IConversationBus, MemoryConversationBus>();
        }
        builder.Services.AddSingleton<RealtimeTickets>();
        builder.Services.AddSingleton<ConnectionLimiter>();
        builder.Services.AddSingleton<ConnectionRegistry>();
        builder.Services.AddSingleton<ConversationHub>();
        builder.Services.AddSingleton<IConversationEvents>(sp => sp.GetRequiredService<ConversationHub>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ConversationHub>());
        builder.Services.AddSingleton<RealtimeServices>();
        builder.Services.AddHostedService<RealtimeHousekeeping>();
        builder.Services.AddTransient<IStartupFilter, SocketPathFirst>();
        // New connections whose first request is GET /ws are upgraded ahead of HTTP (memory per idle socket).
        builder.Services.AddSingleton<SocketUpgrade>();
        builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(SocketUpgrade.Install));
    }

    /// <summary>Maps the ticket endpoint; <c>/ws</c> itself is served ahead of the pipeline (<see cref="SocketPathFirst"/>).</summary>
    public static void MapRealtime(this WebApplication app)
    {
        app.MapPost("/api/realtime/ticket", IssueTicketAsync).RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);
    }

    /// <summary>
    /// Serves <c>/ws</c> before every other middleware. An upgraded request stays in progress for
    /// the life of the socket, so each middleware it passed through keeps its async frame alive:
    /// none of them (static files, auth, security headers, problem pages) does anything for an
    /// upgrade, and skipping them saves memory on every idle connection.
    /// </summary>
    private sealed class SocketPathFirst : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Map("/ws", ws =>
            {
                // Keep-alive pings are set per connection in AcceptWebSocketAsync; the middleware only
                // makes upgrade requests visible (the Origin check is ours: it needs same-origin and metrics).
                // Behind a trusted proxy the scheme the browser used is X-Forwarded-Proto (origin check).
                ws.UseForwardedHeaders();
                ws.UseWebSockets();
                ws.Run(ctx => AcceptAsync(ctx, ctx.RequestServices.GetRequiredService<RealtimeServices>(),
                    ctx.RequestServices.GetRequiredService<RealtimeTickets>()));
            });
            next(app);
        };
    }

    private static async Task<IResult> IssueTicketAsync(HttpContext ctx, ClaimsPrincipal user, RealtimeTickets tickets, IOptions<RealtimeOptions> options)
    {
        var hash = (byte[])ctx.Items[BearerAuthenticationHandler.TokenHashItem]!;
        if (await tickets.IssueAsync(user.UserId(), hash) is not var (ticket, expiresAt))
        {
            ctx.Response.Headers.RetryAfter = options.Value.TicketSeconds.ToString(CultureInfo.InvariantCulture);
            return ApiProblem.Create(429, "too_many_tickets",
                $"At most {options.Value.MaxOutstandingTicketsPerUser} unused tickets per user; use one or wait for them to expire.");
        }
        return TypedResults.Ok(new TicketResponse(ticket, expiresAt));
    }

    /// <summary>
    /// Every refusal happens before the upgrade, as a plain HTTP answer: 403 bad origin, 400 not a
    /// WebSocket request, 401 ticket, 429 + Retry-After user limit, 503 shutting down.
    /// </summary>
    private static async Task AcceptAsync(HttpContext ctx, RealtimeServices rt, RealtimeTickets tickets)
    {
        var o = rt.Options;
        if (!rt.Registry.Accepting)
        {
            ctx.Response.Headers.RetryAfter = "1";
            await Refuse(ctx, 503, "unavailable", "The server is shutting down; reconnect.");
            return;
        }
        if (!OriginAllowed(ctx.Request, o.AllowedOrigins))
        {
            rt.Metrics.OriginRejected();
            await Refuse(ctx, 403, "bad_origin", "This origin may not open a WebSocket here.");
            return;
        }
        if (!ctx.WebSockets.IsWebSocketRequest)
        {
            await Refuse(ctx, 400, "not_websocket", "GET /ws must be a WebSocket upgrade.");
            return;
        }
        // A connection-level upgrade (SocketUpgrade) already spent the ticket and decided the refusal.
        var admission = rt.Upgrade.TakeRefusal(ctx.Connection.Id) is { } decided
            ? new Admission(decided, Guid.Empty, default)
            : await AdmitAsync(ctx.Request.Query["ticket"], rt, tickets);
        if (admission.Refusal is { } refusal)
        {
            if (refusal.RetryAfter is { } seconds) ctx.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            await Refuse(ctx, refusal.Status, refusal.Code, refusal.Detail);
            return;
        }

        WebSocket ws;
        try
        {
            ws = await ctx.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                KeepAliveInterval = TimeSpan.FromSeconds(o.HeartbeatSeconds),
                KeepAliveTimeout = TimeSpan.FromSeconds(o.HeartbeatSeconds * 2),
                DangerousEnableCompression = false,
            });
        }
        catch
        {
            await rt.Limiter.ReleaseAsync(admission.Lease);
            throw;
        }

        using (ws) await RunConnectionAsync(ws, admission.UserId, admission.Lease, rt);
    }

    /// <summary>The outcome of the checks that spend something (the ticket, a lease slot): a refusal, or the user and its lease.</summary>
    internal sealed record Admission(SocketUpgrade.Refusal? Refusal, Guid UserId, Lease Lease);

    /// <summary>Redeems the ticket and takes a lease: 401 bad ticket, 429 + Retry-After user limit, 503 Redis down.</summary>
    internal static async Task<Admission> AdmitAsync(string? ticket, RealtimeServices rt, RealtimeTickets tickets)
    {
        Guid? userId;
        TicketFailure failure;
        Lease lease;
        bool acquired;
        int retryAfter;
        try
        {
            (userId, failure) = await tickets.RedeemAsync(ticket);
            lease = new Lease(userId ?? Guid.Empty, $"{InstanceTag}-{Interlocked.Increment(ref nextConnection)}");
            (acquired, retryAfter) = userId is null ? (false, 0) : await rt.Limiter.TryAcquireAsync(lease);
        }
        catch (Exception e) when (HttpBasics.IsUnavailable(e))
        {
            // Redis (tickets, leases) is down: the same 503 the rest of the API answers.
            return new(new(503, "unavailable", "A dependency is unavailable; retry shortly.", 1), Guid.Empty, default);
        }
        if (userId is not { } uid)
        {
            var reason = failure.ToString().ToLowerInvariant();
            rt.Metrics.TicketFailed(reason);
            return new(new(401, "bad_ticket", $"The ticket is {reason}; get a new one from POST /api/realtime/ticket.", null), Guid.Empty, default);
        }
        if (!acquired)
        {
            rt.Metrics.UserLimitRejected();
            return new(new(429, "too_many_connections", $"At most {rt.Options.MaxConnectionsPerUser} open connections per user.", retryAfter), Guid.Empty, default);
        }
        return new(null, uid, lease);
    }

    /// <summary>Runs one accepted socket to its end, whichever path accepted it.</summary>
    internal static Task RunConnectionAsync(WebSocket ws, Guid userId, Lease lease, RealtimeServices rt)
    {
        // Not async: one fewer state machine kept alive per idle socket.
        var connection = new RealtimeConnection(ws, userId, lease, rt);
        rt.Registry.Add(connection);
        rt.Metrics.Connected();
        return connection.RunAsync();
    }

    /// <summary>
    /// No Origin (a non-browser client): allowed, the ticket authenticates it. With an allowlist,
    /// the origin must be listed; without one, only the page's own origin may connect: same
    /// scheme, host and port (RFC 6454 4), so an http:// page cannot open the socket of an
    /// https:// site on the same host (issue 15, finding 11). The scheme is the request's, as a
    /// trusted proxy's X-Forwarded-Proto states it.
    /// </summary>
    internal static bool OriginAllowed(HttpRequest request, string[] allowed) =>
        OriginAllowed(request.Headers.Origin, request.Scheme, request.Host.Value, allowed);

    internal static bool OriginAllowed(string? origin, string scheme, string? host, string[] allowed)
    {
        if (string.IsNullOrEmpty(origin)) return true;
        if (allowed.Length > 0)
            return allowed.Any(a => string.Equals(a.TrimEnd('/'), origin.TrimEnd('/'), StringComparison.OrdinalIgnoreCase));
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var u) || host is null || !HostString.FromUriComponent(host).HasValue) return false;
        var h = HostString.FromUriComponent(host);
        var port = h.Port ?? (string.Equals(scheme, "https", StringComparison.OrdinalIgnoreCase) ? 443 : 80);
        return string.Equals(u.Scheme, scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(u.IdnHost, h.Host, StringComparison.OrdinalIgnoreCase)
            && u.Port == port;
    }

    private static async Task Refuse(HttpContext ctx, int status, string code, string detail)
    {
        // /ws is served ahead of the pipeline, so its refusals add the security headers themselves.
        SecurityHeaders.Apply(ctx.Response);
        ctx.Response.StatusCode = status;
        await ApiProblem.Create(status, code, detail).ExecuteAsync(ctx);
    }
}
