using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace ShopGpt.Server.Data.Tools;

/// <summary>
/// <c>dotnet ShopGpt.Server.dll seed --users N --conversations M --messages K</c> (./shopgpt seed):
/// realistic volume for benchmarks, written with binary COPY into the real schema (indexes in
/// place). One "whale" user owns a long conversation list and one very long conversation so deep
/// pages exist; everything else is spread over the other users. Timestamps fall in the current
/// month (whose partition exists), increasing with seq; about 5% of conversations are shared.
/// </summary>
public static class SeedTool
{
    private static readonly string[] Products = ["sneakers", "rain jacket", "laptop", "mirrorless camera", "blender", "kettle", "headphones", "backpack", "monitor", "desk lamp", "coffee grinder", "running watch", "tent", "office chair", "air fryer"];
    private static readonly string[] Adjectives = ["cheap", "lightweight", "waterproof", "quiet", "durable", "compact", "premium", "refurbished", "wireless", "ergonomic"];

    public static async Task<int> RunAsync(string[] args)
    {
        var o = Args.Parse(args);
        int users = o.Int("users", 10_000), conversations = o.Int("conversations", 100_000);
        long messages = o.Long("messages", 2_000_000);
        int whaleConversations = o.Int("whale-conversations", Math.Min(conversations / 4, 25_000));
        long whaleMessages = o.Long("whale-messages", Math.Min(messages / 10, 110_000));
        var seed = o.Int("seed", 42);
        if (users < 1 || conversations < users || messages < conversations)
        {
            await Console.Error.WriteLineAsync("seed needs users >= 1, conversations >= users and messages >= conversations");
            return 2;
        }

        await using var db = NpgsqlDataSource.Create(Args.ConnectionString(o));
        await new MigrationRunner(db, NullLogger<MigrationRunner>.Instance).RunAsync(CancellationToken.None);
        var rng = new Random(seed);
        var clock = Stopwatch.StartNew();

        var userIds = Enumerable.Range(0, users).Select(_ => Guid.CreateVersion7()).ToArray();
        var now = DateTime.UtcNow;
        var monthStart = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        var span = now - monthStart > TimeSpan.FromHours(1) ? now - monthStart : TimeSpan.FromHours(1);
        var origin = now - span;

        // Messages per conversation: the whale conversation first, the rest spread at random (>= 1 each).
        var perConversation = new int[conversations];
        perConversation[0] = (int)Math.Max(1, whaleMessages);
        long remaining = messages - perConversation[0];
        for (var i = 1; i < conversations; i++) perConversation[i] = 1;
        remaining -= conversations - 1;
        while (remaining > 0)
        {
            var chunk = (int)Math.Min(remaining, 64);
            perConversation[1 + rng.Next(conversations - 1)] += chunk;
            remaining -= chunk;
        }
        var owners = new Guid[conversations];
        var convIds = new Guid[conversations];
        var starts = new DateTime[conversations];
        var steps = new double[conversations];
        for (var i = 0; i < conversations; i++)
        {
            owners[i] = i < whaleConversations || users == 1 ? userIds[0] : userIds[1 + i % (users - 1)];
            convIds[i] = Guid.CreateVersion7();
            starts[i] = origin.AddSeconds(rng.NextDouble() * span.TotalSeconds * 0.5);
            // Spread the conversation's messages over what is left of the window (microsecond steps at least).
            steps[i] = Math.Max(1e-3, (now - starts[i]).TotalSeconds * 0.95 / perConversation[i]);
        }

        var total = users + conversations + messages;
        var progress = new Progress(total);
        await using (var conn = await db.OpenConnectionAsync())
        {
            await using (var copy = await conn.BeginBinaryImportAsync("copy users (user_id, display_name, is_guest, created_at) from stdin (format binary)"))
            {
                for (var i = 0; i < users; i++)
                {
                    await copy.StartRowAsync();
                    await copy.WriteAsync(userIds[i], NpgsqlDbType.Uuid);
                    await copy.WriteAsync(i == 0 ? "whale" : $"shopper {i.ToString(CultureInfo.InvariantCulture)}", NpgsqlDbType.Text);
                    await copy.WriteAsync(i % 3 == 0, NpgsqlDbType.Boolean);
                    await copy.WriteAsync(origin, NpgsqlDbType.TimestampTz);
                    progress.Add(1);
                }
                await copy.CompleteAsync();
            }
            await using (var copy = await conn.BeginBinaryImportAsync(
                "copy conversations (user_id, conversation_id, title, created_at, updated_at, last_seq, shared) from stdin (format binary)"))
            {
                for (var i = 0; i < conversations; i++)
                {
                    await copy.StartRowAsync();
                    await copy.WriteAsync(owners[i], NpgsqlDbType.Uuid);
                    await copy.WriteAsync(convIds[i], NpgsqlDbType.Uuid);
                    await copy.WriteAsync($"{Adjectives[i % Adjectives.Length]} {Products[i % Products.Length]}", NpgsqlDbType.Text);
                    await copy.WriteAsync(starts[i], NpgsqlDbType.TimestampTz);
                    await copy.WriteAsync(MessageTime(starts[i], steps[i], perConversation[i]), NpgsqlDbType.TimestampTz);
                    await copy.WriteAsync((long)perConversation[i], NpgsqlDbType.Bigint);
                    await copy.WriteAsync(rng.Next(20) == 0, NpgsqlDbType.Boolean);
                    progress.Add(1);
                }
                await copy.CompleteAsync();
            }
        }

        // Messages: two COPY streams (two cores), each a disjoint half of the conversations.
        var workers = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
        {
            var r = new Random(seed + 1 + w);
            await using var conn = await db.OpenConnectionAsync();
            // Trigram GIN entries go to the pending list and are merged in bulk, not row by row.
            await using (var set = new NpgsqlCommand($"set gin_pending_list_limit = {o.Int("gin-pending-kb", 65536)}", conn))
                await set.ExecuteNonQueryAsync();
            await using var copy = await conn.BeginBinaryImportAsync(
                "copy messages (user_id, conversation_id, seq, message_id, role, text, created_at) from stdin (format binary)");
            for (var i = w; i < conversations; i += 2)
            {
                for (var s = 1; s <= perConversation[i]; s++)
                {
                    var at = MessageTime(starts[i], steps[i], s);
                    await copy.StartRowAsync();
                    await copy.WriteAsync(owners[i], NpgsqlDbType.Uuid);
                    await copy.WriteAsync(convIds[i], NpgsqlDbType.Uuid);
                    await copy.WriteAsync((long)s, NpgsqlDbType.Bigint);
                    await copy.WriteAsync(Guid.CreateVersion7(at), NpgsqlDbType.Uuid);
                    var user = s % 2 == 1;
                    await copy.WriteAsync(user ? "user" : "assistant", NpgsqlDbType.Text);
                    await copy.WriteAsync(Text(r, user), NpgsqlDbType.Text);
                    await copy.WriteAsync(at, NpgsqlDbType.TimestampTz);
                    if ((s & 1023) == 0) progress.Add(1024);
                }
                progress.Add(perConversation[i] & 1023);
            }
            await copy.CompleteAsync();
        })).ToArray();
        await Task.WhenAll(workers);
        progress.Done();

        await using (var analyze = db.CreateCommand("analyze users; analyze conversations; analyze messages"))
        {
            analyze.CommandTimeout = 600;
            await analyze.ExecuteNonQueryAsync();
        }
        var secs = clock.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"seeded {users:N0} users, {conversations:N0} conversations, {messages:N0} messages in {secs:F1} s: {total / secs:N0} rows/s (binary COPY, indexes in place, incl. ANALYZE)"));
        return 0;
    }

    private static DateTime MessageTime(DateTime start, double step, long seq) => start.AddTicks((long)(step * seq * TimeSpan.TicksPerSecond));

    private static string Text(Random r, bool user)
    {
        var p = Products[r.Next(Products.Length)];
        var a = Adjectives[r.Next(Adjectives.Length)];
        return user
            ? $"I'm looking for a {a} {p} under ${r.Next(20, 900)}, ideally with good reviews (ref {r.Next(1_000_000)})"
            : $"Here are {r.Next(2, 6)} {a} {p} options between ${r.Next(20, 300)} and ${r.Next(300, 1200)}; the best rated has {r.Next(3, 5)}.{r.Next(10)} stars from {r.Next(50, 9000)} reviews.";
    }

    private sealed class Progress(long total)
    {
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private long done;
        private long lastPrinted;

        public void Add(long n)
        {
            var d = Interlocked.Add(ref done, n);
            var ms = clock.ElapsedMilliseconds;
            var last = Interlocked.Read(ref lastPrinted);
            if (ms - last < 250 || Interlocked.CompareExchange(ref lastPrinted, ms, last) != last) return;
            Print(d);
        }

        public void Done()
        {
            Print(total);
            Console.Error.WriteLine();
        }

        private void Print(long d)
        {
            var frac = Math.Min(1, (double)d / total);
            var bar = new string('#', (int)(frac * 40)).PadRight(40, '.');
            Console.Error.Write(string.Create(CultureInfo.InvariantCulture,
                $"\r[{bar}] {frac * 100,5:F1}% {d,12:N0}/{total:N0} rows {d / Math.Max(0.001, clock.Elapsed.TotalSeconds),10:N0} rows/s"));
        }
    }
}

/// <summary>--name value command-line options for the tools.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, string> values = new(StringComparer.Ordinal);

    public static Args Parse(string[] args)
    {
        var a = new Args();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument {args[i]}");
            var name = args[i][2..];
            a.values[name] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
        }
        return a;
    }

    public string? Get(string name) => values.GetValueOrDefault(name);

    public int Int(string name, int fallback) => values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public long Long(string name, long fallback) => values.TryGetValue(name, out var v) ? long.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) => values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

    /// <summary>--pg, else ConnectionStrings__Postgres (what ./shopgpt exports), else the appsettings default.</summary>
    public static string ConnectionString(Args o) =>
        o.Get("pg") ?? Environment.GetEnvironmentVariable("ConnectionStrings__Postgres") ?? "Host=127.0.0.1;Port=55432;Username=shopgpt;Database=shopgpt";
}
