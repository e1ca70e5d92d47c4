using System.Text.Json;
using System.Text.Json.Serialization;
using Npgsql;

namespace ShopGpt.Server.Messaging;

/// <summary>A stored message, as API.md's <c>Message</c>.</summary>
public sealed record Message(
    Guid Id,
    Guid ConversationId,
    long Seq,
    string Role,
    string Text,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? Products,
    DateTimeOffset CreatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ClientId,
    string Status)
{
    /// <summary>Column list every message read uses, in the order <see cref="Read"/> expects.</summary>
    public const string Columns = "message_id, conversation_id, seq, role, text, products::text, created_at, client_id, status";

    public static Message Read(NpgsqlDataReader r, int o = 0) => new(
        r.GetGuid(o),
        r.GetGuid(o + 1),
        r.GetInt64(o + 2),
        r.GetString(o + 3),
        r.GetString(o + 4),
        r.IsDBNull(o + 5) ? null : JsonDocument.Parse(r.GetString(o + 5)).RootElement.Clone(),
        r.GetFieldValue<DateTimeOffset>(o + 6),
        r.IsDBNull(o + 7) ? null : r.GetString(o + 7),
        r.GetString(o + 8));
}

/// <summary>
/// A message to store. <see cref="ClientId"/> makes the write idempotent per conversation.
/// <see cref="MessageId"/> lets the assistant store its answer under the id its delta frames already carried.
/// </summary>
public sealed record NewMessage(
    Guid UserId,
    Guid ConversationId,
    string Role,
    string Text,
    string? ClientId,
    string Status = "complete",
    string? ProductsJson = null,
    Guid? MessageId = null);

/// <summary>What the write path answers: the stored row, whether it already existed, or no such conversation.</summary>
public readonly record struct SendOutcome(Message? Message, bool Duplicate)
{
    public static readonly SendOutcome NotFound = new(null, false);
    public bool Found => Message is not null;
}
