using System.Threading.Channels;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Realtime;

/// <summary>
/// One connection following one conversation. Its fields are touched only by the hub worker
/// that owns the conversation's shard, so they need no locks.
/// </summary>
public sealed class HubSubscription(RealtimeConnection connection, Guid conversationId)
{
    public RealtimeConnection Connection { get; } = connection;

    public Guid ConversationId { get; } = conversationId;

    /// <summary>Live events held back while the replay is read; null once live.</summary>
    internal List<HubEvent>? Buffer { get; set; } = [];

    /// <summary>Highest seq the replay sent: a <c>msg</c> at or below it is a duplicate.</summary>
    internal long ReplayedThrough { get; set; } = long.MinValue;

    /// <summary>
    /// The conversation's last stored seq as a complete replay read it (0 = not known): gives a
    /// topic that has seen no stored event yet the seq to expect next, so even its first two
    /// live events are put in order. Set by the connection before it goes live.
    /// </summary>
    internal long KnownLastSeq { get; set; }
}

/// <summary>
/// Fan-out (issue 3, item 6): a fixed pool of workers, sharded by conversation id, owns the
/// ref-counted follower lists. Publishing enqueues one work item per event (never a task per
/// recipient); a worker appends the pre-serialized frame to each follower's bounded queue.
/// The Redis channel of a conversation is subscribed while it has local followers.
/// </summary>
public sealed partial class ConversationHub : IConversationEvents, IHostedService
{
    private readonly Channel<Work>[] shards;
    private readonly Dictionary<Guid, Topic>[] topics;
    private readonly IConversationBus bus;
    private readonly RealtimeMetrics metrics;
    private readonly RealtimeOptions options;
    private readonly ILogger<ConversationHub> log;
    // Per shard, the topics holding events back for an earlier seq (touched by that shard's worker only).
    private readonly HashSet<Topic>[] waiting;
    // Per shard, whether a tick is useful (written by the worker, read by the timer).
    private readonly int[] waitingCount;
    private Timer? orderTimer;
    private Task[] workers = [];

