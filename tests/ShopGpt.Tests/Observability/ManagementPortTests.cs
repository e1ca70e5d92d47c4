using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using ShopGpt.Tests.Catalog;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Observability;

/// <summary>Issue 15, finding 9: /metrics was public and the nginx config forwarded it.</summary>
[Collection(AppCollection.Name)]
public sealed class ManagementPortTests(AppFixture fixture)
{
    [Fact]
    public async Task MetricsAreServedOnlyOnTheLoopbackManagementPort()
    {
        using var publicSide = fixture.App.Client();
        Assert.Equal(HttpStatusCode.NotFound, (await publicSide.GetAsync("/metrics")).StatusCode);

        using var management = fixture.App.MetricsClient();
        var scrape = await management.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        Assert.Contains("shopgpt_", await scrape.Content.ReadAsStringAsync());
        Assert.Equal("127.0.0.1", management.BaseAddress!.Host);
        Assert.Contains(fixture.App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses,
            a => a == management.BaseAddress.ToString().TrimEnd('/'));
        // The management port is not a second public port: nothing but metrics and health.
        Assert.Equal(HttpStatusCode.NotFound, (await management.GetAsync("/api/conversations")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await management.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task WithoutAManagementPortNoMetricsAreServedAtAll()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Metrics:ManagementPort"] = "0" });
        using var client = app.Client();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public void ThePublicNginxLocationNeverForwardsMetrics()
    {
        var conf = File.ReadAllText(Path.Combine(CatalogFixture.Root, "deploy", "nginx", "shopgpt.conf"));
        // An exact-match location wins over "location /" in nginx, whatever the order.
        Assert.Matches(@"location\s*=\s*/metrics\s*\{\s*return\s+404;\s*\}", conf);
        var prometheus = File.ReadAllText(Path.Combine(CatalogFixture.Root, "deploy", "prometheus", "prometheus.yml"));
        Assert.DoesNotContain("127.0.0.1:8080", prometheus);
    }
}
