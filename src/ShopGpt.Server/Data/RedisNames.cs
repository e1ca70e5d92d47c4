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
/// <item><c>{p}rt:interest:&lt;conversation&gt;</c> instances following a conversation (sorted set)</item>
/// <item><c>{p}rt:inbox:&lt;instance&gt;</c> an instance's event inbox (channel)</item>
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
        InboxPrefix = rt + "inbox:";
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

    public RedisKey Interest(Guid conversationId) => Key("interest:", conversationId);

    /// <summary>
    /// Inbox channels are <c>InboxPrefix + instance id</c>; the publish script gets the prefix as an
    /// argument and appends the ids it reads from an interest set.
    /// </summary>
    public string InboxPrefix { get; }

    public RedisChannel Inbox(string instanceId) => RedisChannel.Literal(InboxPrefix + instanceId);

    public RedisChannel AssistantStop { get; }

    public RedisKey ReadYourWrites(Guid userId) => Prefix + "ryw:" + userId.ToString("N");

    // The one place a per-entity key is built. Redis Cluster: a hash tag goes here (e.g.
    // "{" + id + "}") when keys of one entity must share a slot for a multi-key script.
    private RedisKey Key(string kind, Guid id) => rt + kind + id.ToString("N");
}
