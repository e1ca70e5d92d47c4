using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace ShopGpt.Server.Observability;

/// <summary>Section "Metrics".</summary>
public sealed class MetricsOptions
{
    /// <summary>
    /// Port of the management listener, bound to 127.0.0.1, that alone serves <c>/metrics</c>
    /// (API.md, Operations); 0: no listener and no <c>/metrics</c> anywhere. Never the public port:
    /// the scrape names every route, pool and queue of the instance (issue 15, finding 9).
    /// </summary>
    [Range(0, 65535)] public int ManagementPort { get; set; }
}

/// <summary>
/// One OpenTelemetry meter provider exporting every ShopGpt.* meter plus the built-in ones
/// (ASP.NET Core, Kestrel, .NET runtime, Npgsql, FusionCache) at /metrics in Prometheus text
/// format, on the management port only. Instrument names and tags are listed in docs/metrics.md.
/// </summary>
public static class MetricsSetup
{
    public static readonly string[] BuiltInMeters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Http.Connections",
        "System.Runtime",
        "Npgsql",
        // FusionCache's OpenTelemetry add-on is not served here; its meter is added by name.
        "ZiggyCreatures.Caching.Fusion",
    ];

    public static void AddMetrics(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MetricsOptions>().BindConfiguration("Metrics").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddTransient<IStartupFilter, ManagementOnly>();
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter("ShopGpt.*")
            .AddMeter(BuiltInMeters)
            // No response cache: a scrape always reflects what happened before it (tests rely on it; Prometheus scrapes rarely anyway).
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));

        // The management listener joins the public URLs (--urls, ASPNETCORE_URLS, UseUrls): an
        // explicit Kestrel Listen would replace them instead.
        var port = builder.Configuration.GetValue<int>("Metrics:ManagementPort");
        if (port <= 0) return;
        var urls = builder.WebHost.GetSetting(WebHostDefaults.ServerUrlsKey);
        builder.WebHost.UseUrls([.. (string.IsNullOrWhiteSpace(urls) ? "http://localhost:5000" : urls).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            ManagementUrl(port)]);
    }

    public static string ManagementUrl(int port) => $"http://127.0.0.1:{port}";

    /// <summary>
    /// /metrics answers on the management port only (elsewhere it is an unknown route, 404), and
    /// the management port answers nothing but /metrics and the health checks.
    /// </summary>
    public static void MapMetrics(this WebApplication app)
    {
        var port = app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value.ManagementPort;
        if (port <= 0) return;
        app.UseOpenTelemetryPrometheusScrapingEndpoint(ctx => ctx.Connection.LocalPort == port && ctx.Request.Path == "/metrics");
    }

    /// <summary>Ahead of the whole pipeline (auth, static files...): the management port serves only its few paths.</summary>
    private sealed class ManagementOnly(IOptions<MetricsOptions> options) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            var port = options.Value.ManagementPort;
            if (port > 0)
                app.Use((ctx, nextMiddleware) =>
                {
                    if (ctx.Connection.LocalPort != port || ctx.Request.Path == "/metrics" || ctx.Request.Path == "/healthz" || ctx.Request.Path == "/readyz")
                        return nextMiddleware(ctx);
                    ctx.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                });
            next(app);
        };
    }
}
