using Npgsql;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Messaging;

/// <summary>
/// The group-commit batcher's resend lookup (client ids already stored) must be planned for the
/// partition as it is now. PostgreSQL caches a generic plan for a prepared statement after five
/// executions; made while the month's partition was small it is a hash join over a sequential
/// scan, and it stayed cached until autovacuum next analyzed the partition: after a burst every
/// batch scanned the whole partition (~50 ms at 300k rows; docs/benchmarks.md, fan-out third pass).
/// </summary>
public sealed class BatcherPlanTests
{
    /// <summary>A private PostgreSQL whose server log holds the plan of every statement, and an instance on it.</summary>
    private static async Task<(PrivatePostgres Pg, TestApp App)> StartExplainedAsync()
    {
        var pg = await PrivatePostgres.StartAsync();
        await using (var admin = new NpgsqlConnection(pg.ConnectionString))
        {
            await admin.OpenAsync();
            // Every plan the app's sessions execute goes to the server log (auto_explain ships with PostgreSQL).
            foreach (var sql in new[]
                     {
                         "alter database postgres set session_preload_libraries = 'auto_explain'",
                         "alter database postgres set auto_explain.log_min_duration = 0",
                         // No ANALYZE behind the test's back (it would invalidate cached plans, as
                         // any DDL on the table would).
                         "alter system set autovacuum = off",
                         "select pg_reload_conf()",
                     })
                await new NpgsqlCommand(sql, admin).ExecuteNonQueryAsync();
        }
        // A small pool: the batcher's statements run on the same few sessions, so each session
        // executes them often enough for PostgreSQL to consider its generic plan.
        var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = pg.ConnectionString,
            ["Database:MaxPoolSize"] = "3",
        });
        return (pg, app);
    }

    private static async Task<List<string>> PlansSinceAsync(PrivatePostgres pg, long mark)
    {
        // auto_explain writes a plan when its statement ends, before the batch commits and the
        // sends are acknowledged: the plans of acknowledged sends are in the log.
        await using var f = new FileStream(pg.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        f.Seek(mark, SeekOrigin.Begin);
        return [.. (await new StreamReader(f).ReadToEndAsync()).Split("LOG:  duration:")];
    }

    [Fact]
    public async Task TheResendLookupDoesNotScanThePartitionAfterItGrewPastItsCachedPlan()
    {
        var (pg, app) = await StartExplainedAsync();
        await using var _ = pg;
        await using var __ = app;
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        // Sends in bursts (batches of several keys, as under load), while the partition is small.
        for (var burst = 0; burst < 12; burst++)
            foreach (var res in await Task.WhenAll(Enumerable.Range(0, 12).Select(i => user.SendAsync(cid, $"small {burst}.{i}", $"small-{burst}-{i}"))))
                res.EnsureSuccessStatusCode();

        // The partition grows by a burst, with no ANALYZE in between.
        var bulk = await user.CreateConversationAsync();
        await using (var admin = new NpgsqlConnection(pg.ConnectionString))
        {
            await admin.OpenAsync();
            await using var insert = new NpgsqlCommand(
                """
                insert into messages (user_id, conversation_id, seq, message_id, role, text, client_id, created_at)
                select $1, $2, g, gen_random_uuid(), 'user', 'bulk ' || g, 'bulk-' || g, now() from generate_series(1, 100000) g
                """, admin);
            insert.Parameters.AddWithValue(user.Id);
            insert.Parameters.AddWithValue(bulk);
            await insert.ExecuteNonQueryAsync();
        }

        var mark = new FileInfo(pg.LogPath).Length;
        for (var i = 0; i < 6; i++) (await user.SendAsync(cid, $"after {i}", $"after-{i}")).EnsureSuccessStatusCode();

        var lookups = (await PlansSinceAsync(pg, mark)).Where(e => e.Contains("as k(u, c, cl)", StringComparison.Ordinal)).ToList();
        Assert.True(lookups.Count >= 6, $"expected the plans of 6 lookups in the server log, found {lookups.Count}");
        Assert.All(lookups, plan => Assert.DoesNotContain("Seq Scan on messages_2", plan, StringComparison.Ordinal));
    }

    /// <summary>
    /// The same trap on the conversations table: the batcher locks and updates a batch's
    /// conversations by key, and joined to unnest, a generic plan made while the table was small
    /// is a hash join over a sequential scan; every message leaves a dead row version there
    /// (updated_at is indexed, so no update is HOT), so until autovacuum runs each batch read the
    /// whole, mostly dead table twice (fan-out bench: 9,000 scans in two minutes).
    /// </summary>
    [Fact]
    public async Task TheBatcherLocksAndUpdatesConversationsByIndexAfterTheTableGrewPastItsCachedPlan()
    {
        var (pg, app) = await StartExplainedAsync();
        await using var _ = pg;
        await using var __ = app;
        using var user = await app.GuestAsync();
        var cids = new List<Guid>();
        for (var i = 0; i < 30; i++) cids.Add(await user.CreateConversationAsync());
        // Bursts across many conversations (batches of many keys, many times on each session)
        // while the table is small: this is when a generic plan gets cached.
        async Task BurstsAsync(string tag)
        {
            for (var burst = 0; burst < 8; burst++)
                foreach (var res in await Task.WhenAll(cids.Select((cid, i) => user.SendAsync(cid, $"{tag} {burst}.{i}", $"{tag}-{burst}-{i}"))))
                    res.EnsureSuccessStatusCode();
        }
        await BurstsAsync("small");

        // The table grows, with no ANALYZE in between (as a young table grows under load).
        await using (var admin = new NpgsqlConnection(pg.ConnectionString))
        {
            await admin.OpenAsync();
            await using var insert = new NpgsqlCommand(
                "insert into conversations (user_id, conversation_id, title) select $1, gen_random_uuid(), 'bulk' from generate_series(1, 20000)", admin);
            insert.Parameters.AddWithValue(user.Id);
            await insert.ExecuteNonQueryAsync();
        }
        var mark = new FileInfo(pg.LogPath).Length;
        await BurstsAsync("grown");

        var plans = await PlansSinceAsync(pg, mark);
        var locks = plans.Where(e => e.Contains("as k(u, c2)", StringComparison.Ordinal) && e.Contains("for update", StringComparison.Ordinal)).ToList();
        var updates = plans.Where(e => e.Contains("update conversations c set last_seq", StringComparison.Ordinal)).ToList();
        Assert.True(locks.Count >= 8 && updates.Count >= 8, $"expected the plans of 8+ batches, found {locks.Count} locks and {updates.Count} updates");
        Assert.All(locks.Concat(updates), plan => Assert.DoesNotContain("Seq Scan on conversations", plan, StringComparison.Ordinal));
    }
}
