using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Catalog;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Assistant;

public sealed class AssistantOptions
{
    /// <summary>catalog (built-in, no model) | openai (any OpenAI-compatible endpoint) | ollama.</summary>
    [RegularExpression("^(catalog|openai|ollama)$")] public string Provider { get; set; } = "catalog";

    /// <summary>Base URL for openai (e.g. https://api.openai.com/v1) or ollama (http://127.0.0.1:11434).</summary>
    public string? Endpoint { get; set; }

    public string Model { get; set; } = "gpt-4o-mini";

    /// <summary>API key for openai; read from configuration/environment (Assistant__ApiKey), never logged.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Turns generating at once on this instance.</summary>
    [Range(1, 1000)] public int MaxConcurrentTurns { get; set; } = 32;

    /// <summary>Turns waiting for a slot; when full the turn is refused and the shopper told (busy).</summary>
    [Range(1, 100_000)] public int QueueCapacity { get; set; } = 256;

    /// <summary>Earlier messages read for follow-ups ("cheaper ones?", "compare the first two").</summary>
    [Range(0, 100)] public int ContextMessages { get; set; } = 12;

    [Range(1, 3600)] public int TurnTimeoutSeconds { get; set; } = 120;

    /// <summary>Pause between the catalog responder's chunks (a typing pace; 0 in benchmarks).</summary>
    [Range(0, 1000)] public int CatalogChunkDelayMs { get; set; } = 15;
}

/// <summary>
/// Runs assistant turns server-side, independent of any connection: a user message is stored →
/// <see cref="Start"/> queues a turn → a worker reads the context, plans and retrieves, streams
/// the provider's chunks as <see cref="AssistantDelta"/> events, then stores the answer through
/// Messaging's one store path (<see cref="MessageWriter"/>, which publishes <see cref="MessageStored"/>
/// + <see cref="AssistantDone"/> after the commit) under client id "assistant:&lt;user message id&gt;" (idempotent). A shopper who disconnects finds the
/// answer on resume. Bounded: <see cref="AssistantOptions.MaxConcurrentTurns"/> workers and a queue
/// of <see cref="AssistantOptions.QueueCapacity"/>; when the queue is full the turn is not started
/// and a short <c>failed</c> assistant message says so (the shopper sees it as msg + done).
/// </summary>
public sealed partial class AssistantOrchestrator : BackgroundService, IAssistantTurns
{
    public const string BusyText = "I'm answering a lot of shoppers right now and couldn't start on this one. Please send it again in a moment.";
    public const string FailedText = "Sorry — something went wrong while I was writing this answer. Please try again.";
    public const string TimeoutText = "Sorry — this answer took too long and was cut off. Please try again.";
    public const string RestartText = "I was restarting and couldn't answer this one. Please send it again.";

    private readonly Channel<Turn> queue;
    private readonly ConcurrentDictionary<(Guid Owner, Guid Conversation), Turn> active = new();
    private readonly ConcurrentDictionary<Task, byte> refusing = new();
    private volatile bool stopping;
    private readonly AssistantOptions options;
    private readonly IChatClient chat;
    private readonly TurnPlanner planner;
    private readonly ProductSearch search;
    private readonly MessageReader history;
    private readonly MessageWriter messages;
    private readonly IConversationEvents events;
    private readonly ILogger<AssistantOrchestrator> log;
    private readonly Counter<long> turns;
    private readonly Histogram<double> firstDelta;
    private readonly Histogram<double> stage;
    private readonly Counter<long> chunks;
    private readonly Counter<long> busy;
    private readonly KeyValuePair<string, object?> providerTag;

    private readonly StackExchange.Redis.RedisChannel stopChannel;
    private readonly StackExchange.Redis.IConnectionMultiplexer? redis;

