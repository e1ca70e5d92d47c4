using System.Diagnostics;
using System.Globalization;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Analytics;

/// <summary>
/// A real 3-server JetStream cluster (Debian's nats-server, RECIPES.md) on free loopback ports,
/// storage under /tmp; one server can be SIGKILLed mid-test.
/// </summary>
public sealed class NatsCluster : IAsyncLifetime
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), $"shopgpt-nats-{Guid.NewGuid():N}");
    private readonly List<Process> servers = [];

    public int[] ClientPorts { get; } = new int[3];

    public string Urls => string.Join(',', ClientPorts.Select(p => $"nats://127.0.0.1:{p}"));

    public async Task InitializeAsync()
    {
        var routes = new int[3];
        for (var i = 0; i < 3; i++) (ClientPorts[i], routes[i]) = (PrivatePostgres.FreePort(), PrivatePostgres.FreePort());
        for (var i = 0; i < 3; i++)
        {
            var store = Path.Combine(dir, $"n{i}");
            Directory.CreateDirectory(store);
            var others = string.Join(", ", Enumerable.Range(0, 3).Where(j => j != i).Select(j => $"nats-route://127.0.0.1:{routes[j]}"));
            var conf = Path.Combine(dir, $"n{i}.conf");
            await File.WriteAllTextAsync(conf, string.Create(CultureInfo.InvariantCulture, $$"""
                server_name: n{{i}}
                listen: 127.0.0.1:{{ClientPorts[i]}}
                jetstream { store_dir: "{{store}}" }
                cluster {
                  name: shopgpt-test
                  listen: 127.0.0.1:{{routes[i]}}
                  routes: [{{others}}]
                }
                """));
            var psi = new ProcessStartInfo("nats-server", ["-c", conf, "-l", Path.Combine(dir, $"n{i}.log")])
            {
                UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
            };
            servers.Add(Process.Start(psi)!);
        }

        // Ready when the cluster accepts a replicas-3 stream (meta leader elected, all peers known).
        await using var nats = new NatsConnection(new NatsOpts { Url = Urls, RetryOnInitialConnect = true });
        var js = new NatsJSContext(nats);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await js.CreateOrUpdateStreamAsync(new StreamConfig("READY", ["ready.probe"]) { NumReplicas = 3 }, cts.Token);
                await js.DeleteStreamAsync("READY", cts.Token);
                return;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>SIGKILL one server (no clean shutdown, like a crashed machine).</summary>
    public async Task KillAsync(int index)
    {
        servers[index].Kill();
        await servers[index].WaitForExitAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var p in servers)
        {
            if (!p.HasExited)
            {
                p.Kill();
                await p.WaitForExitAsync();
            }
            p.Dispose();
        }
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { /* a server still flushing; /tmp is cleaned anyway */ }
    }
}

[CollectionDefinition(Name)]
public sealed class NatsCollection : ICollectionFixture<NatsCluster>
{
    public const string Name = "nats";
}
