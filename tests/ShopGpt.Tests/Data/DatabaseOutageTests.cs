using System.Diagnostics;
using Npgsql;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Data;

/// <summary>PostgreSQL stopped during sends (issue 9): fast 503s, no ack for unstored messages, nothing lost or doubled.</summary>
public sealed class DatabaseOutageTests
{
    [Fact]
    public async Task SendsDuringAnOutageFailFastAndRetriesAfterRestartLoseAndDuplicateNothing()
    {
        await using var pg = await PrivatePostgres.StartAsync();
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = pg.ConnectionString,
            ["Database:ConnectionTimeoutSeconds"] = "2",
        });
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();

        var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<string, HttpStatusCode>();
        var slowest = TimeSpan.Zero;
        async Task SendBurstAsync(int from, int count)
        {
            await Task.WhenAll(Enumerable.Range(from, count).Select(async i =>
            {
                var sw = Stopwatch.StartNew();
                var res = await user.SendAsync(cid, $"message {i}", $"ref-{i}");
                lock (outcomes) slowest = sw.Elapsed > slowest ? sw.Elapsed : slowest;
                outcomes[$"ref-{i}"] = res.StatusCode;
            }));
        }

        await SendBurstAsync(0, 50);                      // healthy
        var during = SendBurstAsync(50, 100);             // in flight while the database dies
        await pg.KillAsync();
        await during;
        await SendBurstAsync(150, 50);                    // while it is down

        Assert.All(outcomes.Values, s => Assert.True(s is HttpStatusCode.Created or HttpStatusCode.ServiceUnavailable, $"unexpected {s}"));
        Assert.Contains(HttpStatusCode.ServiceUnavailable, outcomes.Values);
        Assert.True(slowest < TimeSpan.FromSeconds(15), $"a request hung for {slowest}");
        var down = await user.Http.GetAsync($"/api/conversations/{cid}/messages");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.Equal("unavailable", (await down.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        await pg.StartServerAsync();

        // Clients retry everything that was not acknowledged, with the same client ids.
        var acked = outcomes.Where(o => o.Value == HttpStatusCode.Created).Select(o => o.Key).ToHashSet();
        foreach (var (clientId, _) in outcomes.Where(o => o.Value != HttpStatusCode.Created))
        {
            HttpResponseMessage res;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            do res = await user.SendAsync(cid, $"retry {clientId}", clientId);
            while (res.StatusCode == HttpStatusCode.ServiceUnavailable && DateTime.UtcNow < deadline);
            Assert.True(res.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, $"retry of {clientId}: {res.StatusCode}");
        }

        await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
        await using var cmd = db.CreateCommand("select client_id, count(*) from messages where conversation_id = $1 and role = 'user' group by client_id");
        cmd.Parameters.AddWithValue(cid);
        var stored = new Dictionary<string, long>();
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) stored[r.GetString(0)] = r.GetInt64(1);

        Assert.All(acked, id => Assert.True(stored.ContainsKey(id), $"acked {id} was lost"));   // nothing acked is lost
        Assert.All(stored.Values, n => Assert.Equal(1, n));                                    // nothing is duplicated
        Assert.Equal(200, stored.Count);                                                       // every send ended up stored once
        // Assistant answers share the conversation's seq: all rows together must be gap-free.
        await using var seqs = db.CreateCommand("select count(*), count(distinct seq), min(seq), max(seq) from messages where conversation_id = $1");
        seqs.Parameters.AddWithValue(cid);
        await using var s = await seqs.ExecuteReaderAsync();
        await s.ReadAsync();
        Assert.Equal(s.GetInt64(0), s.GetInt64(1));
        Assert.Equal((1L, s.GetInt64(0)), (s.GetInt64(2), s.GetInt64(3)));
    }
}
