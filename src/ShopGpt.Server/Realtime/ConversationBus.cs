using System.Buffers.Binary;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Data;
using StackExchange.Redis;

namespace ShopGpt.Server.Realtime;

/// <summary>A live event as the hub handles it: the frame is serialized once, for every recipient.</summary>
public sealed record HubEvent(Guid ConversationId, byte[] Json, FrameType Type, long Seq, long PublishedAtMicros);

/// <summary>Carries events between instances. With no Redis there are no other instances.</summary>
public interface IConversationBus
{
    /// <summary>Set once by the hub: where events from other instances go.</summary>
    void OnRemote(Action<HubEvent> handler);

    /// <summary>Starts receiving a conversation's events from other instances; completes when that is in effect.</summary>
    Task<IAsyncDisposable?> SubscribeAsync(Guid conversationId);

    void Publish(HubEvent e);
}

/// <summary>Single-instance bus: local delivery is all there is.</summary>
public sealed class MemoryConversationBus : IConversationBus
{
    public void OnRemote(Action<HubEvent> handler)
    {
    }

    public Task<IAsyncDisposable?> SubscribeAsync(Guid conversationId) => Task.FromResult<IAsyncDisposable?>(null);

    public void Publish(HubEvent e)
    {
    }
}

/// <summary>
/// Cross-instance fan-out that never sends an instance its own publications (issue 3, item 6),
/// on a single Redis or a Redis Cluster (issue 16). Interest is kept in Redis per conversation: a
/// sorted set of instance ids, score = expiry in Redis server time. Each instance subscribes, per
/// conversation it has followers of, to its own sharded inbox of that conversation
/// (<see cref="RedisNames.Inbox"/>: the same hash tag as the interest set, so both live in one
/// slot). Publishing is one Lua script that reads the conversation's live interest and SPUBLISHes
/// the envelope to every OTHER interested instance's inbox of that conversation, so the publisher
/// gets nothing back and an instance with no followers of the conversation gets nothing at all.
/// Sharded pub/sub (Redis 7) keeps a conversation's traffic on the shard that owns its slot;
/// classic PUBLISH on a cluster reaches every node, so fan-out would not scale with shards.
/// Why this keeps gap-free resume: SubscribeAsync returns only after the inbox subscription is
/// confirmed AND the interest is stored; Redis (the shard's master) runs commands one at a time,
/// so every publish script that runs later sees the interest and reaches the inbox — a message
/// committed after that point reaches this instance, and the resume's database read covers
/// everything before. A cluster failover loses what was in flight on the dead master; the hub's
/// order wait releases later events, and a follower's resume (afterSeq) fills the gap from the database.
/// Why no stale interest piles up: a live instance refreshes its interests every third of
/// <see cref="RealtimeOptions.LeaseSeconds"/>; a crashed one stops, its entries' scores pass,
/// the publish script skips them and the next refresh of anyone on that conversation prunes them;
/// the whole key expires when no instance refreshes it. After a Redis outage (restarted Redis is
/// empty) the instance re-registers every interest as soon as the connection is restored; the
/// multiplexer restores the inbox subscription itself. Redis failures never reach the caller.
/// </summary>
public sealed partial class RedisConversationBus : IConversationBus, IAsyncDisposable
{
    // version(1) conversation(16) type(1) seq(8) publishedAt(8) then the frame's JSON
    private const int HeaderBytes = 34;
    private const byte Version = 2;

    // KEYS[1] interest set; ARGV: own id, the conversation's inbox prefix, envelope. Read-only on the
    // set (pruning is the registrations' job), so a publish costs one ZRANGEBYSCORE plus one SPUBLISH
    // per other instance; the inboxes share the set's hash tag, so on a cluster all is one slot.
    private const string PublishScript =
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
        local n = 0
        for i = 1, #ids do
          if ids[i] ~= ARGV[1] then redis.call('SPUBLISH', ARGV[2] .. ids[i], ARGV[3]); n = n + 1 end
        end
        return n
        """;

    // KEYS: interest sets (on a cluster, of one slot); ARGV: own id, ttl ms. Prunes expired entries (crashed instances), adds or
    // refreshes this instance, keeps the key alive as long as someone refreshes it.
    private const string RegisterScript =
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ttl = tonumber(ARGV[2])
        for i = 1, #KEYS do
          redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
          redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
          redis.call('PEXPIRE', KEYS[i], ttl * 2)
        end
        return #KEYS
        """;

