using System.ComponentModel.DataAnnotations;
using System.Net.Sockets;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Npgsql;
using StackExchange.Redis;

namespace ShopGpt.Server.Http;

public sealed class HttpOptions : IValidatableObject
{
    /// <summary>Largest accepted request body for /api; larger is 413 before any parsing.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxBodyBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Addresses or CIDR networks of the reverse proxies whose X-Forwarded-For / -Proto are
    /// believed (e.g. <c>127.0.0.1</c> for the nginx of <c>./shopgpt up --instances</c>). Empty:
    /// none, the peer address is the client.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext context) =>
        TrustedProxies.Where(p => ParseNetwork(p) is null)
            .Select(p => new ValidationResult($"Http:TrustedProxies entry '{p}' is not an IP address or CIDR network.", [nameof(TrustedProxies)]));

    /// <summary>An address is a network of one.</summary>
    public static System.Net.IPNetwork? ParseNetwork(string value)
    {
        if (System.Net.IPNetwork.TryParse(value, out var network)) return network;
        return System.Net.IPAddress.TryParse(value, out var ip) ? new System.Net.IPNetwork(ip, ip.GetAddressBytes().Length * 8) : null;
    }
}

public static partial class HttpBasics
{
    public static void AddHttpBasics(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<HttpOptions>().BindConfiguration("Http").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx =>
        {
            // Framework-made problems (bad JSON, unknown route, 413) get the same stable code field.
            var status = ctx.ProblemDetails.Status ?? ctx.HttpContext.Response.StatusCode;
            ctx.ProblemDetails.Extensions.TryAdd("code", ProblemCodes.CodeFor(status));
            ctx.ProblemDetails.Extensions.Remove("traceId");
        });
        builder.Services.AddExceptionHandler<ApiExceptionHandler>();
        builder.WebHost.ConfigureKestrel(k =>
        {
            // Slow or oversized requests are cut off by Kestrel itself (issue 9: slowloris).
            k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            k.Limits.MinRequestBodyDataRate = new(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));
            k.AddServerHeader = false;
        });
    }

    public static void UseHttpBasics(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        var limit = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<HttpOptions>>().Value.MaxBodyBytes;
        app.Use(async (ctx, next) =>
        {
            if (ctx.Request.Path.StartsWithSegments("/api"))
            {
                if (ctx.Request.ContentLength > limit)
                {
                    ctx.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                    await ApiProblem.Create(413, "too_large", $"Request bodies are limited to {limit} bytes.").ExecuteAsync(ctx);
                    return;
                }
                // Chunked bodies have no Content-Length: Kestrel enforces the same limit while reading.
                var feature = ctx.Features.Get<IHttpMaxRequestBodySizeFeature>();
                if (feature is { IsReadOnly: false }) feature.MaxRequestBodySize = limit;
            }
            await next(ctx);
        });
    }

    /// <summary>Is this failure a dependency being down or saturated (503) rather than a bug (500)?</summary>
    public static bool IsUnavailable(Exception e) => e switch
    {
        ServiceUnavailableException => true,
        NpgsqlException { IsTransient: true } => true,
        NpgsqlException { InnerException: SocketException or TimeoutException or IOException } => true,
        PostgresException { SqlState: "57P01" or "57P02" or "57P03" or "53300" } => true,
        NpgsqlException n when n.Message.Contains("pool", StringComparison.OrdinalIgnoreCase) => true,
        RedisConnectionException or RedisTimeoutException => true,
        TimeoutException or SocketException => true,
        _ => false,
    };

    private sealed partial class ApiExceptionHandler(ILogger<ApiExceptionHandler> log) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext ctx, Exception e, CancellationToken ct)
        {
            if (ctx.RequestAborted.IsCancellationRequested) return true;
            var (status, code, detail) = e switch
            {
                BadHttpRequestException b => (b.StatusCode, ProblemCodes.CodeFor(b.StatusCode), "The request could not be read."),
                _ when IsUnavailable(e) => (503, "unavailable", "A dependency is unavailable; retry shortly."),
                _ => (500, "internal", "Unexpected error."),
            };
            // The route pattern, not the path: a path carries what the client typed (a product id is any text).
            var route = (ctx.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "(no route)";
            if (status == 503) LogUnavailable(log, ctx.Request.Method, route, e.GetType().Name);
            else if (status >= 500) LogFailure(log, ctx.Request.Method, route, e.GetType().Name, e);
            ctx.Response.StatusCode = status;
            if (status == 503) ctx.Response.Headers.RetryAfter = "1";
            await ApiProblem.Create(status, code, detail).ExecuteAsync(ctx);
            return true;
        }

        // Only the method, route pattern and exception type are logged: never bodies, tokens or message text.
        [LoggerMessage(Level = LogLevel.Error, Message = "Request {Method} {Route} failed with {ExceptionType}")]
        private static partial void LogFailure(ILogger logger, string method, string route, string exceptionType, Exception e);

        // A dependency outage fails every request: one short line each (no stack), so an outage
        // does not multiply the log volume by the request rate times a stack trace.
        [LoggerMessage(Level = LogLevel.Warning, Message = "Request {Method} {Route} answered 503 ({ExceptionType})")]
        private static partial void LogUnavailable(ILogger logger, string method, string route, string exceptionType);
    }
}
