using System.Diagnostics;
using Npgsql;
using ShopGpt.Server.Data;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Data;

/// <summary>
/// A real primary and a real streaming standby (pg_basebackup -R) of the test's own (issue 16
/// part 3). Replay is paused on the standby (pg_wal_replay_pause) to make it lag on purpose;
/// rows changed straight on the primary (not through the app, so no write is recorded) show
/// which server a read came from: the standby still has the old value.
/// </summary>
public sealed class ReadReplicaTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AUsersOwnWritesAreReadBackAtOnceWhileOtherReadsComeFromTheLaggingStandby()
    {
        await using var pair = await Pair.StartAsync();
        using var writer = await pair.App.GuestAsync();
        using var other = await pair.App.GuestAsync();
        var mine = await writer.CreateConversationAsync("mine");
        var theirs = await other.CreateConversationAsync("theirs");
        (await writer.SendAsync(mine, "one")).EnsureSuccessStatusCode();
        await pair.CaughtUpAsync();

        await pair.PauseReplayAsync();
        await pair.SetTitleOnPrimaryAsync(theirs, "changed on the primary");
        // Read-your-writes: the writer's send, list and messages reflect it at once although the
        // standby has not replayed it.
        (await writer.SendAsync(mine, "two")).EnsureSuccessStatusCode();
        var list = await writer.Http.GetFromJsonAsync<JsonElement>("/api/conversations");
        var top = list.GetProperty("items")[0];
        Assert.Equal(mine, top.GetProperty("id").GetGuid());
        Assert.Equal(2, top.GetProperty("lastSeq").GetInt64());
        Assert.Equal("two", top.GetProperty("lastMessage").GetProperty("text").GetString());
        var messages = await writer.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{mine}/messages");
        Assert.Equal(["two", "one"], messages.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("text").GetString()));
        var renamed = await writer.Http.PatchAsJsonAsync($"/api/conversations/{mine}", new { title = "renamed" });
        renamed.EnsureSuccessStatusCode();
        Assert.Equal("renamed", (await writer.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{mine}")).GetProperty("title").GetString());

        // ...while a user who wrote nothing reads the standby: it has not replayed the change yet.
        Assert.Equal("theirs", await TitleAsync(other, theirs));

        await pair.ResumeReplayAsync();
        await pair.CaughtUpAsync();
        Assert.Equal("changed on the primary", await TitleAsync(other, theirs));

        // Once the standby has replayed the writer's writes, their reads go back to it.
        await pair.PauseReplayAsync();
        await pair.SetTitleOnPrimaryAsync(mine, "changed on the primary");
        Assert.Equal("renamed", await TitleAsync(writer, mine));
    }

    [Fact]
    public async Task AStandbyFurtherBehindThanTheLimitIsTakenOutOfRotation()
    {
        await using var pair = await Pair.StartAsync(new() { ["Replica:MaxLagSeconds"] = "1", ["Replica:ReadYourWritesSeconds"] = "3" });
        using var user = await pair.App.GuestAsync();
        var cid = await user.CreateConversationAsync("before");
        await pair.CaughtUpAsync();

        await pair.PauseReplayAsync();
        await pair.SetTitleOnPrimaryAsync(cid, "after");
        // The lag grows while replay is paused; past a second the standby takes no reads.
        await pair.UntilAsync(async () => (await pair.Replicas.SampleAsync()).LagSeconds > 1, "the lag never passed the limit");
        Assert.Equal("after", await TitleAsync(user, cid));
        var scrape = await Observability.Scrape.TextAsync(pair.App);
        Assert.Equal(1, Observability.Scrape.Sum(scrape, "shopgpt_database_replica_up"));
        Assert.True(Observability.Scrape.Sum(scrape, "shopgpt_database_replica_lag_seconds") > 1, "the lag gauge does not show the lag");
        Assert.True(Observability.Scrape.Sum(scrape, "shopgpt_database_replica_lag_bytes") > 0, "the byte lag gauge does not show the lag");

        await pair.ResumeReplayAsync();
        await pair.CaughtUpAsync();
        Assert.Equal(0, pair.Replicas.Standby.LagSeconds);
    }

    [Fact]
    public async Task WithTheStandbyKilledEveryReadIsServedByThePrimary()
    {
        await using var pair = await Pair.StartAsync();
        using var owner = await pair.App.GuestAsync();
        using var reader = await pair.App.GuestAsync();
        var cid = await owner.CreateConversationAsync("shared");
        (await owner.Http.PatchAsJsonAsync($"/api/conversations/{cid}", new { shared = true })).EnsureSuccessStatusCode();
        (await owner.SendAsync(cid, "hello")).EnsureSuccessStatusCode();
        await pair.CaughtUpAsync();
        // Warm reads on the standby, so its pool holds connections the kill breaks.
        Assert.Equal(1, (await reader.Http.GetFromJsonAsync<JsonElement>($"/api/shared/{cid}")).GetProperty("lastSeq").GetInt64());

        await pair.Standby.KillAsync();
        // No waiting: the very next reads succeed (a read that finds its standby connection dead
        // is retried on the primary; the sampler takes the standby out of rotation).
        Assert.Equal(1, (await reader.Http.GetFromJsonAsync<JsonElement>($"/api/shared/{cid}")).GetProperty("lastSeq").GetInt64());
        Assert.Equal(HttpStatusCode.OK, (await reader.Http.GetAsync($"/api/shared/{cid}/messages")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.Http.GetAsync("/api/conversations/popular")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.Http.GetAsync("/api/products/search?q=case")).StatusCode);
        Assert.Equal(cid, (await owner.Http.GetFromJsonAsync<JsonElement>("/api/conversations")).GetProperty("items")[0].GetProperty("id").GetGuid());
        await pair.UntilAsync(async () => !(await pair.Replicas.SampleAsync()).Up, "the sampler never saw the standby go");
        (await owner.SendAsync(cid, "still writing")).EnsureSuccessStatusCode();
        Assert.Equal(2, (await reader.Http.GetFromJsonAsync<JsonElement>($"/api/shared/{cid}")).GetProperty("lastSeq").GetInt64());
    }

    [Fact]
    public async Task WithThePrimaryKilledWritesFailFastAndTheStandbyKeepsServingReads()
    {
        await using var pair = await Pair.StartAsync(new() { ["Database:ConnectionTimeoutSeconds"] = "2" });
        using var owner = await pair.App.GuestAsync();
        using var reader = await pair.App.GuestAsync();
        var cid = await owner.CreateConversationAsync("shared");
        (await owner.Http.PatchAsJsonAsync($"/api/conversations/{cid}", new { shared = true })).EnsureSuccessStatusCode();
        (await owner.SendAsync(cid, "hello")).EnsureSuccessStatusCode();
        await pair.CaughtUpAsync();

        await pair.Primary.KillAsync();
        var sw = Stopwatch.StartNew();
        var send = await owner.SendAsync(cid, "refused");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, send.StatusCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"the refused send took {sw.Elapsed}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await owner.Http.PostAsJsonAsync("/api/conversations", new { title = "x" })).StatusCode);

        // Reads: the owner's (their writes are all replayed), the shared view, the popular view, search.
        var list = await owner.Http.GetFromJsonAsync<JsonElement>("/api/conversations");
        Assert.Equal(1, list.GetProperty("items")[0].GetProperty("lastSeq").GetInt64());
        var messages = await owner.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages");
        Assert.Equal("hello", messages.GetProperty("items")[0].GetProperty("text").GetString());
        Assert.Equal("shared", (await reader.Http.GetFromJsonAsync<JsonElement>($"/api/shared/{cid}")).GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.OK, (await reader.Http.GetAsync("/api/conversations/popular")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.Http.GetAsync("/api/products/search?q=case")).StatusCode);
        Assert.True((await pair.Replicas.SampleAsync()).Up);

        // Back: writes work again, and the owner reads them back.
        await pair.Primary.StartServerAsync();
        HttpResponseMessage again;
        var deadline = DateTime.UtcNow + Step;
        do again = await owner.SendAsync(cid, "after", "after-restart");
        while (again.StatusCode == HttpStatusCode.ServiceUnavailable && DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        var after = await owner.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages");
        Assert.Equal("after", after.GetProperty("items")[0].GetProperty("text").GetString());
    }

    private static async Task<string?> TitleAsync(TestUser user, Guid cid) =>
        (await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}")).GetProperty("title").GetString();

    /// <summary>A primary, its standby and an instance reading from both.</summary>
    private sealed class Pair : IAsyncDisposable
    {
        private Pair(PrivatePostgres primary, PrivatePostgres standby, TestApp app)
        {
            Primary = primary;
            Standby = standby;
            App = app;
        }

        public PrivatePostgres Primary { get; }

        public PrivatePostgres Standby { get; }

        public TestApp App { get; }

        public ReplicaReads Replicas => App.Services.GetRequiredService<ReplicaReads>();

        public static async Task<Pair> StartAsync(Dictionary<string, string?>? settings = null)
        {
            var primary = await PrivatePostgres.StartAsync();
            var standby = await primary.StartStandbyAsync();
            var config = new Dictionary<string, string?>
            {
                ["ConnectionStrings:Postgres"] = primary.ConnectionString,
                ["ConnectionStrings:PostgresStandby"] = standby.ConnectionString,
                ["Replica:PollMilliseconds"] = "50",
            };
            foreach (var (k, v) in settings ?? []) config[k] = v;
            var app = await TestApp.StartAsync(config);
            var pair = new Pair(primary, standby, app);
            await pair.UntilAsync(async () => (await pair.Replicas.SampleAsync()).Up, "the standby never answered");
            return pair;
        }

        /// <summary>Waits until the standby has replayed everything the primary had when called.</summary>
        public async Task CaughtUpAsync()
        {
            await using var db = NpgsqlDataSource.Create(Primary.ConnectionString);
            await using var cmd = db.CreateCommand("select pg_current_wal_lsn()::text");
            var head = ReplicaReads.ParseLsn((string)(await cmd.ExecuteScalarAsync())!);
            await UntilAsync(async () => (await Replicas.SampleAsync()) is { Up: true } s && s.ReplayLsn >= head, "the standby did not catch up");
        }

        public Task PauseReplayAsync() => OnStandbyAsync("select pg_wal_replay_pause()");

        public Task ResumeReplayAsync() => OnStandbyAsync("select pg_wal_replay_resume()");

        public async Task SetTitleOnPrimaryAsync(Guid cid, string title)
        {
            await using var db = NpgsqlDataSource.Create(Primary.ConnectionString);
            await using var cmd = db.CreateCommand("update conversations set title = $2 where conversation_id = $1");
            cmd.Parameters.AddWithValue(cid);
            cmd.Parameters.AddWithValue(title);
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        }

        public async Task UntilAsync(Func<Task<bool>> condition, string failure)
        {
            var deadline = DateTime.UtcNow + Step;
            while (!await condition())
            {
                Assert.True(DateTime.UtcNow < deadline, failure);
                await Task.Delay(20);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await App.DisposeAsync();
            await Standby.DisposeAsync();
            await Primary.DisposeAsync();
        }

        private async Task OnStandbyAsync(string sql)
        {
            await using var db = NpgsqlDataSource.Create(Standby.ConnectionString);
            await using var cmd = db.CreateCommand(sql);
            await cmd.ExecuteNonQueryAsync();
        }
    }
}