    private readonly string instanceId = Guid.NewGuid().ToString("N");
    private readonly IConnectionMultiplexer redis;
    private readonly RedisNames names;
    private readonly RealtimeMetrics metrics;
    private readonly RealtimeOptions options;
    private readonly ILogger<RedisConversationBus> log;
    private readonly Dictionary<Guid, Interest> interests = [];
    private readonly CancellationTokenSource stopping = new();
    private readonly Task refresher;
    private Action<HubEvent> onRemote = _ => { };

    public RedisConversationBus(IConnectionMultiplexer redis, RedisNames names, RealtimeMetrics metrics, IOptions<RealtimeOptions> options, ILogger<RedisConversationBus> log)
    {
        this.redis = redis;
        this.names = names;
        this.metrics = metrics;
        this.options = options.Value;
        this.log = log;
        // A restarted Redis is empty: put this instance's interests back right away rather than at
        // the next refresh (also makes the registrations that failed during the outage).
        redis.ConnectionRestored += (_, _) => _ = RefreshAsync();
        refresher = RefreshLoopAsync();
    }

    public void OnRemote(Action<HubEvent> handler) => onRemote = handler;

    public async Task<IAsyncDisposable?> SubscribeAsync(Guid conversationId)
    {
        Interest interest;
        lock (interests)
        {
            if (!interests.TryGetValue(conversationId, out interest!)) interests[conversationId] = interest = new Interest();
            interest.Refs++;
        }
        // Per conversation, registration and removal run one at a time and in call order, so a
        // late removal can't erase a newer registration.
        await interest.Gate.WaitAsync();
        try
        {
            if (!interest.Registered)
            {
                await EnsureInboxAsync(conversationId, interest);
                await RegisterAsync([conversationId]);
                interest.Registered = true;
            }
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e))
        {
            // Local delivery goes on; the refresh (or the reconnect) registers it when Redis is back.
            metrics.PublishFailed("redis");
            LogSubscribeFailed(log, e.GetType().Name);
        }
        finally
        {
            interest.Gate.Release();
        }
        return new Handle(this, conversationId, interest);
    }

    public void Publish(HubEvent e)
    {
        if (!redis.IsConnected)
        {
            metrics.PublishFailed("redis");
            return;
        }
        var envelope = new byte[HeaderBytes + e.Json.Length];
        var s = envelope.AsSpan();
        s[0] = Version;
        e.ConversationId.TryWriteBytes(s[1..17]);
        s[17] = (byte)e.Type;
        BinaryPrimitives.WriteInt64LittleEndian(s[18..26], e.Seq);
        BinaryPrimitives.WriteInt64LittleEndian(s[26..34], e.PublishedAtMicros);
        e.Json.CopyTo(s[HeaderBytes..]);
        // Fire and forget on the multiplexer's one connection: scripts run in call order, so one
        // instance's events for a conversation reach the others in the order they were published.
        redis.GetDatabase().ScriptEvaluateAsync(PublishScript, [InterestKey(e.ConversationId)], [instanceId, names.InboxPrefix(e.ConversationId), envelope]).ContinueWith(
            static (t, state) => ((RealtimeMetrics)state!).PublishFailed("redis"),
            metrics, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        try
        {
            await refresher;
        }
        catch (OperationCanceledException)
        {
        }
        stopping.Dispose();
    }

    /// <summary>Conversations this instance has followers of but could not register yet (Redis down).</summary>
    internal int PendingCount
    {
        get
        {
            lock (interests) return interests.Values.Count(i => !i.Registered);
        }
    }

    /// <summary>Subscribes this instance's inbox of the conversation (call under the interest's gate).</summary>
    private async Task EnsureInboxAsync(Guid conversationId, Interest interest)
    {
        if (interest.Inbox is not null) return;
        var q = await redis.GetSubscriber().SubscribeAsync(names.Inbox(conversationId, instanceId));
        // One ordered queue per conversation: its events from one publisher keep Redis's order.
        q.OnMessage(m => Receive(m.Message));
        interest.Inbox = q;
    }

    private Task RegisterAsync(Guid[] conversationIds) =>
        redis.GetDatabase().ScriptEvaluateAsync(RegisterScript, [.. conversationIds.Select(InterestKey)], [instanceId, options.LeaseSeconds * 1000L]);

    /// <summary>
    /// Groups for one register script each: on a cluster a script's keys must share a slot (and
    /// every conversation has a slot of its own, so this is mostly one key per script, pipelined);
    /// on a single Redis 500 at a time.
    /// </summary>
    private IEnumerable<Guid[]> RegistrationGroups(IEnumerable<Guid> conversationIds) =>
        redis.GetServers() is [{ ServerType: ServerType.Cluster }, ..]
            ? conversationIds.GroupBy(c => redis.HashSlot(InterestKey(c))).SelectMany(g => g.Chunk(500))
            : conversationIds.Chunk(500);

    private async Task RefreshLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Max(0.2, options.LeaseSeconds / 3.0)));
        while (await timer.WaitForNextTickAsync(stopping.Token)) await RefreshAsync();
    }

    /// <summary>Pushes every live interest's expiry forward (and re-creates it after a Redis restart).</summary>
    private async Task RefreshAsync()
    {
        List<(Guid Id, Interest I)> live;
        lock (interests) live = [.. interests.Where(p => p.Value.Refs > 0).Select(p => (p.Key, p.Value))];
        if (live.Count == 0 || !redis.IsConnected) return;
        try
        {
            // Inboxes that could not be subscribed (Redis was down when the conversation was followed).
            foreach (var (id, i) in live.Where(l => l.I.Inbox is null))
            {
                await i.Gate.WaitAsync();
                try
                {
                    if (i.Refs > 0) await EnsureInboxAsync(id, i);
                }
                finally
                {
                    i.Gate.Release();
                }
            }
            var byId = live.ToDictionary(l => l.Id, l => l.I);
            await Task.WhenAll(RegistrationGroups(byId.Keys).Select(async group =>
            {
                await RegisterAsync(group);
                foreach (var id in group) byId[id].Registered = true;
            }));
        }
        catch (Exception e)
        {
            // Any failure (also a server-side error, not only an outage) must leave the refresh
            // loop running: if it stopped, this instance's interests would expire and other
            // instances would stop sending it events.
            LogRefreshFailed(log, e.GetType().Name);
        }
    }

    private async Task ReleaseAsync(Guid conversationId, Interest interest)
    {
        lock (interests)
        {
            if (--interest.Refs > 0) return;
        }
        await interest.Gate.WaitAsync();
        try
        {
            lock (interests)
            {
                if (interest.Refs > 0) return; // followed again meanwhile: keep the registration
            }
            interest.Registered = false;
            await redis.GetDatabase().SortedSetRemoveAsync(InterestKey(conversationId), instanceId);
            if (interest.Inbox is { } q)
            {
                interest.Inbox = null;
                await q.UnsubscribeAsync();
            }
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e))
        {
            // Redis is down; the entry expires by itself (no refresh keeps it).
        }
        finally
        {
            lock (interests)
            {
                if (interest.Refs == 0 && interests.TryGetValue(conversationId, out var current) && current == interest) interests.Remove(conversationId);
            }
            interest.Gate.Release();
        }
    }

    private void Receive(RedisValue value)
    {
        var bytes = (byte[]?)value;
        if (bytes is null || bytes.Length < HeaderBytes || bytes[0] != Version) return;
        metrics.BusReceived();
        var s = bytes.AsSpan();
        var json = s[HeaderBytes..].ToArray();
        onRemote(new HubEvent(new Guid(s[1..17]), json, (FrameType)s[17],
            BinaryPrimitives.ReadInt64LittleEndian(s[18..26]), BinaryPrimitives.ReadInt64LittleEndian(s[26..34])));
    }

    private RedisKey InterestKey(Guid conversationId) => names.Interest(conversationId);

    /// <summary>This instance's interest in one conversation, shared by its local subscriptions.</summary>
    private sealed class Interest
    {
        public readonly SemaphoreSlim Gate = new(1, 1);

        public int Refs;

        public bool Registered;

        public ChannelMessageQueue? Inbox;
    }

    private sealed class Handle(RedisConversationBus bus, Guid conversationId, Interest interest) : IAsyncDisposable
    {
        private int disposed;

        public ValueTask DisposeAsync() =>
            Interlocked.Exchange(ref disposed, 1) == 0 ? new ValueTask(bus.ReleaseAsync(conversationId, interest)) : ValueTask.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Registering interest in a conversation failed ({ExceptionType}); delivering locally until Redis is back")]
    private static partial void LogSubscribeFailed(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refreshing conversation interests failed ({ExceptionType}); retrying at the next refresh")]
    private static partial void LogRefreshFailed(ILogger logger, string exceptionType);
}
