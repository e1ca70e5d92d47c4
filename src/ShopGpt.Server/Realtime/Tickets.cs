using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Data;
using StackExchange.Redis;

namespace ShopGpt.Server.Realtime;

/// <summary>What a ticket stands for: its user and the session (token hash) that minted it.</summary>
public readonly record struct TicketHolder(Guid UserId, byte[] TokenHash);

/// <summary>Where one-time tickets live: Redis (any instance redeems them) or memory (one instance, no Redis).</summary>
public interface ITicketStore
{
    /// <summary>
    /// Stores the ticket unless its user already holds <paramref name="cap"/> unexpired, unredeemed
    /// ones; then returns false (issue 15, finding 8: 150 parallel requests left 150 tickets).
    /// </summary>
    Task<bool> StoreAsync(string key, TicketHolder holder, DateTimeOffset expires, DateTimeOffset now, int cap);

    /// <summary>Returns the holder and deletes the ticket in one step, so a ticket works exactly once.</summary>
    Task<TicketHolder?> TakeAsync(string key);
}

public sealed class RedisTicketStore(IConnectionMultiplexer redis, RedisNames names) : ITicketStore
{
    // One key (the user's set of outstanding tickets, scored by expiry), so it runs on one node of
    // a Redis Cluster too: drop the expired, refuse at the cap, else record this one.
    private static readonly LuaScript Reserve = LuaScript.Prepare("""
        redis.call('ZREMRANGEBYSCORE', @set, '-inf', @now)
        if redis.call('ZCARD', @set) >= tonumber(@cap) then return 0 end
        redis.call('ZADD', @set, @expires, @member)
        redis.call('PEXPIREAT', @set, @expires)
        return 1
        """);

    public async Task<bool> StoreAsync(string key, TicketHolder holder, DateTimeOffset expires, DateTimeOffset now, int cap)
    {
        var db = redis.GetDatabase();
        var ok = (int)await db.ScriptEvaluateAsync(Reserve, new
        {
            set = names.OutstandingTickets(holder.UserId), now = now.ToUnixTimeMilliseconds(),
            cap, expires = expires.ToUnixTimeMilliseconds(), member = key,
        });
        if (ok == 0) return false;
        await db.StringSetAsync(names.Ticket(key), Encode(holder), expires - now);
        return true;
    }

    public async Task<TicketHolder?> TakeAsync(string key)
    {
        var db = redis.GetDatabase();
        // GETDEL: two instances redeeming the same ticket at once cannot both get it.
        var v = await db.StringGetDeleteAsync(names.Ticket(key));
        if (!v.HasValue || Decode(v.ToString()) is not { } holder) return null;
        await db.SortedSetRemoveAsync(names.OutstandingTickets(holder.UserId), key);
        return holder;
    }

    private static string Encode(TicketHolder h) => h.UserId.ToString("N") + ":" + Convert.ToHexString(h.TokenHash);

    private static TicketHolder? Decode(string v)
    {
        var colon = v.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || !Guid.TryParseExact(v.AsSpan(0, colon), "N", out var id)) return null;
        try
        {
            return new TicketHolder(id, Convert.FromHexString(v.AsSpan(colon + 1)));
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

public sealed class MemoryTicketStore(TimeProvider clock) : ITicketStore
{
    private readonly ConcurrentDictionary<string, (TicketHolder Holder, DateTimeOffset Expires)> tickets = new(StringComparer.Ordinal);

    public Task<bool> StoreAsync(string key, TicketHolder holder, DateTimeOffset expires, DateTimeOffset now, int cap)
    {
        lock (tickets)
        {
            if (tickets.Count(t => t.Value.Holder.UserId == holder.UserId && t.Value.Expires > now) >= cap) return Task.FromResult(false);
            tickets[key] = (holder, expires);
        }
        return Task.FromResult(true);
    }

    public Task<TicketHolder?> TakeAsync(string key) =>
        Task.FromResult(tickets.TryRemove(key, out var t) && t.Expires > clock.GetUtcNow() ? t.Holder : (TicketHolder?)null);

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

    /// <summary>The session that minted the ticket was revoked (logout) before the ticket was redeemed.</summary>
    Revoked,
}

/// <summary>
/// One-time WebSocket tickets (API.md Realtime 1). A ticket is 16 random bytes plus its expiry,
/// base64url: the expiry lets an expired ticket be told apart from a used one (metrics) without
/// a lookup; only a SHA-256 of the ticket is stored, so a Redis dump holds no usable ticket.
/// A ticket belongs to the session that asked for it: after that session's logout it opens nothing.
/// </summary>
public sealed class RealtimeTickets(ITicketStore store, TimeProvider clock, IOptions<RealtimeOptions> options, Accounts.SessionStore sessions)
{
    private const int RandomBytes = 16;
    private const int TicketBytes = RandomBytes + 8;

    /// <summary>A new ticket, or null when the user already holds <see cref="RealtimeOptions.MaxOutstandingTicketsPerUser"/>.</summary>
    public async Task<(string Ticket, DateTimeOffset ExpiresAt)?> IssueAsync(Guid userId, byte[] tokenHash)
    {
        var ttl = TimeSpan.FromSeconds(options.Value.TicketSeconds);
        var now = clock.GetUtcNow();
        var expires = now + ttl;
        var raw = new byte[TicketBytes];
        RandomNumberGenerator.Fill(raw.AsSpan(0, RandomBytes));
        BinaryPrimitives.WriteInt64BigEndian(raw.AsSpan(RandomBytes), expires.ToUnixTimeMilliseconds());
        var ticket = Base64Url(raw);
        if (!await store.StoreAsync(KeyFor(ticket), new TicketHolder(userId, tokenHash), expires, now, options.Value.MaxOutstandingTicketsPerUser))
            return null;
        return (ticket, expires);
    }

    public async Task<(Guid? UserId, TicketFailure Failure)> RedeemAsync(string? ticket)
    {
        if (string.IsNullOrEmpty(ticket)) return (null, TicketFailure.Missing);
        Span<byte> raw = stackalloc byte[TicketBytes];
        if (!TryDecode(ticket, raw)) return (null, TicketFailure.Invalid);
        var expires = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(raw[RandomBytes..]));
        if (expires <= clock.GetUtcNow()) return (null, TicketFailure.Expired);
        if (await store.TakeAsync(KeyFor(ticket)) is not { } holder) return (null, TicketFailure.Used);
        // Logout voids the session's unredeemed tickets: the session must still be valid now.
        if (await sessions.FindAsync(holder.UserId, holder.TokenHash, CancellationToken.None) is null) return (null, TicketFailure.Revoked);
        return (holder.UserId, TicketFailure.None);
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
