using System.Buffers.Binary;
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
/// One Redis pub/sub channel per conversation, subscribed only while this instance has local
/// followers. The envelope carries the publishing instance's id, so an instance drops its own
/// publications (it already delivered them locally). Per-channel message queues keep Redis's
/// order (handler callbacks may run concurrently and reorder deltas). Redis failures never
/// reach the caller: publishes are counted as failed, subscriptions fall back to local only.
/// </summary>
public sealed partial class RedisConversationBus(IConnectionMultiplexer redis, RealtimeMetrics metrics, ILogger<RedisConversationBus> log) : IConversationBus
{
    // version(1) instance(16) conversation(16) type(1) seq(8) publishedAt(8) then the frame's JSON
    private const int HeaderBytes = 50;
    private const byte Version = 1;
    private readonly Guid instanceId = Guid.NewGuid();
    private Action<HubEvent> onRemote = _ => { };

    public void OnRemote(Action<HubEvent> handler) => onRemote = handler;

    public async Task<IAsyncDisposable?> SubscribeAsync(Guid conversationId)
    {
        if (!redis.IsConnected)
        {
            metrics.PublishFailed("redis");
            return null;
        }
        try
        {
            var queue = await redis.GetSubscriber().SubscribeAsync(Channel(conversationId));
            queue.OnMessage(m => Receive(m.Message));
            return new Subscription(queue);
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e))
        {
            LogSubscribeFailed(log, e.GetType().Name);
            metrics.PublishFailed("redis");
            return null;
        }
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
        instanceId.TryWriteBytes(s[1..17]);
        e.ConversationId.TryWriteBytes(s[17..33]);
        s[33] = (byte)e.Type;
        BinaryPrimitives.WriteInt64LittleEndian(s[34..42], e.Seq);
        BinaryPrimitives.WriteInt64LittleEndian(s[42..50], e.PublishedAtMicros);
        e.Json.CopyTo(s[HeaderBytes..]);
        redis.GetSubscriber().PublishAsync(Channel(e.ConversationId), envelope).ContinueWith(
            static (t, state) => ((RealtimeMetrics)state!).PublishFailed("redis"),
            metrics, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void Receive(RedisValue value)
    {
        var bytes = (byte[]?)value;
        if (bytes is null || bytes.Length < HeaderBytes || bytes[0] != Version) return;
        var s = bytes.AsSpan();
        if (new Guid(s[1..17]) == instanceId) return;
        var json = s[HeaderBytes..].ToArray();
        onRemote(new HubEvent(new Guid(s[17..33]), json, (FrameType)s[33],
            BinaryPrimitives.ReadInt64LittleEndian(s[34..42]), BinaryPrimitives.ReadInt64LittleEndian(s[42..50])));
    }

    private static RedisChannel Channel(Guid conversationId) => RedisChannel.Literal("rt:conv:" + conversationId.ToString("N"));

    private sealed class Subscription(ChannelMessageQueue queue) : IAsyncDisposable
    {
        // Unsubscribes this queue only: a newer subscription to the same channel keeps working.
        public async ValueTask DisposeAsync()
        {
            try
            {
                await queue.UnsubscribeAsync();
            }
            catch (Exception e) when (Http.HttpBasics.IsUnavailable(e))
            {
                // Redis is down; the server forgets the subscription with the connection.
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Subscribing to a conversation channel failed ({ExceptionType}); delivering locally only")]
    private static partial void LogSubscribeFailed(ILogger logger, string exceptionType);
}
