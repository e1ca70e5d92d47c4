namespace ShopGpt.Server.Analytics;

/// <summary>
/// The durable, partitioned, replayable log between the capture and the consumers. JetStream
/// implements it here (<see cref="JetStreamEventLog"/>); a Kafka implementation would map a
/// partition to a topic partition, <see cref="ChangeEvent.Position"/> to the record key with
/// an idempotent producer, and stream sequences to offsets (docs/analytics.md, "Kafka instead").
/// </summary>
public interface IEventLog : IAsyncDisposable
{
    int Partitions { get; }

    /// <summary>Creates or updates the stream (subjects, replicas, retention) to match the options.</summary>
    Task EnsureAsync(CancellationToken ct);

    /// <summary>
    /// Appends one event to its user's partition and returns once the log has stored it durably
    /// (acknowledged by a quorum of replicas). Appending the same capture position again is a no-op
    /// within the duplicate window; a failure throws and the caller retries or restarts from its
    /// confirmed position.
    /// </summary>
    Task AppendAsync(ChangeEvent e, CancellationToken ct);

    /// <summary>A reader of one partition, from just after <paramref name="afterStreamSeq"/> (0 = the start of what is retained).</summary>
    IEventReader OpenReader(int partition, long afterStreamSeq);

    /// <summary>The last stream sequence (what a reader would be at when fully caught up); for the dashboard and lag.</summary>
    Task<long> LastSequenceAsync(CancellationToken ct);
}

public interface IEventReader : IAsyncDisposable
{
    /// <summary>Up to <paramref name="max"/> events in log order; empty when none arrived within <paramref name="wait"/>.</summary>
    Task<IReadOnlyList<LoggedEvent>> ReadAsync(int max, TimeSpan wait, CancellationToken ct);
}
