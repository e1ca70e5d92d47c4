using System.Text.Json;
using Microsoft.Extensions.Options;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace ShopGpt.Server.Analytics;

/// <summary>
/// The event log on NATS JetStream: one stream, one subject per partition
/// ("{prefix}.{partition}"), file storage, retention by age and size, the capture position as
/// Nats-Msg-Id so a re-published event is dropped within the duplicate window.
/// </summary>
public sealed class JetStreamEventLog : IEventLog
{
    private readonly AnalyticsOptions options;
    private readonly NatsConnection nats;
    private readonly NatsJSContext js;

    public JetStreamEventLog(IOptions<AnalyticsOptions> options)
    {
        this.options = options.Value;
        nats = new NatsConnection(new NatsOpts
        {
            Url = string.Join(',', this.options.NatsUrls),
            Name = "shopgpt-analytics",
            // Keep trying while a server restarts; publishes meanwhile fail and are retried by the capture.
            MaxReconnectRetry = -1,
            RetryOnInitialConnect = true,
        });
        js = new NatsJSContext(nats);
    }

    public int Partitions => options.Partitions;

    public string SubjectOf(int partition) => $"{options.SubjectPrefix}.{partition}";

    public async Task EnsureAsync(CancellationToken ct)
    {
        var config = new StreamConfig(options.Stream, [options.SubjectPrefix + ".*"])
        {
            Storage = StreamConfigStorage.File,
            NumReplicas = options.Replicas,
            MaxAge = options.MaxAge,
            MaxBytes = options.MaxBytes,
            Discard = StreamConfigDiscard.Old,
            DuplicateWindow = options.DuplicateWindow,
        };
        await js.CreateOrUpdateStreamAsync(config, ct);
    }

    public async Task AppendAsync(ChangeEvent e, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(e, AnalyticsJsonContext.Default.ChangeEvent);
        var subject = SubjectOf(EventPartitioner.PartitionOf(e.UserId, options.Partitions));
        try
        {
            var ack = await js.PublishAsync(subject, body, opts: new NatsJSPubOpts { MsgId = e.Position }, cancellationToken: ct);
            ack.EnsureSuccess();
        }
        catch (NatsJSDuplicateMessageException)
        {
            // Stored before (a re-capture after a crash, or a retry whose first ack was lost): done.
        }
    }

    public IEventReader OpenReader(int partition, long afterStreamSeq) => new Reader(this, partition, afterStreamSeq);

    public async Task<long> LastSequenceAsync(CancellationToken ct)
    {
        var stream = await js.GetStreamAsync(options.Stream, cancellationToken: ct);
        return (long)stream.Info.State.LastSeq;
    }

    public async ValueTask DisposeAsync() => await nats.DisposeAsync();

    /// <summary>
    /// An unacknowledged, ephemeral consumer of one partition's subject, in memory, one replica:
    /// positions live in PostgreSQL with the rollups, so losing this consumer (its server died,
    /// idle past the threshold) costs only a new one from the stored position. (An ordered
    /// consumer would restart itself, but filters it by FilterSubjects, which nats-server 2.9 ignores.)
    /// </summary>
    private sealed class Reader(JetStreamEventLog log, int partition, long afterStreamSeq) : IEventReader
    {
        private INatsJSConsumer? consumer;
        private long last = afterStreamSeq;

        public async Task<IReadOnlyList<LoggedEvent>> ReadAsync(int max, TimeSpan wait, CancellationToken ct)
        {
            consumer ??= await log.js.CreateOrUpdateConsumerAsync(log.options.Stream, new ConsumerConfig
            {
                Name = $"{log.options.Stream}-p{partition}-{Guid.NewGuid():N}",
                FilterSubject = log.SubjectOf(partition),
                // From sequence 1 also works once retention dropped the oldest: delivery starts at the first kept.
                DeliverPolicy = ConsumerConfigDeliverPolicy.ByStartSequence,
                OptStartSeq = (ulong)(last + 1),
                AckPolicy = ConsumerConfigAckPolicy.None,
                InactiveThreshold = TimeSpan.FromMinutes(1),
                MemStorage = true,
                NumReplicas = 1,
            }, ct);
            var batch = new List<LoggedEvent>();
            try
            {
                await foreach (var msg in consumer.FetchAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = max, Expires = wait }, cancellationToken: ct))
                {
                    if (msg.Data is null || msg.Metadata is not { } meta) continue;
                    var e = JsonSerializer.Deserialize(msg.Data, AnalyticsJsonContext.Default.ChangeEvent)!;
                    last = (long)meta.Sequence.Stream;
                    batch.Add(new LoggedEvent(last, (long)meta.NumPending, e));
                }
                // Nothing came: make sure the consumer still exists (throws if its server took it along).
                if (batch.Count == 0) await consumer.RefreshAsync(ct);
            }
            catch
            {
                consumer = null;   // the next read creates a new one from the last delivered sequence
                throw;
            }
            return batch;
        }

        public async ValueTask DisposeAsync()
        {
            if (consumer is null) return;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await log.js.DeleteConsumerAsync(log.options.Stream, consumer.Info.Name, cts.Token);
            }
            catch (Exception ex) when (ex is NatsJSException or OperationCanceledException or NatsException)
            {
                // Best effort: the inactive threshold removes it anyway.
            }
        }
    }
}