    public ConversationHub(IConversationBus bus, RealtimeMetrics metrics, IOptions<RealtimeOptions> options, ILogger<ConversationHub> log)
    {
        this.bus = bus;
        this.metrics = metrics;
        this.options = options.Value;
        this.log = log;
        var n = this.options.Workers > 0 ? this.options.Workers : Environment.ProcessorCount;
        shards = new Channel<Work>[n];
        topics = new Dictionary<Guid, Topic>[n];
        waiting = new HashSet<Topic>[n];
        waitingCount = new int[n];
        for (var i = 0; i < n; i++)
        {
            waiting[i] = [];
            shards[i] = Channel.CreateBounded<Work>(new BoundedChannelOptions(this.options.WorkerQueueCapacity)
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.Wait,
            });
            topics[i] = [];
        }
        bus.OnRemote(e => Enqueue(e));
    }

    /// <summary>Called by the write path and the assistant after a commit or per chunk; never blocks.</summary>
    public void Publish(ConversationEvent e)
    {
        var (frame, seq) = e switch
        {
            MessageStored m => ((ServerFrame)MsgFrame.From(m.Message), m.Message.Seq),
            AssistantDelta d => (new DeltaFrame(d.ConversationId, d.MessageId, d.Text), 0L),
            AssistantDone d => (new DoneFrame(d.ConversationId, d.MessageId, d.Seq, d.Status), d.Seq),
            _ => throw new ArgumentException($"Unknown event {e.GetType().Name}", nameof(e)),
        };
        var ev = new HubEvent(e.ConversationId, ServerFrames.Serialize(frame), ServerFrames.TypeOf(frame), seq, NowMicros());
        Enqueue(ev);
        bus.Publish(ev);
    }

    /// <summary>
    /// A frame for every connection of one user, on every instance, that follows the user's own
    /// topic (a <c>sub</c> whose cid is the user id): account-wide news such as shortlist changes
    /// ride the same fan-out (interest, inbox, workers) as conversations. No seq: sent at once.
    /// </summary>
    public void PublishToUser(Guid userId, ServerFrame frame)
    {
        var ev = new HubEvent(userId, ServerFrames.Serialize(frame), ServerFrames.TypeOf(frame), 0, NowMicros());
        Enqueue(ev);
        bus.Publish(ev);
    }

    /// <summary>
    /// Adds a follower in buffering mode; completes once events published anywhere from now on
    /// will reach it (the Redis subscription is confirmed), so a database read after this misses nothing.
    /// </summary>
    public async Task AddAsync(HubSubscription s)
    {
        var ready = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        await Shard(s.ConversationId).Writer.WriteAsync(new Work(WorkKind.Add, s, null, 0, ready));
        await await ready.Task;
    }

    /// <summary>Ends the replay: buffered events go out (skipping replayed msgs), then live delivery.</summary>
    public async Task GoLiveAsync(HubSubscription s, long replayedThrough)
    {
        await Shard(s.ConversationId).Writer.WriteAsync(new Work(WorkKind.GoLive, s, null, replayedThrough, null));
    }

    public void Remove(HubSubscription s)
    {
        // Removal must not be lost (it ends a Redis subscription); the queue only refuses when stopping.
        if (!Shard(s.ConversationId).Writer.TryWrite(new Work(WorkKind.Remove, s, null, 0, null)))
            _ = Shard(s.ConversationId).Writer.WriteAsync(new Work(WorkKind.Remove, s, null, 0, null)).AsTask().ContinueWith(
                static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        workers = new Task[shards.Length];
        for (var i = 0; i < shards.Length; i++)
        {
            var shard = i;
            workers[i] = Task.Run(() => RunWorkerAsync(shard), CancellationToken.None);
        }
        // One timer for the hub: a shard whose topics wait for a missing seq gets a tick.
        var period = TimeSpan.FromMilliseconds(Math.Clamp(options.OrderWaitMs / 4, 5, 100));
        orderTimer = new Timer(static h => ((ConversationHub)h!).TickWaitingShards(), this, period, period);
        return Task.CompletedTask;
    }

    private void TickWaitingShards()
    {
        for (var i = 0; i < shards.Length; i++)
            if (Volatile.Read(ref waitingCount[i]) > 0) shards[i].Writer.TryWrite(new Work(WorkKind.Tick, null, null, 0, null));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (orderTimer is not null) await orderTimer.DisposeAsync();
        foreach (var s in shards) s.Writer.TryComplete();
        await Task.WhenAll(workers).WaitAsync(cancellationToken);
    }

    internal static long NowMicros() => DateTime.UtcNow.Ticks / 10;

    private void Enqueue(HubEvent e)
    {
        if (!Shard(e.ConversationId).Writer.TryWrite(new Work(WorkKind.Deliver, null, e, 0, null)))
            metrics.PublishFailed("overload");
    }

    private Channel<Work> Shard(Guid conversationId) => shards[ShardOf(conversationId)];

    private int ShardOf(Guid conversationId) => (int)((uint)conversationId.GetHashCode() % (uint)shards.Length);

    private async Task RunWorkerAsync(int shard)
    {
        var reader = shards[shard].Reader;
        var map = topics[shard];
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var w))
            {
                try
                {
                    switch (w.Kind)
                    {
                        case WorkKind.Deliver: Deliver(map, w.Event!, shard); break;
                        case WorkKind.Tick: ReleaseOverdue(shard); break;
                        case WorkKind.Add: Add(map, w.Subscription!, w.Ready!); break;
                        case WorkKind.GoLive: GoLive(map, w.Subscription!, w.Number); break;
                        case WorkKind.Remove: Remove(map, w.Subscription!); break;
                    }
                }
                catch (Exception e)
                {
                    // A bug in one item must not stop the shard's delivery for everyone else.
                    LogWorkFailed(log, w.Kind.ToString(), e.GetType().Name, e);
                }
            }
        }
        foreach (var t in map.Values) _ = DisposeRemoteAsync(t.Remote);
        map.Clear();
    }

    /// <summary>
    /// Stored events (msg, done: they carry the conversation's seq) go out in seq order. Their
    /// publications race: each send's continuation publishes after its own commit, and another
    /// instance's arrive through Redis, so seq 6 can reach this worker before seq 5. A follower
    /// resumes from the highest seq it saw, so 6 before 5 and a drop in between would lose 5.
    /// An event ahead of the next expected seq waits (in its topic) for the missing ones, at most
    /// Realtime:OrderWaitMs; deltas carry no seq and go out at once.
    /// </summary>
    private void Deliver(Dictionary<Guid, Topic> map, HubEvent e, int shard)
    {
        if (!map.TryGetValue(e.ConversationId, out var topic)) return;
        if (e.Seq <= 0 || topic.NextSeq == 0 || e.Seq <= topic.NextSeq - 1)
        {
            // No seq, the first stored event this topic sees (nothing to compare with), or a
            // late one whose successors were already released by the wait limit.
            if (e.Seq > 0 && e.Seq >= topic.NextSeq) topic.NextSeq = e.Seq + 1;
            DeliverNow(topic, e);
            return;
        }
        if (e.Seq > topic.NextSeq)
        {
            if (topic.Held is null)
            {
                topic.Held = [];
                topic.HeldSince = Environment.TickCount64;
                waiting[shard].Add(topic);
                Volatile.Write(ref waitingCount[shard], waiting[shard].Count);
            }
            topic.Held[e.Seq] = e;
            return;
        }
        topic.NextSeq = e.Seq + 1;
        DeliverNow(topic, e);
        while (topic.Held is { } held && held.Remove(topic.NextSeq, out var next))
        {
            topic.NextSeq++;
            DeliverNow(topic, next);
        }
        if (topic.Held is { Count: 0 }) StopWaiting(topic, shard);
        // The next gap starts now: what is still held waits its full time for it.
        else if (topic.Held is not null) topic.HeldSince = Environment.TickCount64;
    }

    /// <summary>Topics that waited too long for a seq release what they hold, in order (the gap stays; resume repairs it).</summary>
    private void ReleaseOverdue(int shard)
    {
        var now = Environment.TickCount64;
        List<Topic>? overdue = null;
        foreach (var t in waiting[shard])
            if (now - t.HeldSince >= options.OrderWaitMs) (overdue ??= []).Add(t);
        if (overdue is null) return;
        foreach (var t in overdue)
        {
            metrics.OrderGap();
            foreach (var e in t.Held!.Values)
            {
                t.NextSeq = e.Seq + 1;
                DeliverNow(t, e);
            }
            StopWaiting(t, shard);
        }
    }

    private void StopWaiting(Topic topic, int shard)
    {
        topic.Held = null;
        waiting[shard].Remove(topic);
        Volatile.Write(ref waitingCount[shard], waiting[shard].Count);
    }

    private void DeliverNow(Topic topic, HubEvent e)
    {
        var delivered = 0;
        foreach (var s in topic.Followers)
        {
            if (s.Buffer is { } buffer)
            {
                if (buffer.Count >= options.ResumeBufferFrames) s.Connection.CloseSlowConsumer();
                else buffer.Add(e);
                continue;
            }
            if (e.Type == FrameType.Msg && e.Seq <= s.ReplayedThrough) continue;
            s.Connection.Enqueue(new Outgoing(e.Json, e.Type));
            delivered++;
        }
        metrics.Delivered(delivered, Math.Max(0, NowMicros() - e.PublishedAtMicros) / 1e6);
    }

    private void Add(Dictionary<Guid, Topic> map, HubSubscription s, TaskCompletionSource<Task> ready)
    {
        if (!map.TryGetValue(s.ConversationId, out var topic))
        {
            // First local follower: start the Redis subscription; every follower waits for the same one.
            topic = new Topic(bus.SubscribeAsync(s.ConversationId));
            map[s.ConversationId] = topic;
        }
        topic.Followers.Add(s);
        ready.TrySetResult(topic.Remote);
    }

    private static void GoLive(Dictionary<Guid, Topic> map, HubSubscription s, long replayedThrough)
    {
        if (s.KnownLastSeq > 0 && map.TryGetValue(s.ConversationId, out var topic) && topic.NextSeq == 0) topic.NextSeq = s.KnownLastSeq + 1;
        if (s.Buffer is not { } buffer) return;
        s.ReplayedThrough = replayedThrough;
        s.Buffer = null;
        foreach (var e in buffer)
        {
            if (e.Type == FrameType.Msg && e.Seq <= replayedThrough) continue;
            s.Connection.Enqueue(new Outgoing(e.Json, e.Type));
        }
    }

    private void Remove(Dictionary<Guid, Topic> map, HubSubscription s)
    {
        s.Buffer = null;
        if (!map.TryGetValue(s.ConversationId, out var topic) || !topic.Followers.Remove(s)) return;
        if (topic.Followers.Count > 0) return;
        map.Remove(s.ConversationId);
        if (topic.Held is not null) StopWaiting(topic, ShardOf(s.ConversationId));
        _ = DisposeRemoteAsync(topic.Remote);
    }

    private static async Task DisposeRemoteAsync(Task<IAsyncDisposable?> remote)
    {
        var handle = await remote;
        if (handle is not null) await handle.DisposeAsync();
    }

    private enum WorkKind : byte
    {
        Deliver, Add, GoLive, Remove, Tick,
    }

    private readonly record struct Work(WorkKind Kind, HubSubscription? Subscription, HubEvent? Event, long Number, TaskCompletionSource<Task>? Ready);

    private sealed class Topic(Task<IAsyncDisposable?> remote)
    {
        public Task<IAsyncDisposable?> Remote { get; } = remote;

        public List<HubSubscription> Followers { get; } = [];

        /// <summary>The seq the next stored event should carry; 0 until the topic has seen one.</summary>
        public long NextSeq { get; set; }

        /// <summary>Stored events that arrived ahead of <see cref="NextSeq"/>, by seq; null when none wait.</summary>
        public SortedDictionary<long, HubEvent>? Held { get; set; }

        public long HeldSince { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Hub work item {Kind} failed ({ExceptionType})")]
    private static partial void LogWorkFailed(ILogger logger, string kind, string exceptionType, Exception e);
}
