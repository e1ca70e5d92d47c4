using System.Buffers.Text;
using System.Security.Cryptography;

namespace ShopGpt.Server.Accounts;

/// <summary>
/// Opaque bearer tokens: base64url(user id (16 bytes) || 32 random bytes). Carrying the user id
/// lets the session lookup include the distribution column (a single-shard query on Citus);
/// the 256 random bits are the secret. Only SHA-256(token) is stored.
/// </summary>
public static class SessionToken
{
    private const int SecretBytes = 32;
    private const int TokenBytes = 16 + SecretBytes;
    public const int EncodedLength = 64; // base64url of 48 bytes, no padding

    public static string Create(Guid userId)
    {
        Span<byte> raw = stackalloc byte[TokenBytes];
        userId.TryWriteBytes(raw[..16], bigEndian: true, out _);
        RandomNumberGenerator.Fill(raw[16..]);
        return Base64Url.EncodeToString(raw);
    }

    public static bool TryParse(string? token, out Guid userId, out byte[] hash)
    {
        userId = default;
        hash = [];
        if (token is null || token.Length != EncodedLength) return false;
        Span<byte> raw = stackalloc byte[TokenBytes];
        if (Base64Url.DecodeFromChars(token, raw, out _, out var written) != System.Buffers.OperationStatus.Done || written != TokenBytes)
            return false;
        userId = new Guid(raw[..16], bigEndian: true);
        hash = Hash(token);
        return true;
    }

    public static byte[] Hash(string token)
    {
        Span<byte> utf8 = stackalloc byte[EncodedLength];
        var n = System.Text.Encoding.ASCII.GetBytes(token, utf8);
        return SHA256.HashData(utf8[..n]);
    }
}
