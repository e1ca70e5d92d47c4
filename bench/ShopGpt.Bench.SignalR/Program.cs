using System.Globalization;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using ShopGpt.Bench;

// The peer of `./shopgpt bench fanout`: what a C# team would pick — a minimal ASP.NET Core
// SignalR hub with the Redis backplane, one group per conversation — and its followers.
// Kept out of ShopGpt.Bench so the product's bench tool takes no SignalR dependency.
//   server --port P --redis HOST:PORT
//   fanout --urls U1,U2 --pids P1,P2 --label L [--via hub|rest] [--conversations 300] [--followers 10] [--seconds 15] [--closed 32]
//   --via hub: a follower connection on instance c % 2 invokes the hub method Send (the path a
//   SignalR client uses; completes when the group send was handed to the backplane),
//   --via rest: POST /send/{group} on instance c % 2.
return args.FirstOrDefault() switch
{
    "server" => await PeerServer.RunAsync(args),
    "fanout" => await PeerFanout.RunAsync(args),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: ShopGpt.Bench.SignalR server --port P --redis HOST:PORT | fanout --urls U1,U2 --pids P1,P2 --label L");
    return 2;
}

/// <summary>Followers join a group; publishing goes through the hub context (like ShopGPT's REST send, but nothing is stored).</summary>
internal sealed class FanoutHub : Hub
{
    public Task Join(string group) => Groups.AddToGroupAsync(Context.ConnectionId, group);

    public Task Send(string group, string text) => Clients.Group(group).SendAsync("msg", text);
}

internal static class PeerServer
{
    public static async Task<int> RunAsync(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{FanoutCore.Get(args, "--port")}");
        builder.Services.AddSignalR().AddStackExchangeRedis(FanoutCore.Get(args, "--redis"), o => o.Configuration.ChannelPrefix = StackExchange.Redis.RedisChannel.Literal("fanout"));
        var app = builder.Build();
        app.MapGet("/healthz", () => "ok");
        app.MapHub<FanoutHub>("/hub");
        // POST /send/{group} with the text as the body: Clients.Group(group).SendAsync("msg", text).
        app.MapPost("/send/{group}", async (string group, HttpRequest req, IHubContext<FanoutHub> hub) =>
        {
            using var reader = new StreamReader(req.Body);
            var text = await reader.ReadToEndAsync();
            await hub.Clients.Group(group).SendAsync("msg", text);
            return Results.NoContent();
        });
        await app.RunAsync();
        return 0;
    }
}

internal static class PeerFanout
{
    public static async Task<int> RunAsync(string[] args)
    {
        var urls = FanoutCore.Get(args, "--urls").Split(',').Select(u => new Uri(u)).ToArray();
        if (urls.Any(u => !u.IsLoopback)) throw new ArgumentException("benchmarks only target loopback addresses");
        var pids = FanoutCore.Get(args, "--pids").Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        var label = FanoutCore.Get(args, "--label");
        var convs = int.Parse(FanoutCore.Get(args, "--conversations", "300"), CultureInfo.InvariantCulture);
        var followers = int.Parse(FanoutCore.Get(args, "--followers", "10"), CultureInfo.InvariantCulture);
        var seconds = int.Parse(FanoutCore.Get(args, "--seconds", "15"), CultureInfo.InvariantCulture);
        var closed = int.Parse(FanoutCore.Get(args, "--closed", "32"), CultureInfo.InvariantCulture);
        var via = FanoutCore.Get(args, "--via", "hub");
        var core = new FanoutCore(convs, followers, pids);

        var connections = new List<HubConnection>();
        var senders = new HubConnection?[convs];
        await core.ConnectAsync(urls.Length, async (c, inst) =>
        {
            var conn = new HubConnectionBuilder()
                .WithUrl(new Uri(urls[inst], "/hub"), o =>
                {
                    o.Transports = HttpTransportType.WebSockets;
                    o.SkipNegotiation = true;
                })
                .Build();
            conn.On<string>("msg", core.Delivered);
            await conn.StartAsync();
            await conn.InvokeAsync("Join", "c" + c.ToString(CultureInfo.InvariantCulture));
            lock (connections)
            {
                connections.Add(conn);
                if (inst == c % urls.Length) senders[c] ??= conn;
            }
        });

        var http = urls.Select(u => new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = u, Timeout = TimeSpan.FromSeconds(30) }).ToArray();
        Console.WriteLine(FanoutCore.Header);
        if (via == "hub")
        {
            await core.RunRowsAsync(label, TimeSpan.FromSeconds(seconds), closed, async (c, text) =>
            {
                if (senders[c] is not { } conn) return false;
                await conn.InvokeAsync("Send", "c" + c.ToString(CultureInfo.InvariantCulture), text);
                return true;
            });
        }
        else await core.RunRowsAsync(label, TimeSpan.FromSeconds(seconds), closed, async (c, text) =>
        {
            using var res = await http[c % http.Length].PostAsync($"/send/c{c.ToString(CultureInfo.InvariantCulture)}", new StringContent(text));
            return res.IsSuccessStatusCode;
        });
        await Task.WhenAll(connections.Select(c => c.DisposeAsync().AsTask()));
        return 0;
    }
}
