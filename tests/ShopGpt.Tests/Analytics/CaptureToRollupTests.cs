using System.Globalization;
using System.Text.Json;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Npgsql;
using ShopGpt.Server.Analytics;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Analytics;

/// <summary>
/// The whole analytics path on real processes: a database of its own, writes through a real
/// instance (analytics off) plus assistant rows stored as the assistant stores them, capture in
/// a child server process that is SIGKILLed mid-stream and replaced, a 3-server JetStream
/// cluster (replicas 3) that loses a server mid-stream, and the rollups against direct SQL.
/// </summary>
[Collection(NatsCollection.Name)]
public sealed class CaptureToRollupTests(NatsCluster nats)
{
    private static readonly string[] Products = ["p-boots", "p-tent", "p-stove", "p-lamp"];

    [Fact]
    public async Task EveryCommittedRowReachesTheLogOnceInUserOrderAndRollupsEqualSqlAcrossCrashes()
    {
        await using var db = await ScratchDatabase.CreateAsync();
        var name = "t" + Guid.NewGuid().ToString("N")[..12];
        var settings = Settings(db, name);
        foreach (var p in Products)
            await db.ExecAsync("insert into products (product_id, source, name, content_hash) values ($1, 'jsonl', $1, '\\x00')", p);

        var capturer = await ServerProcess.StartAsync(settings);
        ServerProcess? successor = null;
        try
        {
            await WaitAsync(() => SlotActiveAsync(db, name), "the first instance's capture to stream from the slot");
            await using var writer = await TestApp.StartAsync(new Dictionary<string, string?>(settings) { ["Analytics:Enabled"] = "false" });
            var users = new List<(TestUser User, Guid[] Conversations)>();
            for (var i = 0; i < 6; i++)
            {
                var u = await writer.GuestAsync();
                users.Add((u, [await u.CreateConversationAsync(), await u.CreateConversationAsync()]));
            }

            using var stop = new CancellationTokenSource();
            var traffic = users.Select((u, i) => TrafficAsync(db, u.User, u.Conversations, i, stop.Token)).ToList();

            // Mid-stream faults, each after more rows were committed: the capturing instance dies
            // (SIGKILL: no cleanup, its lease and slot are released by PostgreSQL), a successor takes
            // over from the confirmed LSN; then one JetStream server dies.
            await WaitForMessagesAsync(db, 40);
            await capturer.KillAsync();
            await WaitForMessagesAsync(db, 80);
            var managementPort = PrivatePostgres.FreePort();
            successor = await ServerProcess.StartAsync(new Dictionary<string, string?>(settings)
            {
                ["Metrics:ManagementPort"] = managementPort.ToString(CultureInfo.InvariantCulture),
            });
            await WaitAsync(() => SlotActiveAsync(db, name), "the successor's capture to stream from the slot");
            await WaitForMessagesAsync(db, 140);
            await nats.KillAsync(1);
            await WaitForMessagesAsync(db, 200);
            await stop.CancelAsync();
            await Task.WhenAll(traffic);
            foreach (var (u, _) in users) u.Dispose();

            var expected = await ExpectedAsync(db);
            await WaitAsync(async () => (await RollupsAsync(db)).Equals(expected), "the rollups to reach the SQL counts", failOnTimeout: false);
            if (Environment.GetEnvironmentVariable("SHOPGPT_TEST_DEBUG_DIR") is { Length: > 0 } debug)
                await File.WriteAllTextAsync(Path.Combine(debug, "analytics-successor.log"), successor.Output);
            Assert.Equal(expected, await RollupsAsync(db));

            // The log itself: every committed row once, per user in commit order.
            var events = await ReadStreamAsync(name);
            Assert.All(events.GroupBy(e => e.Position), g => Assert.Single(g));
            var messageIds = await db.ScalarAsync<Guid[]>("select coalesce(array_agg(message_id), '{}') from messages");
            Assert.Equal(messageIds.Order(), events.Where(e => e.Kind == EventKinds.Message).Select(e => e.MessageId!.Value).Order());
            var conversationIds = await db.ScalarAsync<Guid[]>("select coalesce(array_agg(conversation_id), '{}') from conversations");
            Assert.Equal(conversationIds.Order(), events.Where(e => e.Kind == EventKinds.Conversation).Select(e => e.ConversationId!.Value).Order());
            Assert.Equal(await db.ScalarAsync<long>("select count(*) from product_opens"), events.Count(e => e.Kind == EventKinds.ProductOpened));
            foreach (var perUser in events.GroupBy(e => e.UserId))
            {
                var positions = perUser.Select(e => (e.Lsn, e.Index)).ToList();
                Assert.Equal(positions.Order(), positions);
                foreach (var conv in perUser.Where(e => e.Kind == EventKinds.Message).GroupBy(e => e.ConversationId))
                    Assert.Equal(conv.Select(e => e.Seq!.Value).Order(), conv.Select(e => e.Seq!.Value));
            }

            // A copy of an applied event under a new message id (a re-capture after the log's
            // duplicate window) is skipped by capture position: nothing counts twice.
            var dupSeq = await PublishDuplicateAsync(name, events.Last(e => e.Kind == EventKinds.Message && e.Role == "user"));
            await WaitAsync(async () => await db.ScalarAsync<long>(
                "select count(*) from analytics_positions where consumer = 'engagement' and stream_seq >= $1", dupSeq) == 1, "the duplicate to be consumed");
            Assert.Equal(expected, await RollupsAsync(db));

            // Replay from the start of the log, beside the live consumers of the successor.
            Assert.Equal(0, await ReplayAsync(settings));
            await WaitAsync(async () => (await RollupsAsync(db)).Equals(expected), "the replayed rollups to equal the SQL counts");

            using var scrape = new HttpClient();
            var metrics = await scrape.GetStringAsync($"http://127.0.0.1:{managementPort}/metrics");
            // The names deploy/prometheus/alerts.yml and deploy/grafana use.
            Assert.Matches(@"(?m)^shopgpt_analytics_slot_lag_bytes(\{[^}]*\})? \d+", metrics);
            Assert.Matches(@"(?m)^shopgpt_analytics_consumer_lag\{[^}]*consumer=""engagement""[^}]*\} 0", metrics);
            Assert.Matches(@"(?m)^shopgpt_analytics_consumer_lag\{[^}]*consumer=""shopping""[^}]*\} 0", metrics);
            Assert.Matches(@"(?m)^shopgpt_analytics_slot_active(\{[^}]*\})? 1", metrics);
            Assert.Matches(@"(?m)^shopgpt_analytics_lease_held(\{[^}]*\})? 1", metrics);
        }
        finally
        {
            await capturer.DisposeAsync();
            if (successor is not null) await successor.DisposeAsync();
            await DropSlotAsync(db, name);
        }
    }

