using Npgsql;
using ShopGpt.Server.Caching;

namespace ShopGpt.Server.Accounts;

public sealed record SessionInfo(Guid UserId, DateTimeOffset ExpiresAt, DateTimeOffset LastSeenAt);

/// <summary>
/// Sessions table: create, validate, revoke. Validation goes through the cache with the
/// sensitive policy (never stale, with Redis never from L1), so a revoked token is refused on
/// every instance on its next request; when Redis is down the database decides.
/// </summary>
public sealed class SessionStore(NpgsqlDataSource db, TimeProvider clock, Microsoft.Extensions.Options.IOptions<AccountsOptions> options,
    ShopCache cache, CachePolicies policies, Data.ReplicaReads replicas)
{
    /// <summary>
    /// Not the stored token hash itself: cache keys reach Redis key names and, on a cache error,
    /// log lines (issue 15, finding 3), and the hash in <c>sessions</c> must not appear there. A
    /// second, domain-separated SHA-256 still names one session on every instance.
    /// </summary>
    internal static string CacheKey(byte[] tokenHash)
    {
        Span<byte> input = stackalloc byte[CacheKeyDomain.Length + tokenHash.Length];
        CacheKeyDomain.CopyTo(input);
        tokenHash.CopyTo(input[CacheKeyDomain.Length..]);
        return "session:" + System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.SHA256.HashData(input));
    }

    private static ReadOnlySpan<byte> CacheKeyDomain => "shopgpt session cache key\0"u8;

    public async Task<(string Token, DateTimeOffset ExpiresAt)> CreateAsync(Guid userId, CancellationToken ct)
    {
        var token = SessionToken.Create(userId);
        var expires = clock.GetUtcNow().AddDays(options.Value.SessionDays);
        await using var cmd = db.CreateCommand("insert into sessions (user_id, token_hash, expires_at) values ($1, $2, $3)");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(SessionToken.Hash(token));
        cmd.Parameters.AddWithValue(expires);
        await cmd.ExecuteNonQueryAsync(ct);
        return (token, expires);
    }

    public async Task<SessionInfo?> FindAsync(Guid userId, byte[] tokenHash, CancellationToken ct)
    {
        var s = await cache.GetOrSetAsync(CacheKey(tokenHash), t => FindInDatabaseAsync(userId, tokenHash, t), policies.Session, ct);
        // The hash covers the user id inside the token, but check anyway; and a cached entry may outlive expires_at.
        return s is not null && s.UserId == userId && s.ExpiresAt > clock.GetUtcNow() ? s : null;
    }

    // The primary decides (a revocation there is final); only while it is down does the read
    // standby answer, so signed-in users keep reading what it serves (issue 16).
    private Task<SessionInfo?> FindInDatabaseAsync(Guid userId, byte[] tokenHash, CancellationToken ct) =>
        replicas.PrimaryElseStandbyAsync(from => FindInDatabaseAsync(from, userId, tokenHash, ct));

    private static async Task<SessionInfo?> FindInDatabaseAsync(NpgsqlDataSource from, Guid userId, byte[] tokenHash, CancellationToken ct)
    {
        await using var cmd = from.CreateCommand(
            "select expires_at, last_seen_at from sessions where user_id = $1 and token_hash = $2 and expires_at > now()");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(tokenHash);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return new SessionInfo(userId, r.GetFieldValue<DateTimeOffset>(0), r.GetFieldValue<DateTimeOffset>(1));
    }

    /// <summary>Records activity at most once per throttle window (not one write per request).</summary>
    public async Task TouchAsync(SessionInfo s, byte[] tokenHash, CancellationToken ct)
    {
        if (clock.GetUtcNow() - s.LastSeenAt < options.Value.LastSeenThrottle) return;
        await using var cmd = db.CreateCommand(
            "update sessions set last_seen_at = now() where user_id = $1 and token_hash = $2 and last_seen_at < now() - $3::interval");
        cmd.Parameters.AddWithValue(s.UserId);
        cmd.Parameters.AddWithValue(tokenHash);
        cmd.Parameters.AddWithValue(options.Value.LastSeenThrottle);
        try
        {
            await cmd.ExecuteNonQueryAsync(ct);
        }
        catch (Exception e) when (replicas.HasStandby && Http.HttpBasics.IsUnavailable(e))
        {
            // Bookkeeping only: with the primary down the standby still serves reads, and a
            // missed last_seen_at update must not turn each of them into a 503.
            return;
        }
        // The cached copy has an old last_seen_at (whether this or another instance just moved it):
        // drop it, or every request until it expires would attempt this update again.
        await cache.RemoveAsync(CacheKey(tokenHash), ct);
    }

    /// <summary>
    /// First half of revoking every session of a user inside the caller's transaction (a guest
    /// becoming an account): the cached copies leave Redis first, confirmed (as in
    /// <see cref="RevokeAsync"/>); the caller deletes the rows and then calls <see cref="ForgetAsync"/>.
    /// </summary>
    public async Task<List<byte[]>> PrepareRevokeAllAsync(Guid userId, CancellationToken ct)
    {
        var hashes = new List<byte[]>();
        await using (var cmd = db.CreateCommand("select token_hash from sessions where user_id = $1"))
        {
            cmd.Parameters.AddWithValue(userId);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) hashes.Add(r.GetFieldValue<byte[]>(0));
        }
        foreach (var h in hashes) await cache.RemoveFromDistributedOrThrowAsync(CacheKey(h));
        return hashes;
    }

    /// <summary>After the rows are gone: drop every cached copy again (L1, Redis, other instances).</summary>
    public async Task ForgetAsync(IEnumerable<byte[]> tokenHashes, CancellationToken ct)
    {
        foreach (var h in tokenHashes) await cache.InvalidateAsync(CacheKey(h), ct);
    }

    /// <summary>
    /// Revokes the session. The cached copy in Redis goes first and must be confirmed: with Redis
    /// unreachable the logout fails (503) and nothing changes, instead of succeeding in the database
    /// while Redis keeps an entry that would be trusted again when it comes back.
    /// </summary>
    public async Task RevokeAsync(Guid userId, byte[] tokenHash, CancellationToken ct)
    {
        await cache.RemoveFromDistributedOrThrowAsync(CacheKey(tokenHash));
        await using var cmd = db.CreateCommand("delete from sessions where user_id = $1 and token_hash = $2");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(tokenHash);
        await cmd.ExecuteNonQueryAsync(ct);
        // Again after the delete (L1 here, Redis, other instances via the backplane, and once more
        // later): a lookup that read the row before the delete may have cached it meanwhile.
        await cache.InvalidateAsync(CacheKey(tokenHash), ct);
    }
}
