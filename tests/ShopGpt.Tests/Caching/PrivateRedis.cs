using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace ShopGpt.Tests.Caching;

/// <summary>A redis-server of the test's own on a free port, so it can be killed and restarted without touching the shared one.</summary>
public sealed class PrivateRedis : IAsyncDisposable
{
    private Process? process;

    private PrivateRedis(int port) => Port = port;

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<PrivateRedis> StartAsync()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var r = new PrivateRedis(port);
        await r.RestartAsync();
        return r;
    }

    public async Task RestartAsync()
    {
        process = Process.Start(new ProcessStartInfo("/usr/bin/redis-server",
            ["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        // Ready when it logs that it accepts connections (no event to await other than its output).
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.Contains("Ready to accept connections", StringComparison.Ordinal)) break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("redis-server did not start");
        }
        // Keep draining its output so it never blocks on a full pipe.
        _ = Task.Run(async () =>
        {
            try { while (await process.StandardOutput.ReadLineAsync() is not null) { } } catch (InvalidOperationException) { }
        });
    }

    /// <summary>Freezes the server (SIGSTOP): connections stay open but nothing answers, like a network partition.</summary>
    public Task PauseAsync() => SignalAsync("-STOP");

    public Task ResumeAsync() => SignalAsync("-CONT");

    private async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("/bin/kill", [signal, process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    public async Task KillAsync()
    {
        if (process is null) return;
        process.Kill();
        await process.WaitForExitAsync();
        process.Dispose();
        process = null;
    }

    public async Task<IConnectionMultiplexer> ConnectAsync() =>
        await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { ConnectionString }, AbortOnConnectFail = false });

    public async ValueTask DisposeAsync() => await KillAsync();
}
