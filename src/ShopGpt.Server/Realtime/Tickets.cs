using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Data;
using StackExchange.Redis;

namespace ShopGpt.Server.Realtime;

/// <summary>Where one-time tickets live: Redis (any instance redeems them) or memory (one instance, no Redis).</summary>
public interface ITicketStore
{
    Task StoreAsync(string key, Guid userId, TimeSpan ttl);

    /// <summary>Returns the user and deletes the ticket in one step, so a ticket works exactly once.</summary>
    Task<Guid?> TakeAsync(string key);
}

public sealed class RedisTicketStore(IConnectionMultiplexer redis, RedisNames names) : ITicketStore
{
    public Task StoreAsync(string key, Guid userId, TimeSpan ttl) =>
        redis.GetDatabase().StringSetAsync(names.Ticket(key), userId.ToString("N"), ttl);

    public async Task<Guid?> TakeAsync(string key)
    {
        // GETDEL: two instances redeeming the same ticket at once cannot both get it.
        var v = await redis.GetDatabase().StringGetDeleteAsync(names.Ticket(key));
        return v.HasValue && Guid.TryParseExact(v.ToString(), "N", out var id) ? id : null;
    }
}

public sealed class MemoryTicketStore(TimeProvider clock) : ITicketStore
{
    private readonly ConcurrentDictionary<string, (Guid User, DateTimeOffset Expires)> tickets = new(StringComparer.Ordinal);

    public Task StoreAsync(string key, Guid userId, TimeSpan ttl)
    {
        tickets[key] = (userId, clock.GetUtcNow() + ttl);
        return Task.CompletedTask;
    }

    public Task<Guid?> TakeAsync(string key) =>
        Task.FromResult(tickets.TryRemove(key, out var t) && t.Expires > clock.GetUtcNow() ? t.User : (Guid?)null);

    /// <summary>Called by the housekeeping timer so unused tickets don't accumulate.</summary>
    public void Sweep()
    {
        var now = clock.GetUtcNow();
        foreach (var (k, v) in tickets)
            if (v.Expires <= now) tickets.TryRemove(k, out _);
    }
}

public enum TicketFailure
{
    None, Missing, Invalid, Used, Expired,
}

/// <summary>
/// One-time WebSocket tickets (API.md Realtime 1). A ticket is 16 random bytes plus its expiry,
/// base64url: the expiry lets an expired ticket be told apart from a used one (metrics) without
/// a lookup; only a SHA-256 of the ticket is stored, so a Redis dump holds no usable ticket.
/// </summary>
public sealed class RealtimeTickets(ITicketStore store, TimeProvider clock, IOptions<RealtimeOptions> options)
{
    private const int RandomBytes = 16;
    private const int TicketBytes = RandomBytes + 8;

    public async Task<(string Ticket, DateTimeOffset ExpiresAt)> IssueAsync(Guid userId)
    {
        var ttl = TimeSpan.FromSeconds(options.Value.TicketSeconds);
        var expires = clock.GetUtcNow() + ttl;
        var raw = new byte[TicketBytes];
        RandomNumberGenerator.Fill(raw.AsSpan(0, RandomBytes));
        BinaryPrimitives.WriteInt64BigEndian(raw.AsSpan(RandomBytes), expires.ToUnixTimeMilliseconds());
        var ticket = Base64Url(raw);
        await store.StoreAsync(KeyFor(ticket), userId, ttl);
        return (ticket, expires);
    }

    public async Task<(Guid? UserId, TicketFailure Failure)> RedeemAsync(string? ticket)
    {
        if (string.IsNullOrEmpty(ticket)) return (null, TicketFailure.Missing);
        Span<byte> raw = stackalloc byte[TicketBytes];
        if (!TryDecode(ticket, raw)) return (null, TicketFailure.Invalid);
        var expires = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(raw[RandomBytes..]));
        if (expires <= clock.GetUtcNow()) return (null, TicketFailure.Expired);
        var user = await store.TakeAsync(KeyFor(ticket));
        return user is null ? (null, TicketFailure.Used) : (user, TicketFailure.None);
    }

    /// <summary>What the store keeps a ticket under (<see cref="RedisNames.Ticket"/> in Redis).</summary>
    internal static string KeyFor(string ticket) =>
        Convert.ToHexString(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(ticket)));

    private static string Base64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool TryDecode(string s, Span<byte> into)
    {
        if (s.Length != 32) return false;
        Span<char> chars = stackalloc char[32];
        for (var i = 0; i < 32; i++)
        {
            var c = s[i];
            chars[i] = c switch { '-' => '+', '_' => '/', _ => c };
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')) return false;
        }
        return Convert.TryFromBase64Chars(chars, into, out var n) && n == TicketBytes;
    }
}
