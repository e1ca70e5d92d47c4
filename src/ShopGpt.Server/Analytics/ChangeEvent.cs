using System.Text.Json;
using System.Text.Json.Serialization;

namespace ShopGpt.Server.Analytics;

/// <summary>What kind of committed row an event reports.</summary>
public static class EventKinds
{
    public const string Message = "message";
    public const string Conversation = "conversation";
    public const string SignUp = "signup";
    public const string ProductOpened = "product_opened";
}

/// <summary>
/// One committed row, as the capture read it from the WAL. <see cref="Lsn"/> (the transaction's
/// commit LSN) and <see cref="Index"/> (the row's place in that transaction) are its capture
/// position: unique, and increasing in commit order, so they identify an event across re-captures.
/// Only user messages carry text (<see cref="Query"/>, cut to <see cref="ChangeEvent.MaxQueryLength"/>):
/// the shopping rollup needs it for queries the catalog could not answer.
/// </summary>
public sealed record ChangeEvent(
    string Kind,
    long Lsn,
    int Index,
    DateTimeOffset At,
    Guid UserId,
    Guid? ConversationId = null,
    long? Seq = null,
    Guid? MessageId = null,
    string? Role = null,
    string? Status = null,
    IReadOnlyList<string>? Products = null,
    bool Compared = false,
    string? Query = null,
    bool Guest = false,
    string? ProductId = null)
{
    public const int MaxQueryLength = 200;

    /// <summary>The capture position as text: the log's idempotency key (JetStream Nats-Msg-Id, a Kafka record key).</summary>
    public string Position => $"{Lsn:X16}-{Index}";
}

/// <summary>An event as read back from the log, with the log's own position of it.</summary>
public sealed record LoggedEvent(long StreamSeq, long Pending, ChangeEvent Event);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(ChangeEvent))]
internal sealed partial class AnalyticsJsonContext : JsonSerializerContext;

/// <summary>Maps a user to a partition: all of one user's events share a partition, so their order holds.</summary>
public static class EventPartitioner
{
    /// <summary>FNV-1a over the id's bytes: stable across processes and versions (string.GetHashCode is not), spread even for time-ordered ids.</summary>
    public static int PartitionOf(Guid userId, int partitions)
    {
        Span<byte> bytes = stackalloc byte[16];
        userId.TryWriteBytes(bytes);
        uint h = 2166136261;
        foreach (var b in bytes) h = (h ^ b) * 16777619;
        return (int)(h % (uint)partitions);
    }
}
