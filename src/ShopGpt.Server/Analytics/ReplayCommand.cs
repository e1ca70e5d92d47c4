using ShopGpt.Server.Data;

namespace ShopGpt.Server.Analytics;

/// <summary>Tool mode <c>analytics-replay [consumer...]</c> (./shopgpt analytics replay): the server's configuration, no web host.</summary>
public static class ReplayCommand
{
    public static async Task<int> RunAsync(string[] consumers)
    {
        var app = AppHost.Build(["--Analytics:Enabled=false"]);
        await app.Services.GetRequiredService<MigrationRunner>().RunAsync(CancellationToken.None);
        await using var log = app.Services.GetRequiredService<IEventLog>();
        await log.EnsureAsync(CancellationToken.None);
        return await app.Services.GetRequiredService<RollupReplay>().RunAsync(consumers, Console.Out, CancellationToken.None);
    }
}
