using System.Collections.Concurrent;
using System.Net.WebSockets;
using Microsoft.Extensions.Options;

namespace ShopGpt.Server.Realtime;

/// <summary>The connections of this instance, for the shared sweeper, the lease heartbeat and shutdown.</summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<RealtimeConnection, byte> connections = new(ReferenceEqualityComparer.Instance);
    private readonly TaskCompletionSource empty = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool stopping;

    public int Count => connections.Count;

    /// <summary>False once shutdown began: new upgrades are refused so clients reconnect elsewhere.</summary>
    public bool Accepting => !stopping;

    public IEnumerable<RealtimeConnection> Connections => connections.Keys;

    public void Add(RealtimeConnection c) => connections.TryAdd(c, 0);

    public void Remove(RealtimeConnection c)
    {
        connections.TryRemove(c, out _);
        if (stopping && connections.IsEmpty) empty.TrySetResult();
    }

    /// <summary>
    /// One pass of the shared timer (instead of a timer per connection): close idle connections
    /// with 1001 and abort closes that hang (a peer that stopped reading cannot take a close frame).
    /// </summary>
    public void Sweep(RealtimeOptions o)
    {
        var now = Environment.TickCount64;
        var idleMs = o.IdleTimeoutSeconds * 1000L;
        var closeMs = (long)(o.CloseTimeoutSeconds * 1000);
        foreach (var c in connections.Keys)
        {
            var closingSince = c.CloseRequestedAt;
            if (closingSince != 0)
            {
                if (now - closingSince > closeMs) c.Abort();
            }
            else if (now - c.LastActivity > idleMs)
            {
                c.RequestClose(WebSocketCloseStatus.EndpointUnavailable, "idle", "Idle timeout.", drain: true);
            }
        }
    }

    /// <summary>Graceful shutdown: refuse new connections, close all with 1012 after draining, wait (bounded).</summary>
    public async Task CloseAllAsync(RealtimeOptions o, CancellationToken ct)
    {
        stopping = true;
        foreach (var c in connections.Keys)
            c.RequestClose((WebSocketCloseStatus)1012, "shutdown", "Server restarting; reconnect.", drain: true);
        if (connections.IsEmpty) return;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(o.DrainSeconds));
        try
        {
            await empty.Task.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            foreach (var c in connections.Keys) c.Abort();
        }
    }
}

/// <summary>
/// The realtime feature's one timer: sweeps connections, refreshes this instance's leases (its
/// heartbeat), expires in-memory tickets; and on shutdown closes every connection with 1012
/// before the server and the message batcher stop (StoppingAsync runs before any StopAsync).
/// </summary>
public sealed partial class RealtimeHousekeeping(
    ConnectionRegistry registry,
    ConnectionLimiter limiter,
    ITicketStore tickets,
    IOptions<RealtimeOptions> options,
    ILogger<RealtimeHousekeeping> log) : BackgroundService, IHostedLifecycleService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(o.SweepIntervalSeconds));
        var heartbeatMs = Math.Max(100, o.LeaseSeconds * 1000L / 3);
        var lastHeartbeat = Environment.TickCount64;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    registry.Sweep(o);
                    if (tickets is MemoryTicketStore memory) memory.Sweep();
                    if (Environment.TickCount64 - lastHeartbeat >= heartbeatMs)
                    {
                        lastHeartbeat = Environment.TickCount64;
                        await limiter.RefreshAsync(registry.Connections.Select(c => c.Lease).ToList());
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogSweepFailed(log, e.GetType().Name, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => registry.CloseAllAsync(options.Value, cancellationToken);

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Error, Message = "Realtime housekeeping failed ({ExceptionType})")]
    private static partial void LogSweepFailed(ILogger logger, string exceptionType, Exception e);
}
