using System.ComponentModel.DataAnnotations;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.RateLimiting;

namespace ShopGpt.Server.Http;

public sealed class RateLimitOptions
{
    /// <summary>Auth calls (register, login, guest) per client IP per minute: slows credential stuffing.</summary>
    [Range(1, 1_000_000)] public int AuthPerIpPerMinute { get; set; } = 30;

    /// <summary>Sustained REST requests per second per signed-in user (token bucket).</summary>
    [Range(1, 1_000_000)] public int PerUserPerSecond { get; set; } = 20;

    /// <summary>Burst a user may spend at once (bucket size).</summary>
    [Range(1, 1_000_000)] public int PerUserBurst { get; set; } = 100;
}

/// <summary>
/// REST rate limits (ASP.NET Core rate limiter): per IP on the auth endpoints, per user on the
/// rest of /api. Limits are per instance; behind nginx the client IP comes from X-Forwarded-For
/// (trusted only from the proxies in Http:TrustedProxies). Rejections are 429 + Retry-After + problem details.
/// </summary>
public static class RateLimiting
{
    public const string AuthPolicy = "auth";
    public const string UserPolicy = "user";

    public static void AddRateLimits(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<RateLimitOptions>().BindConfiguration("RateLimits").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<ForwardedHeadersOptions>().Configure<Microsoft.Extensions.Options.IOptions<HttpOptions>>((o, http) =>
        {
            // Only the configured proxies (Http:TrustedProxies) may say who the client is. The
            // framework's default trusts every loopback peer, and on a host where the instances
            // listen on loopback any local client could rotate X-Forwarded-For past the login
            // limit (issue 15, finding 8). With no proxy configured the headers are ignored
            // altogether: the middleware treats empty proxy lists as "trust everyone".
            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
            foreach (var p in http.Value.TrustedProxies) o.KnownIPNetworks.Add(HttpOptions.ParseNetwork(p)!.Value);
            o.ForwardedHeaders = o.KnownIPNetworks.Count == 0 ? ForwardedHeaders.None : ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
        });
        builder.Services.AddSingleton<RateLimitMetrics>();
        builder.Services.AddRateLimiter(o =>
        {
            o.AddPolicy(AuthPolicy, ctx =>
            {
                var limits = ctx.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<RateLimitOptions>>().Value;
                return RateLimitPartition.GetSlidingWindowLimiter(ctx.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ => new SlidingWindowRateLimiterOptions
                {
                    PermitLimit = limits.AuthPerIpPerMinute,
                    Window = TimeSpan.FromMinutes(1),
                    SegmentsPerWindow = 6,
                    QueueLimit = 0,
                });
            });
            o.AddPolicy(UserPolicy, ctx =>
            {
                var limits = ctx.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<RateLimitOptions>>().Value;
                // Unauthenticated requests are rejected by authorization anyway; they share one partition per IP.
                var key = ctx.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? "ip:" + ctx.Connection.RemoteIpAddress;
                return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = limits.PerUserBurst,
                    TokensPerPeriod = limits.PerUserPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            o.OnRejected = async (ctx, ct) =>
            {
                var http = ctx.HttpContext;
                var retry = ctx.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                http.Response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
                http.RequestServices.GetRequiredService<RateLimitMetrics>().Rejected(http.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName);
                await ApiProblem.Create(429, "rate_limited", $"Too many requests; retry in {retry} s.").ExecuteAsync(http);
            };
        });
    }

    public static void UseRateLimits(this WebApplication app)
    {
        app.UseRateLimiter();
    }
}

public sealed class RateLimitMetrics
{
    private readonly Counter<long> rejected;

    public RateLimitMetrics(IMeterFactory meters) =>
        rejected = meters.Create("ShopGpt.Http").CreateCounter<long>("shopgpt.http.rate_limited", "{request}", "REST requests rejected by a rate limit");

    public void Rejected(string? policy) => rejected.Add(1, new KeyValuePair<string, object?>("policy", policy ?? "unknown"));
}
