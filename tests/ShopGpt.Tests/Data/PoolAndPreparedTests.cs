using System.Diagnostics;
using Npgsql;
using ShopGpt.Server.Data;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Data;

public sealed class PoolAndPreparedTests
{
    [Fact]
    public async Task PoolExhaustionIsAFast503AndCountedNotAHungRequest()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Database:MaxPoolSize"] = "1",
            ["Database:ConnectionTimeoutSeconds"] = "1",
        });
        using var user = await app.GuestAsync();
        var ds = app.Services.GetRequiredService<NpgsqlDataSource>();
        var metrics = app.Services.GetRequiredService<DatabaseMetrics>();

        await using (var held = await ds.OpenConnectionAsync())
        {
            Assert.Equal(1, metrics.ReadPoolInUse());
            var clock = Stopwatch.StartNew();
            var res = await user.Http.GetAsync("/api/conversations");
            clock.Stop();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, res.StatusCode);
            Assert.Equal("unavailable", (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
            // The wait is bounded by Database:ConnectionTimeoutSeconds (1 s), far below the client's 30 s.
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        }

        Assert.Equal(HttpStatusCode.OK, (await user.Http.GetAsync("/api/conversations")).StatusCode);
        var scrape = await app.MetricsClient().GetStringAsync("/metrics");
        var line = scrape.Split('\n').First(l => l.StartsWith("shopgpt_database_unavailable_total", StringComparison.Ordinal));
        Assert.True(double.Parse(line.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture) >= 1, line);
    }

    [Fact]
    public async Task HotQueriesRunAsPreparedStatements()
    {
        // One pooled connection: the statements prepared for requests are visible on it afterwards.
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Database:MaxPoolSize"] = "1" });
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        (await user.SendAsync(cid, "hello")).EnsureSuccessStatusCode();
        await user.CreateConversationAsync();
        // First pages come from the cache; deeper pages always run the keyset query.
        var cursor = (await user.Http.GetFromJsonAsync<JsonElement>("/api/conversations?limit=1")).GetProperty("nextCursor").GetString();
        for (var i = 0; i < 3; i++)
        {
            (await user.Http.GetAsync($"/api/conversations?limit=1&cursor={cursor}")).EnsureSuccessStatusCode();
            (await user.Http.GetAsync($"/api/conversations/{cid}/messages")).EnsureSuccessStatusCode();
        }

        var ds = app.Services.GetRequiredService<NpgsqlDataSource>();
        await using var conn = await ds.OpenConnectionAsync();
        var prepared = new List<string>();
        await using (var cmd = new NpgsqlCommand("select statement from pg_prepared_statements", conn))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) prepared.Add(r.GetString(0));

        Assert.Contains(prepared, s => s.Contains("from conversations c", StringComparison.Ordinal) && s.Contains("order by c.updated_at desc", StringComparison.Ordinal));
        Assert.Contains(prepared, s => s.Contains("from messages", StringComparison.Ordinal) && s.Contains("order by seq desc limit $4", StringComparison.Ordinal));
        // Session lookups are served by the two-level cache (Caching/), so they need not reach this connection.
    }
}
