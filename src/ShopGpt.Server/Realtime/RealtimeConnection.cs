using System.Buffers;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Conversations;
using ShopGpt.Server.Http;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Realtime;

/// <summary>What every connection shares: one object, so a connection holds one reference, not ten.</summary>
public sealed class RealtimeServices(
    IOptions<RealtimeOptions> options,
    IOptions<MessagingOptions> messaging,
    RealtimeMetrics metrics,
    ConversationHub hub,
    MessageReader history,
    MessageService messages,
    IAssistantTurns assistant,
    ConnectionRegistry registry,
    ConnectionLimiter limiter,
    IServiceProvider services,
    ILogger<RealtimeConnection> log)
{
    public RealtimeOptions Options { get; } = options.Value;
    public MessagingOptions Messaging { get; } = messaging.Value;
    public RealtimeMetrics Metrics { get; } = metrics;
    public ConversationHub Hub { get; } = hub;
    public MessageReader History { get; } = history;
    public MessageService Messages { get; } = messages;
    public IAssistantTurns Assistant { get; } = assistant;
    public ConnectionRegistry Registry { get; } = registry;
    public ConnectionLimiter Limiter { get; } = limiter;
    public ILogger<RealtimeConnection> Log { get; } = log;

    // Resolved on first use: SocketUpgrade itself depends on this object.
    public SocketUpgrade Upgrade => field ??= services.GetRequiredService<SocketUpgrade>();
}

/// <summary>
/// One WebSocket (issue 3, items 3-5). Idle, it holds no receive buffer (a zero-byte read
/// waits for data, then a buffer is rented), no outbound queue and no writer task, and no
/// timer (the registry's sweeper checks idleness). Inbound frames are handled one at a time
/// in order; outbound frames go through a bounded queue drained by at most one writer, which
/// coalesces whatever is pending into one JSON array message.
/// </summary>
public sealed partial class RealtimeConnection
{
    private const int InitialReceiveBuffer = 4096;
    private readonly WebSocket ws;
    private readonly RealtimeServices rt;
    private readonly object gate = new();
    private readonly TaskCompletionSource closeSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Queue<Outgoing>? queue;
    private int queuedBytes;
    private bool writing;
    private bool closeRequested;
    private WebSocketCloseStatus closeStatus;
    private string? closeReason;
    private string closeDescription = "";
    // Most connections follow one conversation: it is held directly, the dictionary (about
    // 250 bytes) exists only from the second one on.
    private HubSubscription? sub;
    private Dictionary<Guid, HubSubscription>? subs;
    private double tokens;
    private long refilledAt;
    private double abuse;
    private long abuseAt;

    public RealtimeConnection(WebSocket ws, Guid userId, Lease lease, RealtimeServices rt)
    {
        this.ws = ws;
        this.rt = rt;
        UserId = userId;
        Lease = lease;
        tokens = rt.Options.RateBurst;
        refilledAt = abuseAt = Stopwatch.GetTimestamp();
        LastActivity = Environment.TickCount64;
    }

    public Guid UserId { get; }

    public Lease Lease { get; }

    public string Id => Lease.Member;

    /// <summary>Milliseconds (Environment.TickCount64) of the last client frame: read by the sweeper.</summary>
    public long LastActivity { get; private set; }

    /// <summary>When a close was requested (TickCount64), 0 while open: the sweeper aborts a close that hangs.</summary>
    public long CloseRequestedAt { get; private set; }

    /// <summary>Why the connection ended (metrics tag); null while open.</summary>
    public string? DisconnectReason => closeReason;

