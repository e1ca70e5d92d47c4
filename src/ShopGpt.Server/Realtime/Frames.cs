using System.Text.Json;
using System.Text.Json.Serialization;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Realtime;

/// <summary>
/// Every client frame in one shape (API.md, Realtime): <c>t</c> picks the meaning, the other
/// fields are optional here and checked per type, so a missing field is a <c>bad_frame</c>
/// answer rather than a parse failure that closes anything.
/// </summary>
public sealed record ClientFrame(string? T, Guid? Cid, long? AfterSeq, string? Ref, string? Text, JsonElement? Ts);

/// <summary>Server frames; <c>t</c> is written first as the type discriminator.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "t")]
[JsonDerivedType(typeof(HelloFrame), "hello")]
[JsonDerivedType(typeof(AckFrame), "ack")]
[JsonDerivedType(typeof(MsgFrame), "msg")]
[JsonDerivedType(typeof(DeltaFrame), "delta")]
[JsonDerivedType(typeof(DoneFrame), "done")]
[JsonDerivedType(typeof(ErrFrame), "err")]
[JsonDerivedType(typeof(PongFrame), "pong")]
[JsonDerivedType(typeof(SubscribedFrame), "subscribed")]
[JsonDerivedType(typeof(ShortlistFrame), "shortlist")]
public abstract record ServerFrame;

public sealed record RateInfo(double PerSecond, int Burst);

public sealed record HelloFrame(string ConnectionId, int HeartbeatSec, int MaxFrameBytes, RateInfo Rate) : ServerFrame;

public sealed record AckFrame(string Ref, Guid Id, long Seq) : ServerFrame;

/// <summary>API.md's Message fields, plus <c>cid</c> like every other conversation frame.</summary>
public sealed record MsgFrame(
    Guid Cid, Guid Id, Guid ConversationId, long Seq, string Role, string Text, JsonElement? Products,
    DateTimeOffset CreatedAt, string? ClientId, string Status) : ServerFrame
{
    public static MsgFrame From(Message m) =>
        new(m.ConversationId, m.Id, m.ConversationId, m.Seq, m.Role, m.Text, m.Products, m.CreatedAt, m.ClientId, m.Status);
}

public sealed record DeltaFrame(Guid Cid, Guid Id, string Text) : ServerFrame;

public sealed record DoneFrame(Guid Cid, Guid Id, long Seq, string Status) : ServerFrame;

public sealed record ErrFrame(string Code, string? Ref, string Message, Guid? Cid = null) : ServerFrame;

public sealed record PongFrame(JsonElement? Ts) : ServerFrame;

/// <summary>
/// Extension of API.md: confirms a <c>sub</c>. Everything after it is live; <c>replayed</c>
/// stored messages preceded it, and <c>complete</c> is false when more than the replay limit
/// were missing (fetch the rest with GET .../messages?afterSeq=lastSeq).
/// </summary>
public sealed record SubscribedFrame(Guid Cid, long? LastSeq, int Replayed, bool Complete) : ServerFrame;

/// <summary>
/// Extension (issue 19): the user's shortlist changed (on any tab or device). It goes to every
/// connection that follows the user's own topic (<c>sub</c> with <c>cid</c> = the user's id);
/// <c>op</c> is <c>saved</c> (with the item) or <c>removed</c>.
/// </summary>
public sealed record ShortlistFrame(Guid Cid, string Op, string ProductId, DateTimeOffset? AddedAt, Catalog.Product? Product) : ServerFrame;

public sealed record TicketResponse(string Ticket, DateTimeOffset ExpiresAt);

/// <summary>Frame kinds as bounded metric tag values (docs/metrics.md).</summary>
public enum FrameType : byte
{
    Hello, Ack, Msg, Delta, Done, Err, Pong, Subscribed, Shortlist,
}

/// <summary>Source-generated (de)serialization for every realtime frame: no reflection per message.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ClientFrame))]
[JsonSerializable(typeof(ServerFrame))]
[JsonSerializable(typeof(TicketResponse))]
public sealed partial class RealtimeJsonContext : JsonSerializerContext;

/// <summary>The trust boundary for client text frames.</summary>
public static class ClientFrames
{
    /// <summary>Any bytes give a frame, or null when they are not a JSON frame object (answered with <c>bad_frame</c>); never an exception.</summary>
    public static ClientFrame? Parse(ReadOnlySpan<byte> utf8)
    {
        try
        {
            return JsonSerializer.Deserialize(utf8, RealtimeJsonContext.Default.ClientFrame);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

public static class ServerFrames
{
    /// <summary>Serialized once per event and shared by every recipient's queue.</summary>
    public static byte[] Serialize(ServerFrame frame) => JsonSerializer.SerializeToUtf8Bytes(frame, RealtimeJsonContext.Default.ServerFrame);

    public static FrameType TypeOf(ServerFrame frame) => frame switch
    {
        HelloFrame => FrameType.Hello,
        AckFrame => FrameType.Ack,
        MsgFrame => FrameType.Msg,
        DeltaFrame => FrameType.Delta,
        DoneFrame => FrameType.Done,
        ErrFrame => FrameType.Err,
        PongFrame => FrameType.Pong,
        ShortlistFrame => FrameType.Shortlist,
        _ => FrameType.Subscribed,
    };
}

/// <summary>A serialized frame waiting in a connection's outbound queue.</summary>
public readonly record struct Outgoing(byte[] Json, FrameType Type);