    public AssistantOrchestrator(IOptions<AssistantOptions> options, IChatClient chat, TurnPlanner planner, ProductSearch search, MessageReader history,
        MessageWriter messages, IConversationEvents events, ILogger<AssistantOrchestrator> log, IMeterFactory meters, IServiceProvider services)
    {
        redis = services.GetService<StackExchange.Redis.IConnectionMultiplexer>();
        stopChannel = services.GetRequiredService<Data.RedisNames>().AssistantStop;
        this.options = options.Value;
        this.chat = chat;
        this.planner = planner;
        this.search = search;
        this.history = history;
        this.messages = messages;
        this.events = events;
        this.log = log;
        providerTag = new("provider", this.options.Provider);
        queue = Channel.CreateBounded<Turn>(new BoundedChannelOptions(this.options.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait });
        var meter = meters.Create("ShopGpt.Assistant");
        turns = meter.CreateCounter<long>("shopgpt.assistant.turns", "{turn}", "Assistant turns finished, by final status");
        firstDelta = meter.CreateHistogram<double>("shopgpt.assistant.time_to_first_delta", "s", "From the user message being stored to the first answer chunk",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10] });
        // Where a turn's time goes before its first chunk (queue, context read, plan incl. search, provider's first chunk).
        stage = meter.CreateHistogram<double>("shopgpt.assistant.turn_stage_duration", "s", "Time of each step of a turn before its first answer chunk",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5] });
        chunks = meter.CreateCounter<long>("shopgpt.assistant.chunks", "{chunk}", "Answer chunks streamed");
        busy = meter.CreateCounter<long>("shopgpt.assistant.busy_rejections", "{turn}", "Turns refused because the queue was full");
        meter.CreateObservableGauge("shopgpt.assistant.queue_depth", () => queue.Reader.Count, "{turn}", "Turns waiting for a worker");
        meter.CreateObservableGauge("shopgpt.assistant.queue_capacity", () => this.options.QueueCapacity, "{turn}", "Most turns that may wait");
    }

    public void Start(Guid ownerId, Message userMessage)
    {
        var turn = new Turn(ownerId, userMessage, Guid.CreateVersion7(), Stopwatch.GetTimestamp());
        active[(ownerId, userMessage.ConversationId)] = turn;
        if (queue.Writer.TryWrite(turn)) return;
        Task finish;
        if (stopping)
        {
            finish = FinishAsync(turn, RestartText, "stopped", null, countTurn: true);
        }
        else
        {
            busy.Add(1);
            LogBusy(log, options.QueueCapacity);
            finish = FinishAsync(turn, BusyText, "failed", null, countTurn: false);
        }
        refusing[finish] = 0;
        _ = finish.ContinueWith(t => refusing.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// Why: a user message committed while the host shuts down (REST keeps serving until the web
    /// server stops, after this service) used to be queued for workers that had already exited,
    /// so its answer was lost silently. Now the queue closes first, such turns are answered at
    /// once as <c>stopped</c> with <see cref="RestartText"/>, and shutdown waits for those stores
    /// (the batcher stops after this service, so they still commit).
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        stopping = true;
        queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
        await Task.WhenAll(refusing.Keys).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Stops the turn here, or — when it runs on another instance (the stop came through another
    /// connection) — tells every instance over Redis; the one running it stops it.
    /// </summary>
    public bool Stop(Guid ownerId, Guid conversationId)
    {
        if (StopLocal(ownerId, conversationId)) return true;
        if (redis is not null)
        {
            try
            {
                redis.GetSubscriber().Publish(stopChannel, $"{ownerId:N}:{conversationId:N}", StackExchange.Redis.CommandFlags.FireAndForget);
            }
            catch (StackExchange.Redis.RedisException e)
            {
                LogStopBroadcastFailed(log, e.GetType().Name);
            }
        }
        return false;
    }

    private bool StopLocal(Guid ownerId, Guid conversationId)
    {
        if (!active.TryGetValue((ownerId, conversationId), out var turn)) return false;
        try
        {
            turn.Cancel.Cancel();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false; // it finished in the meantime
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (redis is not null)
        {
            try
            {
                await redis.GetSubscriber().SubscribeAsync(stopChannel, (_, value) =>
                {
                    var parts = value.ToString().Split(':');
                    if (parts.Length == 2 && Guid.TryParse(parts[0], out var owner) && Guid.TryParse(parts[1], out var cid)) StopLocal(owner, cid);
                });
            }
            catch (StackExchange.Redis.RedisException e)
            {
                // Redis down at start: stops still work for turns on this instance.
                LogStopBroadcastFailed(log, e.GetType().Name);
            }
        }
        await Task.WhenAll(Enumerable.Range(0, options.MaxConcurrentTurns).Select(_ => WorkerAsync(stoppingToken)));
    }

    private async Task WorkerAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
                while (queue.Reader.TryRead(out var turn))
                    await RunAsync(turn, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        // Shutting down: turns still queued get a stored answer too (stopped: nothing was
        // generated; the text asks to send again), so nobody waits forever.
        while (queue.Reader.TryRead(out var left))
            await FinishAsync(left, RestartText, "stopped", null, countTurn: true);
    }

    private async Task RunAsync(Turn turn, CancellationToken stoppingToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(turn.Cancel.Token, stoppingToken);
        linked.CancelAfter(TimeSpan.FromSeconds(options.TurnTimeoutSeconds));
        var ct = linked.Token;
        var text = new StringBuilder();
        var products = new List<Product>();
        var status = "complete";
        try
        {
            ct.ThrowIfCancellationRequested();
            var owner = turn.Owner;
            var cid = turn.UserMessage.ConversationId;
            var t0 = Stopwatch.GetTimestamp();
            stage.Record(Stopwatch.GetElapsedTime(turn.Queued, t0).TotalSeconds, StageQueue);
            var context = await history.MessagesBeforeAsync(owner, cid, turn.UserMessage.Seq, options.ContextMessages, ct);
            context.Reverse();
            var t1 = Stopwatch.GetTimestamp();
            stage.Record(Stopwatch.GetElapsedTime(t0, t1).TotalSeconds, StageContext);
            var plan = await planner.PlanAsync(owner, context, turn.UserMessage, ct);
            products.AddRange(plan.Products);
            var t2 = Stopwatch.GetTimestamp();
            stage.Record(Stopwatch.GetElapsedTime(t1, t2).TotalSeconds, StagePlan);

            var chatOptions = new ChatOptions { AdditionalProperties = new() { [AssistantPrompt.PlanKey] = plan } };
            if (options.Provider != "catalog")
                chatOptions.Tools = [AssistantPrompt.SearchTool(search, found => { lock (products) products.AddRange(found); })];
            var first = true;
            await foreach (var update in chat.GetStreamingResponseAsync(AssistantPrompt.Build(context, turn.UserMessage.Text, plan), chatOptions, ct))
            {
                var chunk = update.Text;
                if (string.IsNullOrEmpty(chunk)) continue;
                if (first)
                {
                    stage.Record(Stopwatch.GetElapsedTime(t2).TotalSeconds, StageProvider);
                    firstDelta.Record(Stopwatch.GetElapsedTime(turn.Queued).TotalSeconds, providerTag);
                    first = false;
                }
                text.Append(chunk);
                chunks.Add(1, providerTag);
                events.Publish(new AssistantDelta(owner, cid, turn.AnswerId, chunk));
            }
        }
        catch (OperationCanceledException) when (turn.Cancel.IsCancellationRequested || stoppingToken.IsCancellationRequested)
        {
            status = "stopped";
        }
        catch (OperationCanceledException)
        {
            status = "failed";
            text.Clear().Append(TimeoutText);
        }
        catch (Exception e)
        {
            // Provider, search or database failure: the shopper gets a short stored explanation.
            LogTurnFailed(log, options.Provider, e.GetType().Name, e);
            status = "failed";
            text.Clear().Append(FailedText);
        }
        var body = text.Length > 0 ? text.ToString() : status == "stopped" ? "(stopped)" : FailedText;
        await FinishAsync(turn, body, status, status == "failed" ? null : products, countTurn: true);
    }

    /// <summary>Stores the answer and tells followers; never throws (a failure here is logged; resume shows what was stored).</summary>
    private async Task FinishAsync(Turn turn, string text, string status, List<Product>? products, bool countTurn)
    {
        var cid = turn.UserMessage.ConversationId;
        try
        {
            string? productsJson = null;
            if (products is { Count: > 0 })
            {
                List<ProductRef> refs;
                lock (products) refs = products.DistinctBy(p => p.Id).Take(10).Select(p => p.ToRef()).ToList();
                productsJson = JsonSerializer.Serialize(refs, CatalogJsonContext.Default.ListProductRef);
            }
            // The one store path publishes the answer (msg + done) after its commit.
            await messages.StoreAsync(
                new NewMessage(turn.Owner, cid, MessageRoles.Assistant, text, ClientIds.AnswerTo(turn.UserMessage.Id), status, productsJson, turn.AnswerId),
                CancellationToken.None);
            if (countTurn) turns.Add(1, providerTag, new KeyValuePair<string, object?>("status", status));
        }
        catch (Exception e)
        {
            LogStoreFailed(log, e.GetType().Name, e);
        }
        finally
        {
            active.TryRemove(new KeyValuePair<(Guid, Guid), Turn>((turn.Owner, cid), turn));
            turn.Cancel.Dispose();
        }
    }

    private static readonly KeyValuePair<string, object?> StageQueue = new("stage", "queue");
    private static readonly KeyValuePair<string, object?> StageContext = new("stage", "context");
    private static readonly KeyValuePair<string, object?> StagePlan = new("stage", "plan");
    private static readonly KeyValuePair<string, object?> StageProvider = new("stage", "provider");

    private sealed record Turn(Guid Owner, Message UserMessage, Guid AnswerId, long Queued)
    {
        public CancellationTokenSource Cancel { get; } = new();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cross-instance stop over Redis unavailable ({ExceptionType})")]
    private static partial void LogStopBroadcastFailed(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Assistant queue full ({Capacity}); a turn was refused as busy")]
    private static partial void LogBusy(ILogger logger, int capacity);

    [LoggerMessage(Level = LogLevel.Error, Message = "Assistant turn failed with provider {Provider} ({ExceptionType})")]
    private static partial void LogTurnFailed(ILogger logger, string provider, string exceptionType, Exception e);

    [LoggerMessage(Level = LogLevel.Error, Message = "Storing an assistant answer failed ({ExceptionType})")]
    private static partial void LogStoreFailed(ILogger logger, string exceptionType, Exception e);
}
