using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using ShopGpt.Server.Conversations;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Data.Tools;

/// <summary>
/// <c>dotnet ShopGpt.Server.dll bench-db</c> (./shopgpt bench db) over a database seeded by
/// <see cref="SeedTool"/>: keyset vs OFFSET page latency, conversation-list throughput with
/// prepared statements on and off, group-commit vs one-INSERT-per-message write throughput.
/// Every phase is bounded by --seconds.
/// </summary>
public static class DbBench
{
    private const int PageSize = 20;

    public static async Task<int> RunAsync(string[] args)
    {
        var o = Args.Parse(args);
        var seconds = o.Double("seconds", 8);
        var concurrency = o.Int("concurrency", 32);
        var cs = Args.ConnectionString(o);
        await using var db = Build(cs, autoPrepare: true);
        // The kept bench cluster follows the schema: a migration that changes what a write
        // maintains (e.g. 0700 dropping a redundant index) must be measured, not skipped.
        await new MigrationRunner(db, NullLogger<MigrationRunner>.Instance).RunAsync(CancellationToken.None);
        string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);

        long messages, conversations, users;
        await using (var cmd = db.CreateCommand("select (select count(*) from messages), (select count(*) from conversations), (select count(*) from users)"))
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            await r.ReadAsync();
            (messages, conversations, users) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
        }
        Console.WriteLine(Inv($"dataset: {messages:N0} messages, {conversations:N0} conversations, {users:N0} users; PostgreSQL {await ScalarAsync<string>(db, "show server_version")}, fsync={await ScalarAsync<string>(db, "show fsync")}, synchronous_commit={await ScalarAsync<string>(db, "show synchronous_commit")}, {Environment.ProcessorCount} cores"));

        // --only pages|list|writes runs one phase (for quick experiments).
        var only = o.Get("only");
        bool Run(string phase) => only is null || only == phase;

        // ---- 1. Keyset vs OFFSET --------------------------------------------------------------
        if (Run("pages"))
        {
            Guid whaleUser, whaleConv;
            long whaleSeq;
            await using (var cmd = db.CreateCommand("select user_id, conversation_id, last_seq from conversations order by last_seq desc limit 1"))
            await using (var r = await cmd.ExecuteReaderAsync())
            {
                await r.ReadAsync();
                (whaleUser, whaleConv, whaleSeq) = (r.GetGuid(0), r.GetGuid(1), r.GetInt64(2));
            }
            var whaleList = await ScalarAsync<long>(db, Inv($"select count(*) from conversations where user_id = '{whaleUser}' and not archived"));
            Console.WriteLine(Inv($"\n## keyset vs OFFSET, page size {PageSize}, median of repeated runs (ms)"));
            Console.WriteLine(Inv($"message history of one conversation ({whaleSeq:N0} messages):"));
            Console.WriteLine("| page | keyset, MessageReader.MessagesBeforeAsync (bounded seq range) | keyset, open-ended seq < cursor | OFFSET |");
            Console.WriteLine("|---:|---:|---:|---:|");
            var store = new MessageReader(db);
            foreach (var page in new[] { 1, 100, 5000 })
            {
                var offset = (long)(page - 1) * PageSize;
                if (offset >= whaleSeq) continue;
                // The app's own read (prepared; generic plans included): the cursor of page p is seq last - 20 (p - 1) + 1.
                var before = page == 1 ? long.MaxValue : whaleSeq + 1 - offset;
                var keyset = await MedianMsAsync(() => store.MessagesBeforeAsync(whaleUser, whaleConv, before, PageSize, CancellationToken.None), seconds / 6);
                var open = await MedianMsAsync(db, "select message_id, seq, text, created_at from messages where user_id = $1 and conversation_id = $2 and seq < $3 order by seq desc limit $4",
                    [whaleUser, whaleConv, whaleSeq + 1 - offset, PageSize], seconds / 6);
                var off = await MedianMsAsync(db, "select message_id, seq, text, created_at from messages where user_id = $1 and conversation_id = $2 order by seq desc offset $3 limit $4",
                    [whaleUser, whaleConv, offset, PageSize], seconds / 6);
                Console.WriteLine(Inv($"| {page:N0} | {keyset:F3} | {open:F3} | {off:F3} |"));
            }

            // The conversation list, with the real list query (incl. the LATERAL last message).
            Console.WriteLine(Inv($"conversation list of one user ({whaleList:N0} conversations):"));
            Console.WriteLine("| page | keyset ((updated_at, id) < cursor) | OFFSET |");
            Console.WriteLine("|---:|---:|---:|");
            var listPositions = new List<(DateTime At, Guid Id)>();
            await using (var cmd = db.CreateCommand("select updated_at, conversation_id from conversations where user_id = $1 and not archived order by updated_at desc, conversation_id desc"))
            {
                cmd.Parameters.AddWithValue(whaleUser);
                await using var r = await cmd.ExecuteReaderAsync();
                while (await r.ReadAsync()) listPositions.Add((r.GetDateTime(0), r.GetGuid(1)));
            }
            const string ListSelect =
                """
                select c.conversation_id, c.title, c.updated_at, m.text from conversations c
                left join lateral (select * from messages m where m.user_id = c.user_id and m.conversation_id = c.conversation_id and m.seq = c.last_seq limit 1) m on true
                """;
            foreach (var page in new[] { 1, 100, 1000 })
            {
                var offset = (page - 1) * PageSize;
                if (offset >= listPositions.Count) continue;
                double keyset = page == 1
                    ? await MedianMsAsync(db, ListSelect + " where c.user_id = $1 and c.archived = false order by c.updated_at desc, c.conversation_id desc limit $2", [whaleUser, PageSize], seconds / 6)
                    : await MedianMsAsync(db, ListSelect + " where c.user_id = $1 and c.archived = false and (c.updated_at, c.conversation_id) < ($3, $4) order by c.updated_at desc, c.conversation_id desc limit $2",
                        [whaleUser, PageSize, listPositions[offset - 1].At, listPositions[offset - 1].Id], seconds / 6);
                var off = await MedianMsAsync(db, ListSelect + " where c.user_id = $1 and c.archived = false order by c.updated_at desc, c.conversation_id desc offset $3 limit $2",
                    [whaleUser, PageSize, offset], seconds / 6);
                Console.WriteLine(Inv($"| {page:N0} | {keyset:F3} | {off:F3} |"));
            }

        }

        // ---- 2. List throughput, prepared on vs off ------------------------------------------
        if (Run("list"))
        {
            var userIds = new List<Guid>();
            await using (var cmd = db.CreateCommand("select user_id from users order by user_id limit 10000"))
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync()) userIds.Add(r.GetGuid(0));
            Console.WriteLine(Inv($"\n## conversation list, first page (limit {PageSize}, ConversationStore.ListAsync), random users, {concurrency} concurrent callers, {seconds:F0} s each"));
            Console.WriteLine("| statements | queries/s | p50 ms | p99 ms |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var prepared in new[] { true, false })
            {
                await using var ds = Build(cs, prepared, maxPool: concurrency);
                var listStore = new ConversationStore(ds);
                var (qps, p50, p99) = await ThroughputAsync(concurrency, seconds, async rng =>
                    await listStore.ListAsync(userIds[rng.Next(userIds.Count)], false, null, PageSize, CancellationToken.None));
                Console.WriteLine(Inv($"| {(prepared ? "prepared (auto-prepare)" : "unprepared (Max Auto Prepare=0)")} | {qps:N0} | {p50:F2} | {p99:F2} |"));
            }

        }

        // ---- 3. Batch format: multi-row unnest INSERT (the batcher's) vs binary COPY -----------
        if (Run("format"))
        {
            Console.WriteLine(Inv($"\n## one batch of 512 messages into the real messages table (rolled back, so only the insert is timed), {seconds / 2:F0} s each"));
            Console.WriteLine("| format | rows/s | median ms per batch |");
            Console.WriteLine("|---|---:|---:|");
            foreach (var copy in new[] { false, true })
            {
                var (rows, median) = await BatchFormatAsync(db, copy, 512, seconds / 2);
                Console.WriteLine(Inv($"| {(copy ? "binary COPY" : "INSERT ... SELECT FROM unnest($1..$9)")} | {rows:N0} | {median:F2} |"));
            }
        }

        // ---- 4. Writes: group commit vs one INSERT per message --------------------------------
        if (!Run("writes")) return 0;
        var targets = new List<(Guid User, Guid Conv)>();
        await using (var cmd = db.CreateCommand("select user_id, conversation_id from conversations order by conversation_id desc limit 2000"))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) targets.Add((r.GetGuid(0), r.GetGuid(1)));
        Console.WriteLine(Inv($"\n## message writes ({targets.Count:N0} conversations, {seconds:F0} s each)"));
        Console.WriteLine("| write path | concurrency | messages/s committed | p50 ms | p99 ms |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        {
            var meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
            await using var ds = Build(cs, true, maxPool: 8);
            // Defaults are the app's (MessagingOptions), so the bench measures what ships.
            var defaults = new MessagingOptions();
            var writers = o.Int("writers", defaults.Writers);
            var maxBatch = o.Int("max-batch", defaults.MaxBatch);
            var batcher = new MessageBatcher(ds, Options.Create(new MessagingOptions { MaxBatch = maxBatch, MaxDelayMs = o.Double("max-delay-ms", defaults.MaxDelayMs), Writers = writers }), NullLogger<MessageBatcher>.Instance,
                meters.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), subscribers: []);
            await batcher.StartAsync(CancellationToken.None);
            var inflight = o.Int("write-concurrency", 4096);
            // The senders and the batcher share this process, and the process shares the two cores
            // with PostgreSQL: report how much CPU it took, so the number is read as end-to-end.
            var me = Process.GetCurrentProcess();
            var cpuBefore = me.TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            var (mps, p50, p99) = await ThroughputAsync(inflight, seconds, async rng =>
            {
                var t = targets[rng.Next(targets.Count)];
                await batcher.SendAsync(new NewMessage(t.User, t.Conv, "user", "bench message with a realistic length about a lightweight rain jacket", null), CancellationToken.None);
            });
            me.Refresh();
            var cores = (me.TotalProcessorTime - cpuBefore).TotalSeconds / wall.Elapsed.TotalSeconds;
            await batcher.StopAsync(CancellationToken.None);
            Console.WriteLine(Inv($"| group commit (MessageBatcher, {writers} writer loop(s), batches of up to {maxBatch}) | {inflight:N0} in flight | {mps:N0} | {p50:F2} | {p99:F2} |"));
            Console.WriteLine(Inv($"(bench process, senders + MessageBatcher: {cores:F2} cores on average)"));
        }
        // --single off skips the one-INSERT-per-message comparison (quick group-commit experiments).
        if (o.Get("single") != "off")
        {
            await using var ds = Build(cs, true, maxPool: concurrency);
            var (mps, p50, p99) = await ThroughputAsync(concurrency, seconds, async rng =>
            {
                var t = targets[rng.Next(targets.Count)];
                // The naive path: one transaction per message (next seq under the row lock, insert, bump).
                await using var conn = await ds.OpenConnectionAsync();
                await using var tx = await conn.BeginTransactionAsync();
                await using var batch = new NpgsqlBatch(conn, tx)
                {
                    BatchCommands =
                    {
                        new("""
                            with c as (update conversations set last_seq = last_seq + 1, updated_at = now()
                                       where user_id = $1 and conversation_id = $2 returning user_id, conversation_id, last_seq)
                            insert into messages (user_id, conversation_id, seq, message_id, role, text)
                            select user_id, conversation_id, last_seq, $3, 'user', $4 from c
                            """)
                        {
                            Parameters = { new() { Value = t.User }, new() { Value = t.Conv }, new() { Value = Guid.CreateVersion7() }, new() { Value = "bench message with a realistic length about a lightweight rain jacket" } },
                        },
                    },
                };
                await batch.ExecuteNonQueryAsync();
                await tx.CommitAsync();
            });
            Console.WriteLine(Inv($"| one INSERT per message (own transaction each) | {concurrency} connections | {mps:N0} | {p50:F2} | {p99:F2} |"));
        }
        return 0;
    }

    private static async Task<(double RowsPerSecond, double MedianMs)> BatchFormatAsync(NpgsqlDataSource db, bool copy, int size, double seconds)
    {
        const string Text = "bench message with a realistic length about a lightweight rain jacket";
        var samples = new List<double>();
        var clock = Stopwatch.StartNew();
        long rows = 0;
        await using var conn = await db.OpenConnectionAsync();
        while (clock.Elapsed.TotalSeconds < seconds || samples.Count < 5)
        {
            var users = Enumerable.Range(0, size).Select(_ => Guid.CreateVersion7()).ToArray();
            var convs = Enumerable.Range(0, size).Select(_ => Guid.CreateVersion7()).ToArray();
            var ids = Enumerable.Range(0, size).Select(_ => Guid.CreateVersion7()).ToArray();
            var now = DateTime.UtcNow;
            await using var tx = await conn.BeginTransactionAsync();
            var t = Stopwatch.GetTimestamp();
            if (copy)
            {
                await using var w = await conn.BeginBinaryImportAsync(
                    "copy messages (user_id, conversation_id, seq, message_id, role, text, status, created_at) from stdin (format binary)");
                for (var i = 0; i < size; i++)
                {
                    await w.StartRowAsync();
                    await w.WriteAsync(users[i], NpgsqlTypes.NpgsqlDbType.Uuid);
                    await w.WriteAsync(convs[i], NpgsqlTypes.NpgsqlDbType.Uuid);
                    await w.WriteAsync(1L, NpgsqlTypes.NpgsqlDbType.Bigint);
                    await w.WriteAsync(ids[i], NpgsqlTypes.NpgsqlDbType.Uuid);
                    await w.WriteAsync("user", NpgsqlTypes.NpgsqlDbType.Text);
                    await w.WriteAsync(Text, NpgsqlTypes.NpgsqlDbType.Text);
                    await w.WriteAsync("complete", NpgsqlTypes.NpgsqlDbType.Text);
                    await w.WriteAsync(now, NpgsqlTypes.NpgsqlDbType.TimestampTz);
                }
                await w.CompleteAsync();
            }
            else
            {
                await using var cmd = new NpgsqlCommand(
                    """
                    insert into messages (user_id, conversation_id, seq, message_id, role, text, status, created_at)
                    select u, c, 1, id, 'user', t, 'complete', $4 from unnest($1::uuid[], $2::uuid[], $3::uuid[], $5::text[]) as k(u, c, id, t)
                    """, conn, tx);
                cmd.Parameters.AddWithValue(users);
                cmd.Parameters.AddWithValue(convs);
                cmd.Parameters.AddWithValue(ids);
                cmd.Parameters.AddWithValue(now);
                cmd.Parameters.AddWithValue(Enumerable.Repeat(Text, size).ToArray());
                await cmd.ExecuteNonQueryAsync();
            }
            samples.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            rows += size;
            await tx.RollbackAsync();
        }
        samples.Sort();
        return (rows / (samples.Sum() / 1000), samples[samples.Count / 2]);
    }

    private static NpgsqlDataSource Build(string cs, bool autoPrepare, int maxPool = 16)
    {
        var csb = new NpgsqlConnectionStringBuilder(cs)
        {
            MaxPoolSize = maxPool,
            MaxAutoPrepare = autoPrepare ? 100 : 0,
            AutoPrepareMinUsages = 2,
            CommandTimeout = 120,
            Timeout = 30,
        };
        return NpgsqlDataSource.Create(csb.ConnectionString);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>Median latency of one query on one connection, repeated for about <paramref name="budget"/> seconds (at least 5 runs, after 2 warm-ups).</summary>
    private static async Task<double> MedianMsAsync(NpgsqlDataSource db, string sql, object[] args, double budget)
    {
        await using var conn = await db.OpenConnectionAsync();
        var samples = new List<double>();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 2 + 5 || (clock.Elapsed.TotalSeconds < budget && samples.Count < 200); i++)
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            foreach (var a in args) cmd.Parameters.AddWithValue(a);
            var t = Stopwatch.GetTimestamp();
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync())
                {
                }
            if (i >= 2) samples.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        samples.Sort();
        return samples[samples.Count / 2];
    }

    private static async Task<double> MedianMsAsync(Func<Task> op, double budget)
    {
        var samples = new List<double>();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 2 + 5 || (clock.Elapsed.TotalSeconds < budget && samples.Count < 200); i++)
        {
            var t = Stopwatch.GetTimestamp();
            await op();
            if (i >= 2) samples.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        samples.Sort();
        return samples[samples.Count / 2];
    }

    private static async Task<(double PerSecond, double P50, double P99)> ThroughputAsync(int workers, double seconds, Func<Random, Task> op)
    {
        // Warm up (pool, prepared statements), then measure.
        await Task.WhenAll(Enumerable.Range(0, Math.Min(workers, 64)).Select(async w => { var r = new Random(w); for (var i = 0; i < 3; i++) await op(r); }));
        var latencies = new ConcurrentBag<double[]>();
        long count = 0;
        var clock = Stopwatch.StartNew();
        var stopAt = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var r = new Random(1000 + w);
            var mine = new List<double>();
            while (clock.Elapsed < stopAt)
            {
                var t = Stopwatch.GetTimestamp();
                await op(r);
                mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                Interlocked.Increment(ref count);
            }
            latencies.Add([.. mine]);
        })));
        var elapsed = clock.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return (count / elapsed, all.Length == 0 ? 0 : all[all.Length / 2], all.Length == 0 ? 0 : all[(int)(all.Length * 0.99)]);
    }
}
