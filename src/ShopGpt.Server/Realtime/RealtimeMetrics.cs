using System.Diagnostics.Metrics;

namespace ShopGpt.Server.Realtime;

/// <summary>The ShopGpt.Realtime meter, instrument for instrument as docs/metrics.md lists it.</summary>
public sealed class RealtimeMetrics
{
    private static readonly string[] FrameTypeNames = ["hello", "ack", "msg", "delta", "done", "err", "pong", "subscribed", "shortlist"];

    private readonly UpDownCounter<long> connections;
    private readonly Counter<long> connects;
    private readonly Counter<long> disconnects;
    private readonly Counter<long> framesIn;
    private readonly Counter<long> framesOut;
    private readonly Counter<long> deliveries;
    private readonly Histogram<double> fanoutLatency;
    private readonly Histogram<int> outboundQueueDepth;
    private readonly Counter<long> slowConsumerCloses;
    private readonly Counter<long> rateLimited;
    private readonly Counter<long> originRejections;
    private readonly Counter<long> userLimitRejections;
    private readonly Counter<long> ticketFailures;
    private readonly Counter<long> publishFailures;
    private readonly Counter<long> busReceived;
    private readonly Counter<long> orderGaps;
    private long slowConsumerTotal;
    private long busReceivedTotal;
    private long orderGapTotal;
    private long publishFailureTotal;

    public RealtimeMetrics(IMeterFactory meters)
    {
        var m = meters.Create("ShopGpt.Realtime");
        connections = m.CreateUpDownCounter<long>("shopgpt.realtime.connections", "{connection}", "Open WebSocket connections");
        connects = m.CreateCounter<long>("shopgpt.realtime.connects", "{connection}", "WebSocket connections accepted");
        disconnects = m.CreateCounter<long>("shopgpt.realtime.disconnects", "{connection}", "WebSocket connections ended, by reason");
        framesIn = m.CreateCounter<long>("shopgpt.realtime.frames_in", "{frame}", "Client frames received, by type");
        framesOut = m.CreateCounter<long>("shopgpt.realtime.frames_out", "{frame}", "Server frames written, by type");
        deliveries = m.CreateCounter<long>("shopgpt.realtime.deliveries", "{frame}", "Event frames queued to followers");
        fanoutLatency = m.CreateHistogram<double>("shopgpt.realtime.fanout_latency", "s", "From publish to queued at every local follower",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] });
        outboundQueueDepth = m.CreateHistogram<int>("shopgpt.realtime.outbound_queue_depth", "{frame}", "Frames taken per write (coalesced into one message)",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] });
        slowConsumerCloses = m.CreateCounter<long>("shopgpt.realtime.slow_consumer_closes", "{connection}", "Connections closed with 1013");
        rateLimited = m.CreateCounter<long>("shopgpt.realtime.rate_limited", "{frame}", "Client frames refused by the token bucket");
        originRejections = m.CreateCounter<long>("shopgpt.realtime.origin_rejections", "{request}", "Upgrades refused for their Origin (403)");
        userLimitRejections = m.CreateCounter<long>("shopgpt.realtime.user_limit_rejections", "{request}", "Upgrades refused by the per-user connection limit (429)");
        ticketFailures = m.CreateCounter<long>("shopgpt.realtime.ticket_failures", "{request}", "Upgrades refused for their ticket (401), by reason");
        publishFailures = m.CreateCounter<long>("shopgpt.realtime.publish_failures", "{event}", "Events not handed to Redis or to a worker, by reason");
        busReceived = m.CreateCounter<long>("shopgpt.realtime.bus_received", "{event}", "Events received from other instances through Redis");
        orderGaps = m.CreateCounter<long>("shopgpt.realtime.order_gaps", "{event}",
            "Stored events released without an earlier seq that never arrived within Realtime:OrderWaitMs (a lost publication)");
    }

    /// <summary>For tests: slow-consumer closes of this instance (the meter is process-wide).</summary>
    internal long SlowConsumerTotal => Interlocked.Read(ref slowConsumerTotal);

    internal long PublishFailureTotal => Interlocked.Read(ref publishFailureTotal);

    /// <summary>For tests: events this instance received through Redis (never its own publications).</summary>
    internal long BusReceivedTotal => Interlocked.Read(ref busReceivedTotal);

    internal long OrderGapTotal => Interlocked.Read(ref orderGapTotal);

    public void OrderGap()
    {
        Interlocked.Increment(ref orderGapTotal);
        orderGaps.Add(1);
    }

    public void BusReceived()
    {
        Interlocked.Increment(ref busReceivedTotal);
        busReceived.Add(1);
    }

    public void Connected()
    {
        connects.Add(1);
        connections.Add(1);
    }

    public void Disconnected(string reason)
    {
        connections.Add(-1);
        disconnects.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    public void FrameIn(string type) => framesIn.Add(1, new KeyValuePair<string, object?>("type", type));

    public void FramesOut(FrameType type, int n) => framesOut.Add(n, new KeyValuePair<string, object?>("type", FrameTypeNames[(int)type]));

    public void Delivered(int n, double seconds)
    {
        if (n > 0) deliveries.Add(n);
        fanoutLatency.Record(seconds);
    }

    public void QueueDepth(int frames) => outboundQueueDepth.Record(frames);

    public void SlowConsumer()
    {
        Interlocked.Increment(ref slowConsumerTotal);
        slowConsumerCloses.Add(1);
    }

    public void RateLimited() => rateLimited.Add(1);

    public void OriginRejected() => originRejections.Add(1);

    public void UserLimitRejected() => userLimitRejections.Add(1);

    public void TicketFailed(string reason) => ticketFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary><paramref name="reason"/>: <c>redis</c> (Redis down or failing) or <c>overload</c> (worker queue full).</summary>
    public void PublishFailed(string reason)
    {
        Interlocked.Increment(ref publishFailureTotal);
        publishFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }
}
