using OpenTelemetry.Metrics;

namespace ShopGpt.Server.Observability;

/// <summary>
/// One OpenTelemetry meter provider exporting every ShopGpt.* meter plus the built-in ones
/// (ASP.NET Core, Kestrel, .NET runtime, Npgsql, FusionCache) at /metrics in Prometheus text
/// format. Instrument names and tags are listed in docs/metrics.md.
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
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter("ShopGpt.*")
            .AddMeter(BuiltInMeters)
            // No response cache: a scrape always reflects what happened before it (tests rely on it; Prometheus scrapes rarely anyway).
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
    }

    public static void MapMetrics(this WebApplication app) => app.MapPrometheusScrapingEndpoint("/metrics");
}
