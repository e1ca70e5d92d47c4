using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace ShopGpt.Tests.Infrastructure;

/// <summary>
/// A real Redis Cluster of the test's own (RECIPES.md): 3 masters + 3 replicas, each a
/// redis-server child process on free loopback ports (client and cluster-bus port both free, so
/// nothing collides with other helpers' servers), joined with <c>redis-cli --cluster create
/// --cluster-replicas 1</c>. A short node timeout makes a killed master fail over in seconds.
/// </summary>
public sealed class PrivateRedisCluster : IAsyncDisposable
{
    private readonly string dir;
    private readonly List<(int Port, Process Process)> nodes = [];

    private PrivateRedisCluster(string dir) => this.dir = dir;

    /// <summary>Every node's endpoint, the way the server's <c>ConnectionStrings:Redis</c> takes them.</summary>
    public string ConnectionString => string.Join(',', nodes.Select(n => $"127.0.0.1:{n.Port}"));

    public static async Task<PrivateRedisCluster> StartAsync(int masters = 3, int replicasPerMaster = 1)
    {
        var cluster = new PrivateRedisCluster(Path.Combine(Path.GetTempPath(), $"shopgpt-rc-{Guid.NewGuid():N}"));
        try
        {
            for (var i = 0; i < masters * (1 + replicasPerMaster); i++) await cluster.StartNodeAsync();
            var create = new List<string> { "--cluster", "create" };
            create.AddRange(cluster.nodes.Select(n => $"127.0.0.1:{n.Port}"));
            create.AddRange(["--cluster-replicas", replicasPerMaster.ToString(CultureInfo.InvariantCulture), "--cluster-yes"]);
            await RunAsync("redis-cli", [.. create]);
            await cluster.UntilAsync(cluster.AllAgreeAsync, "the cluster did not reach cluster_state:ok on every node");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The port of the master that currently serves <paramref name="key"/>'s slot.</summary>
    public async Task<int> MasterPortOfAsync(RedisKey key)
    {
        await using var mux = await ConnectAsync();
        var slot = mux.HashSlot(key);
        return mux.GetServer(mux.GetEndPoints()[0]).ClusterNodes()!.GetBySlot(slot)!.EndPoint switch
        {
            System.Net.IPEndPoint ip => ip.Port,
            System.Net.DnsEndPoint dns => dns.Port,
            var other => throw new InvalidOperationException($"unexpected endpoint {other}"),
        };
    }

    /// <summary>SIGKILL of one node (no shutdown, no last words): its replica must take over.</summary>
    public async Task KillAsync(int port)
    {
        var node = nodes.Single(n => n.Port == port);
        node.Process.Kill();
        await node.Process.WaitForExitAsync();
    }

    /// <summary>
    /// Waits until a surviving node has marked the killed master failed and the cluster is whole
    /// again (its replica promoted: every slot served by a live master).
    /// </summary>
    public Task FailedOverAsync(int deadPort) => UntilAsync(async () =>
    {
        var live = nodes.First(n => !n.Process.HasExited).Port;
        var table = await CliAsync(live, "cluster", "nodes");
        var dead = table.Split('\n').FirstOrDefault(l => l.Contains($"127.0.0.1:{deadPort}@", StringComparison.Ordinal));
        if (dead is null || !dead.Split(' ')[2].Split(',').Contains("fail")) return false;
        return (await CliAsync(live, "cluster", "info")).Contains("cluster_state:ok", StringComparison.Ordinal);
    }, "the cluster did not fail over");

    // Admin mode: CLUSTER NODES (who serves a slot) is an admin command for the client library.
    public async Task<IConnectionMultiplexer> ConnectAsync()
    {
        var options = ConfigurationOptions.Parse(ConnectionString);
        options.AllowAdmin = true;
        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, p) in nodes)
        {
            if (!p.HasExited)
            {
                p.Kill();
                await p.WaitForExitAsync();
            }
            p.Dispose();
        }
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private async Task StartNodeAsync()
    {
        var port = PrivatePostgres.FreePort();
        var busPort = PrivatePostgres.FreePort();
        var nodeDir = Path.Combine(dir, port.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(nodeDir);
        var p = Process.Start(new ProcessStartInfo("/usr/bin/redis-server",
        [
            "--port", port.ToString(CultureInfo.InvariantCulture), "--cluster-port", busPort.ToString(CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", Path.Combine(nodeDir, "nodes.conf"),
            // Validity factor 0: a replica that had not finished its first sync when its master died
            // (a loaded CI box) would otherwise refuse to fail over ("disconnected for too long").
            "--cluster-node-timeout", "1500", "--cluster-replica-validity-factor", "0", "--dir", nodeDir, "--save", "", "--appendonly", "no", "--logfile", Path.Combine(nodeDir, "redis.log"),
        ])
        {
            UseShellExecute = false,
        })!;
        nodes.Add((port, p));
        await UntilAsync(async () => p.HasExited ? throw new InvalidOperationException($"redis-server on {port} exited") : (await CliAsync(port, "ping")).Contains("PONG", StringComparison.Ordinal),
            $"redis-server on {port} did not start");
    }

    private async Task<bool> AllAgreeAsync()
    {
        foreach (var (port, _) in nodes)
        {
            var info = await CliAsync(port, "cluster", "info");
            if (!info.Contains("cluster_state:ok", StringComparison.Ordinal) || !info.Contains("cluster_slots_ok:16384", StringComparison.Ordinal)) return false;
        }
        return true;
    }

    private async Task UntilAsync(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(failure);
            await Task.Delay(50);
        }
    }

    private static async Task<string> CliAsync(int port, params string[] args)
    {
        try
        {
            return await RunAsync("redis-cli", ["-p", port.ToString(CultureInfo.InvariantCulture), .. args]);
        }
        catch (InvalidOperationException)
        {
            return "";
        }
    }

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {await stderr}{stdout}");
        return stdout;
    }
}
