using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ShopGpt.Tests.Infrastructure;

/// <summary>
/// A PostgreSQL cluster of the test's own (initdb under /tmp, a free port) that the test may
/// stop and start — fault tests never touch the shared test database server.
/// </summary>
public sealed class PrivatePostgres : IAsyncDisposable
{
    private const string Bin = "/usr/lib/postgresql/15/bin";
    private readonly string dir;

    private PrivatePostgres(string dir, int port)
    {
        this.dir = dir;
        Port = port;
    }

    public int Port { get; }

    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=shopgpt;Database=postgres";

    /// <summary>The server's log (what auto_explain and the server write).</summary>
    public string LogPath => Path.Combine(dir, "pg", "log.txt");

    public static async Task<PrivatePostgres> StartAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"shopgpt-pg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        await RunAsync("chmod", "755", dir);
        Directory.CreateDirectory(Path.Combine(dir, "pg"));
        await RunAsync("chown", "postgres", Path.Combine(dir, "pg"));
        await RunAsync("runuser", "-u", "postgres", "--", $"{Bin}/initdb", "-D", Path.Combine(dir, "pg"), "-U", "shopgpt", "--auth=trust");
        var pg = new PrivatePostgres(dir, FreePort());
        await pg.StartServerAsync();
        return pg;
    }

    /// <summary>
    /// A streaming standby of this server (pg_basebackup -R, RECIPES.md), started on a free port:
    /// a real hot standby that replays this primary's WAL.
    /// </summary>
    public async Task<PrivatePostgres> StartStandbyAsync()
    {
        var standbyDir = Path.Combine(Path.GetTempPath(), $"shopgpt-standby-{Guid.NewGuid():N}");
        Directory.CreateDirectory(standbyDir);
        await RunAsync("chmod", "755", standbyDir);
        var data = Path.Combine(standbyDir, "pg");
        Directory.CreateDirectory(data);
        await RunAsync("chown", "postgres", data);
        await RunAsync("chmod", "700", data);
        await RunAsync("runuser", "-u", "postgres", "--", $"{Bin}/pg_basebackup", "-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-U", "shopgpt", "-D", data, "-R", "-X", "stream");
        var standby = new PrivatePostgres(standbyDir, FreePort());
        await standby.StartServerAsync();
        return standby;
    }

    public Task StartServerAsync() => RunAsync("runuser", "-u", "postgres", "--", $"{Bin}/pg_ctl", "-D", Path.Combine(dir, "pg"), "-w", "-l", LogPath,
        "-o", $"-p {Port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off", "start");

    /// <summary>Stops the server abruptly (immediate mode: no clean shutdown, like a crash).</summary>
    public Task KillAsync() => RunAsync("runuser", "-u", "postgres", "--", $"{Bin}/pg_ctl", "-D", Path.Combine(dir, "pg"), "-m", "immediate", "-w", "stop");

    public async ValueTask DisposeAsync()
    {
        try { await RunAsync("runuser", "-u", "postgres", "--", $"{Bin}/pg_ctl", "-D", Path.Combine(dir, "pg"), "-m", "immediate", "-w", "stop"); }
        catch (InvalidOperationException) { /* already stopped */ }
        Directory.Delete(dir, recursive: true);
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {await stderr}");
    }
}
