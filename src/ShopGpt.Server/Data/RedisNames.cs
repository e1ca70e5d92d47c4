using System.ComponentModel.DataAnnotations;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;

namespace ShopGpt.Server.Data;

public sealed class RedisOptions
{
    /// <summary>
    /// Put in front of every key and channel this app uses, so several deployments (or another
    /// app) can share one Redis. Ends with ':' by convention; no spaces, no braces (braces are
    /// Redis Cluster hash tags, which <see cref="RedisNames"/> places itself).
    /// </summary>
    [Required, RegularExpression(@"^[A-Za-z0-9_.:\-]{1,64}$")] public string Prefix { get; set; } = RedisNames.DefaultPrefix;
}

/// <summary>
/// The one owner of every Redis key and channel name (like SignalR's <c>RedisChannels</c>): each
/// feature asks here instead of spelling names itself, so the prefix, the layout and — for Redis
/// Cluster — the hash tags are decided in one place. docs/design.md lists them.
/// <list type="table">
/// <item><c>{p}cache:…</c> FusionCache entries (L2) and their locks; <c>{p}cache.Backplane…</c> its invalidations</item>
/// <item><c>{p}rt:ticket:&lt;sha256&gt;</c> one-time WebSocket tickets (string, TTL)</item>
/// <item><c>{p}rt:conn:&lt;user&gt;</c> per-user connection leases (sorted set)</item>
/// <item><c>{p}rt:tickets:&lt;user&gt;</c> a user's unredeemed tickets (sorted set by expiry)</item>
/// <item><c>{p}rt:interest:{&lt;conversation&gt;}</c> instances following a conversation (sorted set)</item>
/// <item><c>{p}rt:inbox:{&lt;conversation&gt;}:&lt;instance&gt;</c> an instance's inbox of one conversation (sharded channel, SSUBSCRIBE)</item>
/// <item><c>{p}assistant:stop</c> cross-instance "stop this turn" (channel)</item>
/// <item><c>{p}ryw:&lt;user&gt;</c> the WAL position of a user's last write, for read-your-writes on the read standby (string, TTL)</item>
/// </list>
/// </summary>
public sealed class RedisNames
{
    public const string DefaultPrefix = "shopgpt:";

    /// <summary>The names with the default prefix (what tests and tools that run without configuration use).</summary>
    public static RedisNames Default { get; } = new(DefaultPrefix);

    private readonly string rt;

    public RedisNames(string prefix)
    {
        Prefix = prefix;
        rt = prefix + "rt:";
        CacheKeyPrefix = prefix + "cache:";
        CacheBackplanePrefix = prefix + "cache";
        AssistantStop = RedisChannel.Literal(prefix + "assistant:stop");
        // FusionCache's L2 key = its wire-format version + separator + the (prefixed) cache key;
        // we keep its default internal strings, so this is what it writes.
        distributedEntryPrefix = $"{FusionCacheOptions.DistributedCacheWireFormatVersion}{new FusionCacheOptions().InternalStrings.DistributedCacheWireFormatSeparator}{CacheKeyPrefix}";
    }

    public string Prefix { get; }

    /// <summary>FusionCache's <c>CacheKeyPrefix</c> (L1 and L2 keys).</summary>
    public string CacheKeyPrefix { get; }

    /// <summary>FusionCache's <c>BackplaneChannelPrefix</c>.</summary>
    public string CacheBackplanePrefix { get; }

    private readonly string distributedEntryPrefix;

    /// <summary>The Redis key FusionCache writes for the cache key <paramref name="cacheKey"/>.</summary>
    public RedisKey CacheEntry(string cacheKey) => distributedEntryPrefix + cacheKey;

    public RedisKey Ticket(string ticketHashHex) => rt + "ticket:" + ticketHashHex;

    public RedisKey ConnectionLeases(Guid userId) => Key("conn:", userId);

    /// <summary>A user's unredeemed tickets (ticket key → expiry), for the per-user cap.</summary>
    public RedisKey OutstandingTickets(Guid userId) => Key("tickets:", userId);

    // Redis Cluster hash tags: a conversation's interest set and its inbox channels hash on the
    // conversation id alone ("{...}"), so they share one slot and the publish script (keys: the
    // set) may SPUBLISH to the inboxes; different conversations spread over every shard.
    public RedisKey Interest(Guid conversationId) => rt + "interest:{" + conversationId.ToString("N") + "}";

    /// <summary>
    /// A conversation's inbox channels are <c>InboxPrefix(conversation) + instance id</c>; the
    /// publish script gets the prefix as an argument and appends the ids it reads from the interest set.
    /// </summary>
    public string InboxPrefix(Guid conversationId) => rt + "inbox:{" + conversationId.ToString("N") + "}:";

    /// <summary>An instance's inbox of one conversation: a sharded channel (SSUBSCRIBE/SPUBLISH, Redis 7).</summary>
    public RedisChannel Inbox(Guid conversationId, string instanceId) => RedisChannel.Sharded(InboxPrefix(conversationId) + instanceId);

    public RedisChannel AssistantStop { get; }

    public RedisKey ReadYourWrites(Guid userId) => Prefix + "ryw:" + userId.ToString("N");

    // Per-entity keys used alone (single-key commands and scripts): no hash tag needed on a cluster.
    private RedisKey Key(string kind, Guid id) => rt + kind + id.ToString("N");
}