    public async Task RunAsync()
    {
        try
        {
            await ReceiveLoopAsync();
            // Let the writer send what it must and the close frame; the sweeper aborts if that hangs.
            if (ws.State is WebSocketState.Open or WebSocketState.CloseReceived) await closeSent.Task;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever went wrong, the slot, the subscriptions and the registry entry are released below.
            LogConnectionFailed(rt.Log, e.GetType().Name, e);
            Abort();
        }
        finally
        {
            Cleanup();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var o = rt.Options;
        Send(new HelloFrame(Id, o.HeartbeatSeconds, o.MaxFrameBytes, new RateInfo(o.RatePerSecond, o.RateBurst)));
        byte[]? buffer = null;
        try
        {
            while (!closeRequested)
            {
                // Zero-byte read: wait for data without holding a buffer (most connections are idle).
                var first = await ws.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                if (first.MessageType == WebSocketMessageType.Close)
                {
                    ClientClosed();
                    break;
                }
                buffer = ArrayPool<byte>.Shared.Rent(InitialReceiveBuffer);
                var total = 0;
                ValueWebSocketReceiveResult r;
                do
                {
                    if (total == buffer.Length)
                    {
                        var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, o.MaxFrameBytes + 1));
                        buffer.AsSpan(0, total).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }
                    r = await ws.ReceiveAsync(buffer.AsMemory(total), CancellationToken.None);
                    total += r.Count;
                }
                while (!r.EndOfMessage && total <= o.MaxFrameBytes && r.MessageType != WebSocketMessageType.Close);

                if (r.MessageType == WebSocketMessageType.Close)
                {
                    ClientClosed();
                    break;
                }
                if (total > o.MaxFrameBytes)
                {
                    RequestClose(WebSocketCloseStatus.MessageTooBig, "too_large", $"Frames are limited to {o.MaxFrameBytes} bytes.", drain: false);
                    await DiscardUntilCloseAsync(buffer);
                    break;
                }
                LastActivity = Environment.TickCount64;
                // A binary message is an invalid frame: counted and rate limited like any other.
                await HandleAsync(r.MessageType == WebSocketMessageType.Binary ? ReadOnlyMemory<byte>.Empty : buffer.AsMemory(0, total));
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = null;
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException
                                  or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            // The peer vanished or the sweeper aborted a close that hung.
            Abort();
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// After a close for an oversized message: reads and drops what the client still sends (the
    /// rest of a fragmented message) until its close answer. Closing the socket with unread data
    /// makes the kernel reset the connection, and the client then saw 1006 instead of the 1009
    /// it was sent (issue 15, finding 11). Bounded: the sweeper aborts a close that hangs.
    /// </summary>
    private async Task DiscardUntilCloseAsync(byte[] buffer)
    {
        while ((await ws.ReceiveAsync(buffer.AsMemory(), CancellationToken.None)).MessageType != WebSocketMessageType.Close)
        {
        }
    }

    /// <summary>
    /// Sends a frame to this client, in order with every other frame. With nothing pending it is
    /// handed to the WebSocket at once, on the caller's thread (a hub worker or the receive
    /// loop): the send only copies into the transport's buffer, so the usual case costs no
    /// queue, no task and no thread-pool hop (fan-out profile: the hop and the writer task per
    /// delivered frame were a tenth of the server's CPU). Otherwise, or when the transport
    /// pushes back, frames wait in a bounded queue drained (and coalesced) by one writer; over
    /// the bound the client is a slow consumer and is closed (1013).
    /// </summary>
    public void Enqueue(Outgoing frame)
    {
        var direct = false;
        var start = false;
        var slow = false;
        lock (gate)
        {
            if (closeRequested) return;
            var q = queue;
            if (!writing && (q is null || q.Count == 0))
            {
                writing = direct = true;
            }
            else if ((q?.Count ?? 0) + 1 > rt.Options.MaxOutboundFrames || queuedBytes + frame.Json.Length > rt.Options.MaxOutboundBytes)
            {
                slow = true;
            }
            else
            {
                (queue ??= new Queue<Outgoing>(4)).Enqueue(frame);
                queuedBytes += frame.Json.Length;
                if (!writing) writing = start = true;
            }
        }
        if (direct) SendDirect(frame);
        else if (slow) CloseSlowConsumer();
        else if (start) StartWriter();
    }

    /// <summary>The caller holds the writer role (<c>writing</c>); it passes to the loop if anything is left to do.</summary>
    private void SendDirect(Outgoing frame)
    {
        ValueTask sent;
        try
        {
            sent = ws.SendAsync(frame.Json.AsMemory(), WebSocketMessageType.Text, true, CancellationToken.None);
        }
        catch (Exception e) when (IsTransportFailure(e))
        {
            WriterFailed();
            return;
        }
        if (!sent.IsCompletedSuccessfully)
        {
            // Back-pressure (or a control frame holding the send lock): the loop awaits this
            // send, then drains whatever queued behind it.
            _ = WriteLoopAsync(new Pending(sent.AsTask(), frame.Type));
            return;
        }
        WroteSingle(frame.Type);
        bool more;
        lock (gate)
        {
            // Frames queued while this one was written, or a close requested meanwhile, need the loop.
            more = queue is { Count: > 0 } || closeRequested;
            if (!more) writing = false;
        }
        if (more) StartWriter();
    }

    /// <summary>Hands the writer role (already taken under the gate) to the loop, on the thread pool.</summary>
    private void StartWriter() => ThreadPool.UnsafeQueueUserWorkItem(static c => _ = c.WriteLoopAsync(null), this, preferLocal: false);

    /// <summary>One frame written on its own (not coalesced).</summary>
    private void WroteSingle(FrameType type)
    {
        rt.Metrics.QueueDepth(1);
        rt.Metrics.FramesOut(type, 1);
    }

    private static bool IsTransportFailure(Exception e) =>
        e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException
            or InvalidOperationException or Microsoft.AspNetCore.Connections.ConnectionAbortedException;

    private void WriterFailed()
    {
        lock (gate)
        {
            closeRequested = true;
            closeReason ??= "error";
            queue = null;
            queuedBytes = 0;
            writing = false;
        }
        closeSent.TrySetResult();
        ws.Abort();
    }

    /// <summary>A direct send the transport did not take at once: the writer loop finishes it first.</summary>
    private readonly record struct Pending(Task Send, FrameType Type);

    public void CloseSlowConsumer()
    {
        if (RequestClose((WebSocketCloseStatus)1013, "slow_consumer", "Not reading fast enough.", drain: false)) rt.Metrics.SlowConsumer();
    }

    /// <summary>
    /// Starts closing: no more frames are accepted; with <paramref name="drain"/> the queued ones
    /// are written first, otherwise they are dropped (memory is released at once). Returns false if already closing.
    /// </summary>
    public bool RequestClose(WebSocketCloseStatus status, string reason, string description, bool drain)
    {
        var start = false;
        lock (gate)
        {
            if (closeRequested) return false;
            closeRequested = true;
            closeStatus = status;
            closeReason = reason;
            closeDescription = description;
            CloseRequestedAt = Environment.TickCount64;
            if (!drain)
            {
                queue = null;
                queuedBytes = 0;
            }
            if (!writing) writing = start = true;
        }
        if (start) StartWriter();
        return true;
    }

    /// <summary>Ends a connection whose close did not complete in time (the peer stopped reading).</summary>
    public void Abort()
    {
        lock (gate) closeReason ??= "error";
        ws.Abort();
        closeSent.TrySetResult();
    }

    private void Send(ServerFrame frame) => Enqueue(new Outgoing(ServerFrames.Serialize(frame), ServerFrames.TypeOf(frame)));

    private void ClientClosed()
    {
        var (status, reason) = ws.CloseStatus switch
        {
            WebSocketCloseStatus.EndpointUnavailable => (WebSocketCloseStatus.EndpointUnavailable, "going_away"),
            _ => (WebSocketCloseStatus.NormalClosure, "normal"),
        };
        RequestClose(status, reason, "", drain: false);
    }

    private async Task WriteLoopAsync(Pending? pending)
    {
        var batch = ArrayPool<Outgoing>.Shared.Rent(rt.Options.Batching ? rt.Options.MaxBatchFrames : 1);
        try
        {
            if (pending is { } p)
            {
                await p.Send;
                WroteSingle(p.Type);
            }
            while (true)
            {
                var n = 0;
                var sendClose = false;
                lock (gate)
                {
                    var q = queue;
                    if (q is null || q.Count == 0)
                    {
                        queue = null; // an idle connection keeps no queue
                        if (!closeRequested || closeSent.Task.IsCompleted)
                        {
                            writing = false;
                            return;
                        }
                        sendClose = true;
                    }
                    else
                    {
                        var max = rt.Options.Batching ? rt.Options.MaxBatchFrames : 1;
                        while (n < max && q.TryDequeue(out var f))
                        {
                            batch[n++] = f;
                            queuedBytes -= f.Json.Length;
                        }
                    }
                }
                if (sendClose)
                {
                    await SendCloseAsync();
                    lock (gate) writing = false;
                    return;
                }
                await WriteAsync(batch, n);
                Array.Clear(batch, 0, n);
            }
        }
        catch (Exception e) when (IsTransportFailure(e))
        {
            WriterFailed();
        }
        finally
        {
            ArrayPool<Outgoing>.Shared.Return(batch, clearArray: true);
        }
    }

    private async Task WriteAsync(Outgoing[] batch, int n)
    {
        rt.Metrics.QueueDepth(n);
        if (n == 1)
        {
            await ws.SendAsync(batch[0].Json.AsMemory(), WebSocketMessageType.Text, true, CancellationToken.None);
            rt.Metrics.FramesOut(batch[0].Type, 1);
            return;
        }
        // Several pending frames: one message "[f1,f2,...]" (API.md: a message may carry an array of frames).
        var size = n + 1;
        for (var i = 0; i < n; i++) size += batch[i].Json.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var at = 0;
            buffer[at++] = (byte)'[';
            for (var i = 0; i < n; i++)
            {
                if (i > 0) buffer[at++] = (byte)',';
                batch[i].Json.CopyTo(buffer, at);
                at += batch[i].Json.Length;
            }
            buffer[at++] = (byte)']';
            await ws.SendAsync(buffer.AsMemory(0, at), WebSocketMessageType.Text, true, CancellationToken.None);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        for (var i = 0; i < n; i++) rt.Metrics.FramesOut(batch[i].Type, 1);
    }

    private async Task SendCloseAsync()
    {
        try
        {
            if (ws.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await ws.CloseOutputAsync(closeStatus, closeDescription, CancellationToken.None);
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException
                                  or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            ws.Abort();
        }
        closeSent.TrySetResult();
    }

    private void Cleanup()
    {
        lock (gate)
        {
            closeRequested = true;
            queue = null;
        }
        if (sub is not null) rt.Hub.Remove(sub);
        sub = null;
        if (subs is not null)
        {
            foreach (var s in subs.Values) rt.Hub.Remove(s);
            subs = null;
        }
        rt.Registry.Remove(this);
        rt.Metrics.Disconnected(closeReason ?? "error");
        _ = rt.Limiter.ReleaseAsync(Lease);
    }

    // ---------------------------------------------------------------- inbound frames

    private async Task HandleAsync(ReadOnlyMemory<byte> json)
    {
        var f = ClientFrames.Parse(json.Span);
        var type = f?.T switch
        {
            "sub" or "unsub" or "send" or "stop" or "ping" => f.T,
            _ => "invalid",
        };
        rt.Metrics.FrameIn(type);
        if (!TakeToken())
        {
            rt.Metrics.RateLimited();
            if (Abused()) RequestClose(WebSocketCloseStatus.PolicyViolation, "policy", "Rate limit exceeded repeatedly.", drain: true);
            else Send(new ErrFrame("rate_limited", f?.Ref, $"At most {rt.Options.RatePerSecond} frames per second (burst {rt.Options.RateBurst})."));
            return;
        }
        if (f is null)
        {
            HandleInvalid(null, "A frame is a JSON object with a string field t.");
            return;
        }
        try
        {
            switch (type)
            {
                case "ping": Send(new PongFrame(f.Ts)); break;
                case "send": await HandleSendAsync(f); break;
                case "sub": await HandleSubAsync(f); break;
                case "unsub": HandleUnsub(f); break;
                case "stop": HandleStop(f); break;
                default: HandleInvalid(f.Ref, f.T is null ? "Field t is required." : "Unknown frame type."); break;
            }
        }
        catch (Exception e) when (HttpBasics.IsUnavailable(e))
        {
            Send(new ErrFrame("unavailable", f.Ref, "A dependency is unavailable; retry shortly.", f.Cid));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogFrameFailed(rt.Log, type, e.GetType().Name, e);
            Send(new ErrFrame("internal", f.Ref, "Unexpected error.", f.Cid));
        }
    }

    private void HandleInvalid(string? reference, string message)
    {
        Send(new ErrFrame("bad_frame", reference, message));
    }

    private async Task HandleSendAsync(ClientFrame f)
    {
        if (f.Cid is not { } cid || string.IsNullOrEmpty(f.Ref) || f.Text is null)
        {
            HandleInvalid(f.Ref, "send needs cid, ref and text.");
            return;
        }
        if (SendValidation.Check(f.Text, f.Ref, rt.Messaging) is { } problem)
        {
            Send(new ErrFrame(problem.Code, f.Ref, problem.Message, cid));
            return;
        }
        // Acked only after the commit; an outage is answered with err unavailable, never an ack.
        var outcome = await rt.Messages.SendUserMessageAsync(UserId, cid, f.Text, f.Ref, CancellationToken.None);
        if (!outcome.Found) Send(new ErrFrame("not_found", f.Ref, "No such conversation.", cid));
        else Send(new AckFrame(f.Ref, outcome.Message!.Id, outcome.Message.Seq));
    }

    /// <summary>
    /// Gap-free resume (issue 3, item 8): follow first (live events are buffered), then read the
    /// stored messages after <c>afterSeq</c>, send them, and release the buffer skipping any msg
    /// the replay already carried. Whatever commits during the read is either in the read or in
    /// the buffer (it is published after its commit), so nothing falls in between.
    /// </summary>
    private async Task HandleSubAsync(ClientFrame f)
    {
        if (f.Cid is not { } cid)
        {
            HandleInvalid(f.Ref, "sub needs cid.");
            return;
        }
        if (TakeSubscription(cid) is { } previous) rt.Hub.Remove(previous);
        if ((sub is null ? 0 : 1) + (subs?.Count ?? 0) >= rt.Options.MaxSubscriptionsPerConnection)
        {
            Send(new ErrFrame("too_many_subscriptions", f.Ref, $"At most {rt.Options.MaxSubscriptionsPerConnection} conversations per connection.", cid));
            return;
        }
        // cid = the user's own id follows the account topic (shortlist frames; docs/protocol.md): nothing stored to replay.
        var own = cid == UserId;
        var owner = own ? UserId : await rt.History.FindReadableOwnerAsync(UserId, cid, CancellationToken.None);
        if (owner is null)
        {
            Send(new ErrFrame("not_found", f.Ref, "No such conversation.", cid));
            return;
        }

        var s = new HubSubscription(this, cid);
        await rt.Hub.AddAsync(s);
        if (sub is null) sub = s;
        else (subs ??= [])[cid] = s;
        long? lastSeq = null;
        var replayed = 0;
        var complete = true;
        if (f.AfterSeq is { } after && !own)
        {
            List<Message> stored;
            try
            {
                stored = await rt.History.MessagesAfterAsync(owner.Value, cid, after, rt.Options.ReplayLimit + 1, CancellationToken.None);
            }
            catch
            {
                TakeSubscription(cid);
                rt.Hub.Remove(s);
                throw;
            }
            complete = stored.Count <= rt.Options.ReplayLimit;
            replayed = Math.Min(stored.Count, rt.Options.ReplayLimit);
            lastSeq = after;
            for (var i = 0; i < replayed; i++)
            {
                Send(MsgFrame.From(stored[i]));
                lastSeq = stored[i].Seq;
            }
        }
        Send(new SubscribedFrame(cid, lastSeq, replayed, complete));
        // A complete replay read everything stored up to now: the hub expects lastSeq + 1 next.
        if (f.AfterSeq is not null && complete && lastSeq is > 0) s.KnownLastSeq = lastSeq.Value;
        await rt.Hub.GoLiveAsync(s, lastSeq ?? long.MinValue);
    }

    private void HandleUnsub(ClientFrame f)
    {
        if (f.Cid is not { } cid)
        {
            HandleInvalid(f.Ref, "unsub needs cid.");
            return;
        }
        if (TakeSubscription(cid) is { } s) rt.Hub.Remove(s);
    }

    private void HandleStop(ClientFrame f)
    {
        if (f.Cid is not { } cid)
        {
            HandleInvalid(f.Ref, "stop needs cid.");
            return;
        }
        // Only the owner's turns can be stopped: the assistant looks the turn up by (owner, conversation).
        rt.Assistant.Stop(UserId, cid);
    }

    private HubSubscription? TakeSubscription(Guid cid)
    {
        if (sub is { } one && one.ConversationId == cid)
        {
            sub = null;
            return one;
        }
        return subs is not null && subs.Remove(cid, out var s) ? s : null;
    }

    /// <summary>Token bucket (API.md: 10 frames/s, burst 20), refilled lazily on each frame: no timer.</summary>
    private bool TakeToken()
    {
        var now = Stopwatch.GetTimestamp();
        tokens = Math.Min(rt.Options.RateBurst, tokens + Stopwatch.GetElapsedTime(refilledAt, now).TotalSeconds * rt.Options.RatePerSecond);
        refilledAt = now;
        if (tokens < 1) return false;
        tokens -= 1;
        return true;
    }

    /// <summary>Refusals decay by one per second; sustained abuse crosses the threshold, a burst does not.</summary>
    private bool Abused()
    {
        var now = Stopwatch.GetTimestamp();
        abuse = Math.Max(0, abuse - Stopwatch.GetElapsedTime(abuseAt, now).TotalSeconds) + 1;
        abuseAt = now;
        return abuse > rt.Options.AbuseThreshold;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A realtime connection failed ({ExceptionType})")]
    private static partial void LogConnectionFailed(ILogger logger, string exceptionType, Exception e);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling a {FrameType} frame failed ({ExceptionType})")]
    private static partial void LogFrameFailed(ILogger logger, string frameType, string exceptionType, Exception e);
}