    internal Dictionary<string, string?> Settings(ScratchDatabase db, string name) => new()
    {
        ["ConnectionStrings:Postgres"] = db.ConnectionString,
        ["Analytics:Enabled"] = "true",
        ["Analytics:NatsUrl"] = nats.Urls,
        ["Analytics:Replicas"] = "3",
        ["Analytics:Partitions"] = "4",
        ["Analytics:Stream"] = name.ToUpperInvariant(),
        ["Analytics:SubjectPrefix"] = name,
        ["Analytics:Slot"] = name,
        ["Analytics:Publication"] = "shopgpt_analytics",
        ["Analytics:LeaseKey"] = Random.Shared.NextInt64().ToString(CultureInfo.InvariantCulture),
        ["Analytics:PublishTimeout"] = "00:00:30",
        ["Analytics:SlotSampleInterval"] = "00:00:01",
        ["Logging:LogLevel:ShopGpt.Server.Analytics"] = "Information",
    };

    /// <summary>
    /// One user's traffic until stopped: REST sends (the real write path), each followed by an
    /// assistant row stored as the assistant stores it (next seq, products as ProductRefs, a
    /// comparison table, no match, a failure or a stop), and now and then a product opened.
    /// </summary>
    private static async Task TrafficAsync(ScratchDatabase db, TestUser user, Guid[] conversations, int salt, CancellationToken stop)
    {
        var n = 0;
        while (!stop.IsCancellationRequested)
        {
            var cid = conversations[n % conversations.Length];
            var query = n % 3 == 0 ? $"Solar  Kettle {n % 2}" : $"tent for {n % 4} people";
            (await user.SendAsync(cid, query)).EnsureSuccessStatusCode();
            var kind = (n + salt) % 5;
            var picks = kind switch { 0 => Products[..2], 1 => Products[1..3], 2 => [Products[3]], _ => Array.Empty<string>() };
            var text = kind == 1 ? "Side by side:\n\n| | A | B |\n|---|---|---|" : "Here you go";
            var status = kind == 3 ? "failed" : kind == 4 && n % 2 == 0 ? "stopped" : "complete";
            var products = picks.Length == 0 ? null : JsonSerializer.Serialize(picks.Select(p => new { id = p, name = p }));
            await db.ExecAsync("""
                with c as (update conversations set last_seq = last_seq + 1 where user_id = $1 and conversation_id = $2 returning last_seq)
                insert into messages (user_id, conversation_id, seq, message_id, role, text, products, status)
                select $1, $2, c.last_seq, $3, 'assistant', $4, $5::jsonb, $6 from c
                """, user.Id, cid, Guid.CreateVersion7(), text, (object?)products ?? DBNull.Value, status);
            if (n % 4 == salt % 4)
                (await user.Http.PostAsJsonAsync("/api/analytics/product-opened", new { productId = Products[n % Products.Length] })).EnsureSuccessStatusCode();
            n++;
        }
    }

