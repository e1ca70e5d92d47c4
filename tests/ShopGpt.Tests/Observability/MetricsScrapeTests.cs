using System.Globalization;
using System.Text.RegularExpressions;
using ShopGpt.Server.Observability;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Observability;

/// <summary>Reads Prometheus text exposition: series value by metric name and label filter.</summary>
public static partial class Scrape
{
    public static async Task<string> TextAsync(TestApp app)
    {
        using var client = app.MetricsClient();
        return await client.GetStringAsync("/metrics");
    }

    /// <summary>Sum of every sample of <paramref name="name"/> whose label set contains all of <paramref name="labels"/>.</summary>
    public static double Sum(string text, string name, params string[] labels) =>
        text.Split('\n')
            .Where(l => l.StartsWith(name, StringComparison.Ordinal) && (l.Length > name.Length && (l[name.Length] == '{' || l[name.Length] == ' ')))
            .Where(l => labels.All(lbl => l.Contains(lbl, StringComparison.Ordinal)))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    [GeneratedRegex("""(\w+)="([^"]*)""")]
    public static partial Regex Label();
}

[Collection(IsolatedCollection.Name)]
public sealed partial class MetricsScrapeTests(AppFixture fx)
{
    [Fact]
    public async Task CommitsShowInTheBatchSizeHistogramAndCounters()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var before = await Scrape.TextAsync(fx.App);
        for (var i = 0; i < 5; i++) (await user.SendAsync(cid, "count me")).EnsureSuccessStatusCode();
        (await user.SendAsync(cid, "dup", "same")).EnsureSuccessStatusCode();
        (await user.SendAsync(cid, "dup", "same")).EnsureSuccessStatusCode();
        var after = await Scrape.TextAsync(fx.App);

        Assert.True(Scrape.Sum(after, "shopgpt_messaging_batch_size_count") > Scrape.Sum(before, "shopgpt_messaging_batch_size_count"));
        Assert.True(Scrape.Sum(after, "shopgpt_messaging_messages_committed_total") - Scrape.Sum(before, "shopgpt_messaging_messages_committed_total") >= 6);
        Assert.True(Scrape.Sum(after, "shopgpt_messaging_duplicates_absorbed_total") - Scrape.Sum(before, "shopgpt_messaging_duplicates_absorbed_total") >= 1);
        Assert.True(Scrape.Sum(after, "shopgpt_business_active_users") >= 1);
        Assert.Contains("http_server_request_duration_seconds_bucket", after, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FailedLoginsAreCounted()
    {
        var before = Scrape.Sum(await Scrape.TextAsync(fx.App), "shopgpt_accounts_login_failures_total");
        using var anon = fx.App.Client();
        await anon.PostAsJsonAsync("/api/auth/login", new { email = "nobody@example.test", password = "whatever1" });
        Assert.Equal(before + 1, Scrape.Sum(await Scrape.TextAsync(fx.App), "shopgpt_accounts_login_failures_total"));
    }

    [Fact]
    public async Task OpeningAndClosingAWebSocketMovesTheConnectionsGauge()
    {
        using var user = await fx.App.GuestAsync();
        var before = Scrape.Sum(await Scrape.TextAsync(fx.App), "shopgpt_realtime_connections");
        var ws = await Realtime.WsClient.ConnectAsync(fx.App, user);
        await ws.WaitForTypeAsync("hello");
        Assert.Equal(before + 1, Scrape.Sum(await Scrape.TextAsync(fx.App), "shopgpt_realtime_connections"));
        await ws.DisposeAsync();
        // The server notices the close asynchronously; poll the gauge with a deadline.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        double now;
        while ((now = Scrape.Sum(await Scrape.TextAsync(fx.App), "shopgpt_realtime_connections")) != before && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.Equal(before, now);
    }

    [Fact]
    public async Task ARateLimitedBurstIncrementsItsCounter()
    {
        using var user = await fx.App.GuestAsync();
        await using var ws = await Realtime.WsClient.ConnectAsync(fx.App, user);
        await ws.WaitForTypeAsync("hello");
        var before = Scrape.Sum(await Scrape.TextAsync(fx.App), "shopgpt_realtime_rate_limited_total");
        for (var i = 0; i < 25; i++) await ws.SendAsync(new { t = "ping", ts = i });
        await ws.WaitForAsync(f => Realtime.WsClient.Type(f) == "err" && f.GetProperty("code").GetString() == "rate_limited");
        Assert.True(Scrape.Sum(await Scrape.TextAsync(fx.App), "shopgpt_realtime_rate_limited_total") > before);
    }

    [Fact]
    public async Task CacheHitsAndMissesAreCounted()
    {
        using var user = await fx.App.GuestAsync();
        await user.CreateConversationAsync();
        var before = await Scrape.TextAsync(fx.App);
        // The first page of a fresh list is a miss; asking again is a hit.
        (await user.Http.GetAsync("/api/conversations")).EnsureSuccessStatusCode();
        (await user.Http.GetAsync("/api/conversations")).EnsureSuccessStatusCode();
        var after = await Scrape.TextAsync(fx.App);
        Assert.True(Scrape.Sum(after, "shopgpt_cache_misses_total") > Scrape.Sum(before, "shopgpt_cache_misses_total"));
        Assert.True(Scrape.Sum(after, "shopgpt_cache_hits_total") > Scrape.Sum(before, "shopgpt_cache_hits_total"));
    }

    [GeneratedRegex("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")]
    private static partial Regex Uuid();

    [Fact]
    public async Task NoLabelCarriesIdsEmailsTokensOrText()
    {
        // A workload that touches ids, emails, tokens and free text...
        using var anon = fx.App.Client();
        var email = $"label{Guid.NewGuid():N}@example.test";
        var reg = await anon.PostAsJsonAsync("/api/auth/register", new { email, password = "secret-password" });
        var token = (await reg.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
        using var user = new TestUser(Guid.Empty, token, fx.App.Client(token));
        var cid = await user.CreateConversationAsync("A very private title");
        (await user.SendAsync(cid, "my secret shopping wish")).EnsureSuccessStatusCode();
        await user.Http.GetAsync($"/api/conversations/{cid}/messages?limit=abc");
        await user.Http.GetAsync($"/api/conversations/{Guid.NewGuid()}");

        // ...leaves none of them in any label value.
        var text = await Scrape.TextAsync(fx.App);
        foreach (var line in text.Split('\n').Where(l => l.Length > 0 && l[0] != '#'))
        {
            foreach (Match m in Scrape.Label().Matches(line))
            {
                var value = m.Groups[2].Value;
                Assert.False(Uuid().IsMatch(value), $"uuid in label: {line}");
                Assert.DoesNotContain("@", value, StringComparison.Ordinal);
                Assert.DoesNotContain(token, value, StringComparison.Ordinal);
                Assert.DoesNotContain("private", value, StringComparison.Ordinal);
                Assert.DoesNotContain("secret", value, StringComparison.Ordinal);
                Assert.True(value.Length < 100, $"suspiciously long label: {line}");
            }
        }
    }

    [Fact]
    public void HyperLogLogEstimatesDistinctCountsInFixedMemory()
    {
        var hll = new HyperLogLog();
        for (var i = 0; i < 100_000; i++)
        {
            var id = Guid.CreateVersion7();
            hll.Add(id);
            hll.Add(id); // repeats don't count
        }
        Assert.InRange(hll.Estimate(), 90_000, 110_000);
        var small = new HyperLogLog();
        for (var i = 0; i < 50; i++) small.Add(Guid.NewGuid());
        Assert.InRange(small.Estimate(), 45, 55);
    }
}
