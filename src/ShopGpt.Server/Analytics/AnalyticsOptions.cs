using System.ComponentModel.DataAnnotations;

namespace ShopGpt.Server.Analytics;

/// <summary>Section "Analytics" (docs/analytics.md): change data capture → event log → rollups.</summary>
public sealed class AnalyticsOptions : IValidatableObject
{
    /// <summary>Off: no capture, no consumers, no NATS connection (the product-opened report still stores its row).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>NATS server URLs, comma-separated (every server of a cluster, so the client fails over).</summary>
    public string NatsUrl { get; set; } = "nats://127.0.0.1:4222";

    [RegularExpression("^[A-Za-z0-9_-]{1,64}$")] public string Stream { get; set; } = "SHOPGPT_EVENTS";

    /// <summary>Subject prefix; partition p is "{SubjectPrefix}.{p}".</summary>
    [RegularExpression("^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$")] public string SubjectPrefix { get; set; } = "shopgpt.events";

    /// <summary>Partitions of the log; a user's events all go to one (per-user order). Changing it re-partitions only new events.</summary>
    [Range(1, 256)] public int Partitions { get; set; } = 8;

    /// <summary>Copies JetStream keeps of each event (3 on a 3-server cluster; 1 for the single local server of ./shopgpt up).</summary>
    [Range(1, 5)] public int Replicas { get; set; } = 1;

    /// <summary>Retention by age: events older than this leave the stream (a replay then starts from the oldest kept).</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Retention by size (bytes): the oldest events go first when the stream is over it.</summary>
    [Range(1L << 20, long.MaxValue)] public long MaxBytes { get; set; } = 2L << 30;

    /// <summary>JetStream drops a re-published event with the same capture position within this window.</summary>
    public TimeSpan DuplicateWindow { get; set; } = TimeSpan.FromMinutes(10);

    [RegularExpression("^[a-z0-9_]{1,63}$")] public string Slot { get; set; } = "shopgpt_analytics";

    [RegularExpression("^[a-z0-9_]{1,63}$")] public string Publication { get; set; } = "shopgpt_analytics";

    /// <summary>Advisory-lock key of the capture lease (one capturer and one set of consumers across instances).</summary>
    public long LeaseKey { get; set; } = 0x5350_4741_4E41_4C59;   // "SPGANALY"

    /// <summary>How long a publish may keep failing (server lost, leader election) before the capture restarts from its confirmed LSN.</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Events a consumer applies in one PostgreSQL transaction at most.</summary>
    [Range(1, 10_000)] public int ConsumerBatch { get; set; } = 500;

    /// <summary>How often the slot's lag is read from pg_replication_slots.</summary>
    public TimeSpan SlotSampleInterval { get; set; } = TimeSpan.FromSeconds(5);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Enabled && NatsUrls.Length == 0) yield return new("Analytics:NatsUrl must name at least one server.", [nameof(NatsUrl)]);
        if (MaxAge <= TimeSpan.Zero) yield return new("Analytics:MaxAge must be positive.", [nameof(MaxAge)]);
        if (DuplicateWindow <= TimeSpan.Zero || DuplicateWindow > MaxAge) yield return new("Analytics:DuplicateWindow must be positive and at most MaxAge.", [nameof(DuplicateWindow)]);
        if (PublishTimeout <= TimeSpan.Zero) yield return new("Analytics:PublishTimeout must be positive.", [nameof(PublishTimeout)]);
        if (SlotSampleInterval <= TimeSpan.Zero) yield return new("Analytics:SlotSampleInterval must be positive.", [nameof(SlotSampleInterval)]);
    }

    public string[] NatsUrls => NatsUrl.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
}