    /// <summary>Every rollup figure, as one comparable text, computed directly from the tables the capture reads.</summary>
    private static async Task<string> ExpectedAsync(ScratchDatabase db) => await TextAsync(db, """
        select 'hourly', to_char(date_trunc('hour', created_at at time zone 'UTC'), 'YYYY-MM-DD HH24'), m, count(*) from (
            select created_at, case when role = 'user' then 'user_messages' else 'assistant_turns' end as m from messages
            union all select created_at, 'answers_failed' from messages where role = 'assistant' and status = 'failed'
            union all select created_at, 'answers_stopped' from messages where role = 'assistant' and status = 'stopped'
            union all select created_at, 'conversations' from conversations
            union all select created_at, case when is_guest then 'guests' else 'signups' end from users) x group by 2, 3
        union all select 'dau', to_char((created_at at time zone 'UTC')::date, 'YYYY-MM-DD'), '', count(distinct user_id) from messages where role = 'user' group by 2
        union all select 'mau', to_char(date_trunc('month', created_at at time zone 'UTC'), 'YYYY-MM'), '', count(distinct user_id) from messages where role = 'user' group by 2
        union all select 'convs', user_id::text, '', count(*) from conversations group by 2
        union all select 'product', p->>'id', 'recommended', count(*) from messages, jsonb_array_elements(products) p where role = 'assistant' group by 2
        union all select 'product', p->>'id', 'compared', count(*) from messages, jsonb_array_elements(products) p
            where role = 'assistant' and jsonb_array_length(products) >= 2 and position(E'\n|' in text) > 0 group by 2
        union all select 'product', product_id, 'opened', count(*) from product_opens group by 2
        union all select 'nomatch', lower(regexp_replace(btrim(u.text), '\s+', ' ', 'g')), '', count(*) from messages a
            join messages u on u.conversation_id = a.conversation_id and u.seq = a.seq - 1 and u.role = 'user'
            where a.role = 'assistant' and a.status = 'complete' and a.products is null group by 2
        """);

    private static async Task<string> RollupsAsync(ScratchDatabase db) => await TextAsync(db, """
        select 'hourly', to_char(hour at time zone 'UTC', 'YYYY-MM-DD HH24'), metric, value from analytics_hourly
        union all select 'dau', to_char(day, 'YYYY-MM-DD'), '', count(*) from analytics_daily_users group by 2
        union all select 'mau', to_char(month, 'YYYY-MM'), '', count(*) from analytics_monthly_users group by 2
        union all select 'convs', user_id::text, '', conversations from analytics_user_conversations
        union all select 'product', product_id, kind, value from analytics_products
        union all select 'nomatch', query, '', value from analytics_no_match
        """);

