using System.Net;
using System.Net.Sockets;

namespace ShopGpt.Tests.Realtime;

/// <summary>
/// A loopback TCP relay in front of a real server. <see cref="Cut"/> plays an outage: new
/// connections are refused and open ones are reset, as when the database host goes away.
/// </summary>
public sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> open = [];
    private readonly CancellationTokenSource stop = new();
    private readonly Task accepting;

    private TcpRelay(string host, int port)
    {
        listener.Start();
        accepting = AcceptAsync(host, port);
    }

    public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

    public static TcpRelay Start(string host, int port) => new(host, port);

    public void Cut()
    {
        stop.Cancel();
        listener.Stop();
        lock (open)
        {
            foreach (var s in open)
            {
                s.LingerState = new LingerOption(true, 0); // RST, not a polite FIN
                s.Close();
            }
            open.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!stop.IsCancellationRequested) Cut();
        try
        {
            await accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        stop.Dispose();
    }

    private async Task AcceptAsync(string host, int port)
    {
        while (!stop.IsCancellationRequested)
        {
            var inbound = await listener.AcceptSocketAsync(stop.Token);
            var outbound = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await outbound.ConnectAsync(host, port, stop.Token);
            lock (open)
            {
                open.Add(inbound);
                open.Add(outbound);
            }
            _ = PumpAsync(inbound, outbound);
            _ = PumpAsync(outbound, inbound);
        }
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0) break;
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
