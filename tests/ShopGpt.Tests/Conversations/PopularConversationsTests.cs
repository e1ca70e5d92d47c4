using System.Diagnostics;
using Npgsql;
using ShopGpt.Server.Data;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Conversations;

[Collection(AppCollection.Name)]
public sealed class PopularConversationsTests(AppFixture fx)
{
    private PopularConversations Popular(TestApp app) => app.Services.GetRequiredService<PopularConversations>();

    private static async Task<Guid> SharedConversationAsync(TestUser user, int messages, bool shared = true)
    {
        var cid = await user.CreateConversationAsync("popular candidate");
        for (var i = 0; i < messages; i++) (await user.SendAsync(cid, $"message {i}")).EnsureSuccessStatusCode();
        if (shared) (await user.Http.PatchAsJsonAsync($"/api/conversations/{cid}", new { shared = true })).EnsureSuccessStatusCode();
        return cid;
    }

    [Fact]
    public async Task PopularListsActiveSharedConversationsMostMessagesFirst()
    {
        using var user = await fx.App.GuestAsync();
        var busy = await SharedConversationAsync(user, 4);
        var quiet = await SharedConversationAsync(user, 1);
        var notShared = await SharedConversationAsync(user, 6, shared: false);

        await RefreshUntilDoneAsync(fx.App);
        var body = await user.Http.GetFromJsonAsync<JsonElement>("/api/conversations/popular?limit=100");
        var items = body.GetProperty("items").EnumerateArray().ToList();
        var ids = items.Select(i => i.GetProperty("id").GetGuid()).ToList();
        Assert.Contains(busy, ids);
        Assert.Contains(quiet, ids);
        Assert.DoesNotContain(notShared, ids);
        Assert.True(ids.IndexOf(busy) < ids.IndexOf(quiet));
        var b = items[ids.IndexOf(busy)];
        Assert.Equal(4, b.GetProperty("messageCount").GetInt64());
        Assert.Equal(1, b.GetProperty("participants").GetInt32());
        Assert.Equal("popular candidate", b.GetProperty("title").GetString());
        Assert.NotEqual(JsonValueKind.Null, body.GetProperty("refreshedAt").ValueKind);
    }

    [Fact]
    public async Task PopularIsServedFromTheCacheUntilTheAppsNextRefreshDropsIt()
    {
        using var user = await fx.App.GuestAsync();
        async Task<List<Guid>> IdsAsync() =>
            (await user.Http.GetFromJsonAsync<JsonElement>("/api/conversations/popular?limit=100"))
                .GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()).ToList();

        await RefreshUntilDoneAsync(fx.App);
        await IdsAsync(); // cached now
        var cid = await SharedConversationAsync(user, 3);
        // A refresh behind the app's back (no invalidation): the cached list is still served...
        await using (var cmd = fx.App.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand(PopularConversations.RefreshSql))
            await cmd.ExecuteNonQueryAsync();
        Assert.DoesNotContain(cid, await IdsAsync());
        // ...and the app's own refresh drops the entry, so the next read shows the new view.
        await RefreshUntilDoneAsync(fx.App);
        Assert.Contains(cid, await IdsAsync());
    }

    [Fact]
    public async Task PopularRejectsABadLimit()
    {
        using var user = await fx.App.GuestAsync();
        var res = await user.Http.GetAsync("/api/conversations/popular?limit=0");
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("bad_limit", (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task ReadsContinueWhileTheViewIsBeingRefreshed()
    {
        using var user = await fx.App.GuestAsync();
        await SharedConversationAsync(user, 2);
        var ds = fx.App.Services.GetRequiredService<NpgsqlDataSource>();

        // A refresh in progress (its transaction still open) must not block readers: CONCURRENTLY
        // takes only an EXCLUSIVE lock, which lets SELECTs through (a plain refresh would block them).
        await using (var conn = await ds.OpenConnectionAsync())
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await using (var refresh = new NpgsqlCommand(PopularConversations.RefreshSql, conn, tx))
                await refresh.ExecuteNonQueryAsync();
            using var reader = fx.App.Client(user.Token);
            reader.Timeout = TimeSpan.FromSeconds(10);
            var res = await reader.GetAsync("/api/conversations/popular");
            Assert.Equal(HttpStatusCode.OK, res.StatusCode);
            await tx.RollbackAsync();
        }

        // And a stream of reads during several real refreshes all succeed.
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 4).Select(async _ =>
        {
            var ok = 0;
            while (!stop.IsCancellationRequested)
            {
                var res = await user.Http.GetAsync("/api/conversations/popular?limit=10");
                Assert.Equal(HttpStatusCode.OK, res.StatusCode);
                ok++;
            }
            return ok;
        }).ToArray();
        for (var i = 0; i < 3; i++) await RefreshUntilDoneAsync(fx.App);
        await stop.CancelAsync();
        Assert.All(await Task.WhenAll(readers), n => Assert.True(n > 0));
    }

    [Fact]
    public async Task TwoInstancesNeverRefreshAtTheSameTime()
    {
        await using var second = await TestApp.StartAsync();
        var ds = fx.App.Services.GetRequiredService<NpgsqlDataSource>();

        // While someone holds the job's lock, neither instance refreshes.
        await using (var holder = await ds.OpenConnectionAsync())
        {
            await using (var l = new NpgsqlCommand("select pg_advisory_lock($1)", holder))
            {
                l.Parameters.AddWithValue(MaintenanceLock.PopularRefresh);
                await l.ExecuteNonQueryAsync();
            }
            Assert.False(await Popular(fx.App).RefreshAsync(CancellationToken.None));
            Assert.False(await Popular(second).RefreshAsync(CancellationToken.None));
            await new NpgsqlCommand("select pg_advisory_unlock_all()", holder).ExecuteNonQueryAsync();
        }

        // Both hammering at once: every refresh that ran is recorded under the lock, and no two
        // recorded runs overlap in time.
        DateTimeOffset since;
        await using (var clock = ds.CreateCommand("select clock_timestamp()"))
            since = new DateTimeOffset((DateTime)(await clock.ExecuteScalarAsync())!);
        var results = await Task.WhenAll(Enumerable.Range(0, 10).SelectMany(_ => new[]
        {
            Popular(fx.App).RefreshAsync(CancellationToken.None),
            Popular(second).RefreshAsync(CancellationToken.None),
        }));
        Assert.Contains(true, results);
        await using var cmd = ds.CreateCommand(
            """
            select count(*) from maintenance_runs a join maintenance_runs b
              on a.job = b.job and (a.started_at, a.instance) < (b.started_at, b.instance)
             and a.started_at < b.finished_at and b.started_at < a.finished_at
            where a.job = 'popular_refresh' and a.started_at >= $1 and b.started_at >= $1
            """);
        cmd.Parameters.AddWithValue(since);
        Assert.Equal(0L, (long)(await cmd.ExecuteScalarAsync())!);
        await using var ran = ds.CreateCommand("select count(*) from maintenance_runs where job = 'popular_refresh' and started_at >= $1");
        ran.Parameters.AddWithValue(since);
        // The instances' own hosted refresh may have run in the window too (same lock, same audit).
        Assert.True((long)(await ran.ExecuteScalarAsync())! >= results.Count(r => r));
    }

    // Another test (or the hosted job) may hold the lock for a moment: retry until this call refreshed.
    private async Task RefreshUntilDoneAsync(TestApp app)
    {
        var deadline = Stopwatch.StartNew();
        while (!await Popular(app).RefreshAsync(CancellationToken.None))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "could not take the refresh lock");
            await Task.Yield();
        }
    }
}