    private static async Task<string> TextAsync(ScratchDatabase db, string sql)
    {
        var rows = new List<string>();
        await using var cmd = db.Db.CreateCommand($"select * from ({sql}) t order by 1, 2, 3");
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) rows.Add($"{r.GetString(0)}|{r.GetString(1)}|{r.GetString(2)}|{r.GetInt64(3)}");
        return string.Join('\n', rows);
    }

    private async Task<List<ChangeEvent>> ReadStreamAsync(string name)
    {
        await using var conn = new NatsConnection(new NatsOpts { Url = nats.Urls });
        var js = new NatsJSContext(conn);
        var consumer = await js.CreateOrderedConsumerAsync(name.ToUpperInvariant());
        var events = new List<ChangeEvent>();
        while (true)
        {
            var got = 0;
            ulong pending = 1;
            await foreach (var m in consumer.FetchAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = 500, Expires = TimeSpan.FromSeconds(2) }))
            {
                events.Add(JsonSerializer.Deserialize(m.Data!, AnalyticsJsonContext.Default.ChangeEvent)!);
                pending = m.Metadata!.Value.NumPending;
                got++;
            }
            if (got == 0 || pending == 0) return events;
        }
    }

    private async Task<long> PublishDuplicateAsync(string name, ChangeEvent e)
    {
        await using var conn = new NatsConnection(new NatsOpts { Url = nats.Urls });
        var js = new NatsJSContext(conn);
        var subject = $"{name}.{EventPartitioner.PartitionOf(e.UserId, 4)}";
        var ack = await js.PublishAsync(subject, JsonSerializer.SerializeToUtf8Bytes(e, AnalyticsJsonContext.Default.ChangeEvent),
            opts: new NatsJSPubOpts { MsgId = "copy-" + e.Position });
        ack.EnsureSuccess();
        Assert.False(ack.Duplicate);
        return (long)ack.Seq;
    }

    /// <summary>./shopgpt analytics replay's tool mode, as its own process with the same settings.</summary>
    private static async Task<int> ReplayAsync(Dictionary<string, string?> settings)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(ServerProcess.ServerDll);
        psi.ArgumentList.Add("analytics-replay");
        foreach (var (k, v) in TestApp.Settings(settings, maxPoolSize: 10)) psi.Environment[k.Replace(":", "__", StringComparison.Ordinal)] = v ?? "";
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(p.ExitCode == 0, $"replay exited with {p.ExitCode}: {await output} {await errors}");
        Assert.Contains("replayed engagement", await output, StringComparison.Ordinal);
        return p.ExitCode;
    }

    private static async Task<bool> SlotActiveAsync(ScratchDatabase db, string slot)
    {
        await using var cmd = db.Db.CreateCommand("select coalesce(bool_or(active), false) from pg_replication_slots where slot_name = $1");
        cmd.Parameters.AddWithValue(slot);
        return (bool)(await cmd.ExecuteScalarAsync())!;
    }

    private static Task WaitForMessagesAsync(ScratchDatabase db, long count) =>
        WaitAsync(async () => await db.ScalarAsync<long>("select count(*) from messages where role = 'user'") >= count, $"{count} stored user messages");

    /// <summary>Polls a condition with a deadline (the state lives in other processes; no event crosses to the test).</summary>
    internal static async Task WaitAsync(Func<Task<bool>> condition, string what, int seconds = 90, bool failOnTimeout = true)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (!failOnTimeout && DateTime.UtcNow >= deadline) return;
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting for {what}");
            await Task.Delay(100);
        }
    }

    internal static async Task DropSlotAsync(ScratchDatabase db, string slot)
    {
        await WaitAsync(async () => !await SlotActiveAsync(db, slot), "the slot to be released", 30);
        await db.ExecAsync("select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1", slot);
    }
}
