using System.Diagnostics;
using System.Text;

namespace ShopGpt.Tests.Infrastructure;

/// <summary>
/// A server instance as a real child process (the built ShopGpt.Server.dll), for faults an
/// in-process instance cannot play: SIGKILL (no cleanup code runs at all) and SIGTERM (the
/// host's real shutdown path). Same test PostgreSQL and Redis as <see cref="TestApp"/>.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();

    private ServerProcess(Process process, Uri baseAddress)
    {
        this.process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int Id => process.Id;

    public bool HasExited => process.HasExited;

    /// <summary>The last lines the server wrote (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (output) return output.Length > 4000 ? output.ToString(output.Length - 4000, 4000) : output.ToString();
        }
    }

    /// <summary>Everything the server wrote to stdout and stderr so far.</summary>
    public string FullOutput
    {
        get
        {
            lock (output) return output.ToString();
        }
    }

    public static string ServerDll =>
        Environment.GetEnvironmentVariable("SHOPGPT_SERVER_DLL") is { Length: > 0 } dll
            ? dll
            : Path.Combine(Catalog.CatalogFixture.Root, "src", "ShopGpt.Server", "bin", "Release", "net10.0", "ShopGpt.Server.dll");

    /// <summary>Starts the server with the test settings (as environment variables, <c>Section__Key</c>) and waits for /healthz.</summary>
    public static async Task<ServerProcess> StartAsync(IDictionary<string, string?>? settings = null)
    {
        Assert.True(File.Exists(ServerDll), $"The server is not built at {ServerDll}");
        var port = PrivatePostgres.FreePort();
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Catalog.CatalogFixture.Root,
        };
        foreach (var a in new[] { ServerDll, "--urls", $"http://127.0.0.1:{port}", "--contentRoot", Path.Combine(Catalog.CatalogFixture.Root, "src", "ShopGpt.Server") })
            psi.ArgumentList.Add(a);
        // A child process has a smaller pool: several of them share the test database server.
        var env = TestApp.Settings(settings, maxPoolSize: 20);
        // A null setting removes the test default, so the server runs with its shipped appsettings.json value.
        foreach (var (k, v) in env)
        {
            var name = k.Replace(":", "__", StringComparison.Ordinal);
            if (v is null) psi.Environment.Remove(name);
            else psi.Environment[name] = v;
        }
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        var p = Process.Start(psi)!;
        var server = new ServerProcess(p, new Uri($"http://127.0.0.1:{port}"));
        p.OutputDataReceived += (_, e) => server.Append(e.Data);
        p.ErrorDataReceived += (_, e) => server.Append(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();

        // Ready when /healthz answers (no other event crosses the process boundary): poll with a deadline.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (p.HasExited) throw new InvalidOperationException($"The server exited with {p.ExitCode}: {server.Output}");
            try
            {
                if ((await http.GetAsync(new Uri(server.BaseAddress, "/healthz"))).IsSuccessStatusCode) return server;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                await server.DisposeAsync();
                throw new TimeoutException($"The server did not become healthy: {server.Output}");
            }
            await Task.Delay(100);
        }
    }

    public HttpClient Client(string? token = null)
    {
        var c = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null) c.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return c;
    }

    /// <summary>SIGKILL: the process dies at once, nothing of it runs (no close frames, no lease release).</summary>
    public async Task KillAsync()
    {
        process.Kill(entireProcessTree: false);
        await process.WaitForExitAsync();
    }

    /// <summary>SIGTERM: the host's graceful shutdown (what a orchestrator's stop or a rolling restart sends).</summary>
    public async Task TerminateAsync()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        await kill.WaitForExitAsync();
    }

    /// <summary>Waits for the process to end; its exit code.</summary>
    public async Task<int> ExitedAsync(TimeSpan timeout)
    {
        await process.WaitForExitAsync().WaitAsync(timeout);
        return process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (output) output.AppendLine(line);
    }
}
