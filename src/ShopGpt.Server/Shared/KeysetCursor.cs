using System.Buffers.Binary;
using System.Buffers.Text;
using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace ShopGpt.Server.Shared;

public sealed class CursorOptions
{
    /// <summary>Key that signs cursors; every instance must share it. Set your own in production.</summary>
    [Required, MinLength(16)] public string Key { get; set; } = "shopgpt-dev-cursor-key-change-me";
}

/// <summary>
/// Opaque keyset cursors: base64url(version | kind | position (ticks, id) or seq | HMAC-SHA256/8).
/// The MAC covers the user id too, so a cursor that was altered or taken from another user's
/// listing is rejected as 400 rather than silently giving a wrong page.
/// </summary>
public sealed class KeysetCursor(IOptions<CursorOptions> options)
{
    private const byte Version = 1;
    private const int MacBytes = 8;
    private readonly byte[] key = Encoding.UTF8.GetBytes(options.Value.Key);

    public enum Kind : byte { ConversationList = 1, MessagesBefore = 2 }

    public string EncodeListPosition(Guid userId, DateTimeOffset updatedAt, Guid conversationId)
    {
        Span<byte> payload = stackalloc byte[2 + 8 + 16];
        payload[0] = Version;
        payload[1] = (byte)Kind.ConversationList;
        BinaryPrimitives.WriteInt64BigEndian(payload[2..], updatedAt.UtcTicks);
        conversationId.TryWriteBytes(payload[10..], bigEndian: true, out _);
        return Seal(userId, payload);
    }

    public bool TryDecodeListPosition(Guid userId, string cursor, out DateTimeOffset updatedAt, out Guid conversationId)
    {
        updatedAt = default;
        conversationId = default;
        Span<byte> payload = stackalloc byte[2 + 8 + 16];
        if (!TryOpen(userId, cursor, Kind.ConversationList, payload)) return false;
        var ticks = BinaryPrimitives.ReadInt64BigEndian(payload[2..]);
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks) return false;
        updatedAt = new DateTimeOffset(ticks, TimeSpan.Zero);
        conversationId = new Guid(payload[10..], bigEndian: true);
        return true;
    }

    public string EncodeSeq(Guid userId, Guid conversationId, long seq)
    {
        Span<byte> payload = stackalloc byte[2 + 8];
        payload[0] = Version;
        payload[1] = (byte)Kind.MessagesBefore;
        BinaryPrimitives.WriteInt64BigEndian(payload[2..], seq);
        // The conversation is bound through the MAC input, not the payload.
        return Seal(Bind(userId, conversationId), payload);
    }

    public bool TryDecodeSeq(Guid userId, Guid conversationId, string cursor, out long seq)
    {
        seq = 0;
        Span<byte> payload = stackalloc byte[2 + 8];
        if (!TryOpen(Bind(userId, conversationId), cursor, Kind.MessagesBefore, payload)) return false;
        seq = BinaryPrimitives.ReadInt64BigEndian(payload[2..]);
        return seq > 0;
    }

    private static Guid Bind(Guid a, Guid b)
    {
        Span<byte> x = stackalloc byte[16];
        Span<byte> y = stackalloc byte[16];
        a.TryWriteBytes(x);
        b.TryWriteBytes(y);
        for (var i = 0; i < 16; i++) x[i] ^= (byte)(y[i] * 31 + i);
        return new Guid(x);
    }

    private string Seal(Guid scope, ReadOnlySpan<byte> payload)
    {
        Span<byte> buf = stackalloc byte[payload.Length + MacBytes];
        payload.CopyTo(buf);
        Mac(scope, payload, buf[payload.Length..]);
        return Base64Url.EncodeToString(buf);
    }

    private bool TryOpen(Guid scope, string cursor, Kind kind, Span<byte> payload)
    {
        if (cursor.Length == 0 || cursor.Length > 128) return false;
        Span<byte> buf = stackalloc byte[96];
        if (Base64Url.DecodeFromChars(cursor, buf, out var consumed, out var written) != System.Buffers.OperationStatus.Done
            || consumed != cursor.Length || written != payload.Length + MacBytes)
            return false;
        Span<byte> expected = stackalloc byte[MacBytes];
        Mac(scope, buf[..payload.Length], expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, buf.Slice(payload.Length, MacBytes))) return false;
        if (buf[0] != Version || buf[1] != (byte)kind) return false;
        buf[..payload.Length].CopyTo(payload);
        return true;
    }

    private void Mac(Guid scope, ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        Span<byte> input = stackalloc byte[16 + payload.Length];
        scope.TryWriteBytes(input);
        payload.CopyTo(input[16..]);
        Span<byte> full = stackalloc byte[32];
        HMACSHA256.HashData(key, input, full);
        full[..MacBytes].CopyTo(destination);
    }
}
