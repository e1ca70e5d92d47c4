using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using ShopGpt.Server.Http;

namespace ShopGpt.Server.Messaging;

/// <summary>
/// What a committed batch changed, for features that keep something derived from messages (the
/// Conversations list cache): each (owner, archived) conversation list that got a new message,
/// archived as read under the conversation's row lock.
/// </summary>
public sealed record CommittedBatch(IReadOnlySet<(Guid OwnerId, bool Archived)> Lists);

/// <summary>A subscriber to <see cref="CommittedBatch"/>; awaited after the commit, before the senders are acknowledged.</summary>
public interface IBatchCommitted
{
    Task OnCommittedAsync(CommittedBatch batch);
}

public sealed class MessagingOptions
{
    /// <summary>
    /// Most messages committed in one transaction. Only reached under load (a batch is whatever
    /// queued while the previous one committed); 2048 rather than 512 because a larger batch
    /// touches each conversation row once for more messages and pays the per-statement and
    /// per-commit costs less often (issue 6, bench db on a quiet machine: 512 → 1024 → 2048
    /// gave more messages/s and a lower p50, see docs/benchmarks.md).
    /// </summary>
    [Range(1, 10_000)] public int MaxBatch { get; set; } = 2048;

    /// <summary>How long the writer lingers for more sends after the first one of a batch.</summary>
    [Range(0, 100)] public double MaxDelayMs { get; set; } = 2;

    /// <summary>Sends waiting for a writer; beyond it a send is refused as unavailable (503 / err unavailable).</summary>
    [Range(1, 1_000_000)] public int QueueCapacity { get; set; } = 20_000;

    /// <summary>
    /// Writer loops committing batches concurrently (issue 6): while one batch waits for its
    /// commit, another executes. Sends are routed by conversation, so one conversation's sends
    /// stay in arrival order in one loop; across loops the row lock keeps seq gap-free.
    /// </summary>
    [Range(1, 16)] public int Writers { get; set; } = 2;

    [Range(1, 100_000)] public int MaxTextLength { get; set; } = 4000;

    [Range(1, 200)] public int MaxClientIdLength { get; set; } = 100;
}

/// <summary>
/// Group commit (issue 2, scaling report section 2 "batch operations"): each writer loop
/// (<see cref="MessagingOptions.Writers"/>, sends routed by conversation) drains a bounded
/// queue, commits up to <see cref="MessagingOptions.MaxBatch"/> sends in one transaction and
/// completes each caller with its committed row. Per conversation, the transaction locks the
/// conversation row, so seq is gap-free and a repeated client id is found even when two
/// writers (loops or instances) write to the same conversation.
/// </summary>
public sealed partial class MessageBatcher : BackgroundService
{
    private readonly Channel<Pending>[] queues;
    private readonly NpgsqlDataSource db;
    private readonly MessagingOptions options;
    private readonly ILogger<MessageBatcher> log;
    private readonly Histogram<int> batchSize;
    private readonly Histogram<double> commitLatency;
    private readonly Counter<long> commits;
    private readonly Counter<long> duplicates;
    private readonly IBatchCommitted[] subscribers;

