using System.ComponentModel.DataAnnotations;

namespace ShopGpt.Server.Realtime;

/// <summary>The <c>Realtime</c> configuration section; defaults are API.md's limits.</summary>
public sealed class RealtimeOptions
{
    /// <summary>Browser origins allowed to open /ws. Empty: only the request's own host (same origin).</summary>
    public string[] AllowedOrigins { get; set; } = [];

    [Range(1, 10_000)] public int MaxConnectionsPerUser { get; set; } = 5;

    /// <summary>How long a connection lease lives in Redis without a heartbeat from its instance (crash recovery time).</summary>
    [Range(1, 3600)] public int LeaseSeconds { get; set; } = 30;

    [Range(1, 300)] public int TicketSeconds { get; set; } = 30;

    /// <summary>Unredeemed, unexpired tickets one user may hold; more is 429 (a client needs one per socket it opens).</summary>
    [Range(1, 10_000)] public int MaxOutstandingTicketsPerUser { get; set; } = 10;

    [Range(1024, 16 * 1024 * 1024)] public int MaxFrameBytes { get; set; } = 64 * 1024;

    /// <summary>Client frames per second refilled into each connection's token bucket.</summary>
    [Range(0.1, 100_000)] public double RatePerSecond { get; set; } = 10;

    [Range(1, 100_000)] public int RateBurst { get; set; } = 20;

    /// <summary>
    /// Rejected frames (decaying by one per second) after which the connection is closed with 1008:
    /// a client that keeps sending twice the rate crosses it in a few seconds, a brief burst never does.
    /// </summary>
    [Range(1, 1_000_000)] public int AbuseThreshold { get; set; } = 50;

    [Range(1, 86_400)] public int IdleTimeoutSeconds { get; set; } = 300;

    /// <summary>WebSocket keep-alive ping interval, also advertised to clients as <c>heartbeatSec</c> for app pings.</summary>
    [Range(1, 3600)] public int HeartbeatSeconds { get; set; } = 30;

    /// <summary>Frames waiting for one slow client before it is closed with 1013.</summary>
    [Range(1, 1_000_000)] public int MaxOutboundFrames { get; set; } = 4096;

    /// <summary>Bytes waiting for one slow client before it is closed with 1013.</summary>
    [Range(1024, 1024 * 1024 * 1024)] public int MaxOutboundBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Most frames the writer coalesces into one JSON-array message.</summary>
    [Range(1, 10_000)] public int MaxBatchFrames { get; set; } = 256;

    /// <summary>Coalesce pending frames into arrays (off only to measure what batching buys).</summary>
    public bool Batching { get; set; } = true;

    /// <summary>
    /// How long a conversation's stored events (msg, done) wait for an earlier seq that has not
    /// arrived: publications of one conversation race (two instances, or two sends completing
    /// at once) and a follower must see seqs in order, since it resumes from the highest one it
    /// saw. An earlier seq that never comes (a lost publication) releases the later ones after this.
    /// </summary>
    [Range(1, 10_000)] public int OrderWaitMs { get; set; } = 200;

    /// <summary>Fan-out workers; 0 means one per core.</summary>
    [Range(0, 256)] public int Workers { get; set; }

    /// <summary>Events waiting per worker; beyond it live events are dropped and counted (resume repairs).</summary>
    [Range(16, 10_000_000)] public int WorkerQueueCapacity { get; set; } = 100_000;

    [Range(1, 100_000)] public int MaxSubscriptionsPerConnection { get; set; } = 200;

    /// <summary>Stored messages replayed by one <c>sub</c> with <c>afterSeq</c> (API.md: up to 500).</summary>
    [Range(1, 500)] public int ReplayLimit { get; set; } = 500;

    /// <summary>Live events buffered per subscription while its replay is read from the database.</summary>
    [Range(1, 1_000_000)] public int ResumeBufferFrames { get; set; } = 5000;

    /// <summary>Period of the one shared timer that sweeps idle and stuck connections.</summary>
    [Range(0.05, 60)] public double SweepIntervalSeconds { get; set; } = 1;

    /// <summary>How long a closing connection may take to send its close frame before it is aborted.</summary>
    [Range(0.1, 120)] public double CloseTimeoutSeconds { get; set; } = 5;

    /// <summary>How long shutdown waits for connections to drain their queues and close.</summary>
    [Range(0.1, 120)] public double DrainSeconds { get; set; } = 5;
}