    public MessageBatcher(NpgsqlDataSource db, IOptions<MessagingOptions> options, ILogger<MessageBatcher> log, IMeterFactory meters,
        IEnumerable<IBatchCommitted> subscribers) // none in tools that commit without a cache (bench db)
    {
        this.subscribers = [.. subscribers];
        this.db = db;
        this.options = options.Value;
        this.log = log;
        queues = Enumerable.Range(0, this.options.Writers)
            .Select(_ => Channel.CreateBounded<Pending>(new BoundedChannelOptions(Math.Max(1, this.options.QueueCapacity / this.options.Writers))
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.Wait,
            }))
            .ToArray();
        var meter = meters.Create("ShopGpt.Messaging");
        batchSize = meter.CreateHistogram<int>("shopgpt.messaging.batch_size", "{message}", "Messages committed per transaction",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096] });
        commitLatency = meter.CreateHistogram<double>("shopgpt.messaging.commit_duration", "s", "Time to commit one batch",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] });
        commits = meter.CreateCounter<long>("shopgpt.messaging.messages_committed", "{message}", "Messages stored");
        duplicates = meter.CreateCounter<long>("shopgpt.messaging.duplicates_absorbed", "{message}", "Resends answered with the original message");
        meter.CreateObservableGauge("shopgpt.messaging.queue_depth", () => queues.Sum(q => q.Reader.Count), "{message}", "Sends waiting to be committed");
    }

    /// <summary>Stores the message (or finds the original for a repeated client id). Completes after commit.</summary>
    public async Task<SendOutcome> SendAsync(NewMessage message, CancellationToken ct)
    {
        var p = new Pending(message);
        var queue = queues[(uint)message.ConversationId.GetHashCode() % (uint)queues.Length];
        if (!queue.Writer.TryWrite(p)) throw new ServiceUnavailableException("The write queue is full.");
        // The caller may give up waiting, but the send stays queued: a retry with the same client id
        // then finds the stored row, so nothing is half-done.
        return await p.Completion.Task.WaitAsync(ct);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Graceful shutdown: accept no more, let the loop drain what was queued, then stop.
        foreach (var q in queues) q.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(queues.Select(q => Task.Run(() => WriterLoopAsync(q.Reader, stoppingToken), CancellationToken.None)));

    private async Task WriterLoopAsync(ChannelReader<Pending> reader, CancellationToken stoppingToken)
    {
        var batch = new List<Pending>(options.MaxBatch);
        // The loop ends when the queue is completed and drained, not on the stopping token, so
        // everything acknowledged as queued is committed or answered before the process exits.
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < options.MaxBatch && reader.TryRead(out var p)) batch.Add(p);
            if (batch.Count < options.MaxBatch && options.MaxDelayMs > 0 && !stoppingToken.IsCancellationRequested)
            {
                using var linger = new CancellationTokenSource(TimeSpan.FromMilliseconds(options.MaxDelayMs));
                try
                {
                    while (batch.Count < options.MaxBatch && await reader.WaitToReadAsync(linger.Token))
                        while (batch.Count < options.MaxBatch && reader.TryRead(out var p)) batch.Add(p);
                }
                catch (OperationCanceledException) when (linger.IsCancellationRequested)
                {
                }
            }
            await CommitAsync(batch);
            batch.Clear();
        }
    }

    private async Task CommitAsync(List<Pending> batch)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var (results, lists) = await WriteAsync(batch, CancellationToken.None);
            await NotifyCommittedAsync(new CommittedBatch(lists));
            for (var i = 0; i < batch.Count; i++) batch[i].Completion.TrySetResult(results[i]);
            commitLatency.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        catch (Exception e)
        {
            var failure = HttpBasics.IsUnavailable(e) ? new ServiceUnavailableException("The database is unavailable.", e) : e;
            LogCommitFailed(log, batch.Count, e.GetType().Name, e);
            foreach (var p in batch) p.Completion.TrySetException(failure);
        }
    }

    /// <summary>
    /// Tells the subscribers (the Conversations list cache) which lists got new messages, after
    /// the commit and before acknowledging, so the sender's next read already sees the change.
    /// A subscriber's failure never fails a committed write.
    /// </summary>
    private async Task NotifyCommittedAsync(CommittedBatch batch)
    {
        if (subscribers.Length == 0 || batch.Lists.Count == 0) return;
        try
        {
            await Task.WhenAll(subscribers.Select(s => s.OnCommittedAsync(batch)));
        }
        catch (Exception e)
        {
            LogSubscriberFailed(log, e.GetType().Name, e);
        }
    }

    /// <returns>Each send's outcome, and the (owner, archived) lists that got a new message.</returns>
    private async Task<(SendOutcome[] Results, HashSet<(Guid OwnerId, bool Archived)> Lists)> WriteAsync(List<Pending> batch, CancellationToken ct)
    {
        var results = new SendOutcome[batch.Count];
        var lists = new HashSet<(Guid OwnerId, bool Archived)>();
        var convKeys = batch.Select(p => (p.Message.UserId, p.Message.ConversationId)).Distinct().OrderBy(k => k.ConversationId).ToArray();

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);

        // 1 + 2 in ONE round trip (one NpgsqlBatch): lock the conversations and read last_seq,
        // one index probe per key in the keys' order (sorted by conversation id, the same way on
        // every instance; a nested loop over unnest runs in array order), so two instances never deadlock. The LATERAL form
        // has no plan but the probe: joined to unnest, a cached generic plan made while the table
        // was small was a hash join over a sequential scan, and a young, busy table is mostly
        // dead row versions (fan-out bench: 9,000 scans of 1,000 live + 140k dead rows in two
        // minutes, before autovacuum's first analyze). Then find client ids already stored
        // (resends, answered with the original row). Ownership is part of both keys, so another
        // user's conversation is simply not found. Read committed gives each statement its own
        // snapshot, taken when it starts: the lookup runs after the locks are held, so it sees
        // every row a concurrent writer of these conversations committed before us. archived is
        // read under the same lock: a PATCH that (un)archives waits for it, then invalidates both lists.
        var lastSeq = new Dictionary<(Guid, Guid), long>();
        var archived = new Dictionary<(Guid, Guid), bool>();
        var existing = new Dictionary<(Guid, string), Message>();
        var withClientId = batch.Where(p => p.Message.ClientId is not null).ToArray();
        await using (var read = new NpgsqlBatch(conn, tx))
        {
            read.BatchCommands.Add(new NpgsqlBatchCommand(
                """
                select c.user_id, c.conversation_id, c.last_seq, c.archived
                from unnest($1::uuid[], $2::uuid[]) as k(u, c2)
                cross join lateral (
                  select user_id, conversation_id, last_seq, archived from conversations
                  where user_id = k.u and conversation_id = k.c2 for update) c
                """)
            {
                Parameters =
                {
                    new() { Value = convKeys.Select(k => k.UserId).ToArray() },
                    new() { Value = convKeys.Select(k => k.ConversationId).ToArray() },
                },
            });
            // The resend lookup is planned for this batch, never from the cached generic plan:
            // a generic plan made while the month's partition was small is a hash join over a
            // sequential scan, and it stays cached until autovacuum next analyzes the partition
            // (naptime 60 s). After a burst that cost ~50 ms per batch at 300k rows (fan-out
            // bench: acks at 25 % load took 68 ms p50 vs 12 ms at 50 %; reproduced with PREPARE
            // in psql), while a custom plan is an index probe per key (0.1 ms; planning ~0.4 ms).
            // SET LOCAL ends with the transaction; the later statements go back to auto.
            if (withClientId.Length > 0)
            {
                read.BatchCommands.Add(new NpgsqlBatchCommand("set local plan_cache_mode = force_custom_plan"));
                read.BatchCommands.Add(new NpgsqlBatchCommand(
                    $"""
                    select {Message.Columns} from messages m
                    join unnest($1::uuid[], $2::uuid[], $3::text[]) as k(u, c, cl)
                      on m.user_id = k.u and m.conversation_id = k.c and m.client_id = k.cl
                    """)
                {
                    Parameters =
                    {
                        new() { Value = withClientId.Select(p => p.Message.UserId).ToArray() },
                        new() { Value = withClientId.Select(p => p.Message.ConversationId).ToArray() },
                        new() { Value = withClientId.Select(p => p.Message.ClientId!).ToArray() },
                    },
                });
                read.BatchCommands.Add(new NpgsqlBatchCommand("set local plan_cache_mode = auto"));
            }
            await using var r = await read.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                lastSeq[(r.GetGuid(0), r.GetGuid(1))] = r.GetInt64(2);
                archived[(r.GetGuid(0), r.GetGuid(1))] = r.GetBoolean(3);
            }
            if (withClientId.Length > 0 && await r.NextResultAsync(ct))
            {
                while (await r.ReadAsync(ct))
                {
                    var m = Message.Read(r);
                    existing[(m.ConversationId, m.ClientId!)] = m;
                }
            }
        }

        // 3. Assign seqs in arrival order; a client id repeated inside the batch maps to its first row.
        var now = TruncateToMicros(DateTimeOffset.UtcNow);
        var rows = new List<Message>(batch.Count);
        var owners = new List<Guid>(batch.Count);
        var products = new List<string?>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var m = batch[i].Message;
            if (!lastSeq.TryGetValue((m.UserId, m.ConversationId), out var seq))
            {
                results[i] = SendOutcome.NotFound;
                continue;
            }
            if (m.ClientId is not null && existing.TryGetValue((m.ConversationId, m.ClientId), out var original))
            {
                results[i] = new SendOutcome(original, Duplicate: true);
                continue;
            }
            seq++;
            lastSeq[(m.UserId, m.ConversationId)] = seq;
            var row = new Message(m.MessageId ?? Guid.CreateVersion7(now), m.ConversationId, seq, m.Role, m.Text,
                m.ProductsJson is null ? null : System.Text.Json.JsonDocument.Parse(m.ProductsJson).RootElement.Clone(),
                now, m.ClientId, m.Status);
            if (m.ClientId is not null) existing[(m.ConversationId, m.ClientId)] = row;
            rows.Add(row);
            owners.Add(m.UserId);
            products.Add(m.ProductsJson);
            lists.Add((m.UserId, archived[(m.UserId, m.ConversationId)]));
            results[i] = new SendOutcome(row, Duplicate: false);
        }

        if (rows.Count > 0)
        {
            // 4. One multi-row INSERT and one UPDATE for the whole batch, in one round trip.
            var touched = rows.Select((r, i) => (Owner: owners[i], r.ConversationId)).Distinct().ToArray();
            await using var write = new NpgsqlBatch(conn, tx)
            {
                BatchCommands =
                {
                    new("""
                        insert into messages (user_id, conversation_id, seq, message_id, role, text, products, client_id, status, created_at)
                        select u, c, s, id, role, text, p::jsonb, cl, st, $10
                        from unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
                          as k(u, c, s, id, role, text, p, cl, st)
                        """)
                    {
                        Parameters =
                        {
                            new() { Value = owners.ToArray() },
                            new() { Value = rows.Select(r => r.ConversationId).ToArray() },
                            new() { Value = rows.Select(r => r.Seq).ToArray() },
                            new() { Value = rows.Select(r => r.Id).ToArray() },
                            new() { Value = rows.Select(r => r.Role).ToArray() },
                            new() { Value = rows.Select(r => r.Text).ToArray() },
                            new() { Value = products.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
                            new() { Value = rows.Select(r => r.ClientId).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
                            new() { Value = rows.Select(r => r.Status).ToArray() },
                            new() { Value = now },
                        },
                    },
                    // Planned for this batch (see the lock above): a generic plan cached while
                    // the table was small would hash-join a sequential scan of it; a custom plan
                    // sees the table's current size. SET LOCAL ends with the transaction.
                    new("set local plan_cache_mode = force_custom_plan"),
                    new("""
                        update conversations c set last_seq = k.s, updated_at = greatest(c.updated_at, $4)
                        from unnest($1::uuid[], $2::uuid[], $3::bigint[]) as k(u, c2, s)
                        where c.user_id = k.u and c.conversation_id = k.c2
                        """)
                    {
                        Parameters =
                        {
                            new() { Value = touched.Select(t => t.Owner).ToArray() },
                            new() { Value = touched.Select(t => t.ConversationId).ToArray() },
                            new() { Value = touched.Select(t => lastSeq[(t.Owner, t.ConversationId)]).ToArray() },
                            new() { Value = now },
                        },
                    },
                },
            };
            await write.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);

        batchSize.Record(rows.Count);
        commits.Add(rows.Count);
        var dup = results.Count(r => r.Duplicate);
        if (dup > 0) duplicates.Add(dup);
        return (results, lists);
    }

    // PostgreSQL keeps microseconds; the row handed back must equal the row stored.
    internal static DateTimeOffset TruncateToMicros(DateTimeOffset t) => new(t.UtcTicks - t.UtcTicks % 10, TimeSpan.Zero);

    private sealed class Pending(NewMessage message)
    {
        public NewMessage Message { get; } = message;
        public TaskCompletionSource<SendOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Committing a batch of {Count} messages failed ({ExceptionType})")]
    private static partial void LogCommitFailed(ILogger logger, int count, string exceptionType, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch-committed subscriber failed ({ExceptionType})")]
    private static partial void LogSubscriberFailed(ILogger logger, string exceptionType, Exception e);
}

internal sealed class NoFollowers : IConversationEvents
{
    public void Publish(ConversationEvent e)
    {
    }
}

internal sealed class NoAssistant : IAssistantTurns
{
    public void Start(Guid ownerId, Message userMessage)
    {
    }

    public bool Stop(Guid ownerId, Guid conversationId) => false;
}

public static class MessagingSetup
{
    public static void AddMessaging(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MessagingOptions>().BindConfiguration("Messaging").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<MessageBatcher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MessageBatcher>());
        builder.Services.AddSingleton<MessageWriter>();
        builder.Services.AddSingleton<MessageService>();
        builder.Services.AddSingleton<MessageReader>();
        // Stand-ins until the Realtime and Assistant features register theirs (TryAdd: theirs win).
        builder.Services.TryAddSingleton<IConversationEvents, NoFollowers>();
        builder.Services.TryAddSingleton<IAssistantTurns, NoAssistant>();
    }
}
