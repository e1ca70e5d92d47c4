using System.Collections.Concurrent;
using System.Net.WebSockets;
using ShopGpt.Tests.Catalog;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

/// <summary>
/// Graceful restart (issue 9): SIGTERM to a real child-process instance while answers stream
/// and sends arrive. Shares the catalog collection so the catalog is seeded before the child starts.
/// </summary>
[Collection(CatalogCollection.Name)]
public sealed class GracefulRestartTests(CatalogFixture catalog)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SigtermClosesWith1012StoresEveryAckedSendAndAnswersEveryStoredMessageAsStoppedOrComplete()
    {
        Assert.NotNull(catalog.App);   // seeded (the fixture's instance imported the catalog)
        await using var server = await ServerProcess.StartAsync(CatalogFixture.Settings(
            ("Assistant:CatalogChunkDelayMs", "250"),     // answers take seconds: they are in flight at the signal
            ("Realtime:RatePerSecond", "1000"),
            ("Realtime:RateBurst", "1000")));
        using var anon = server.Client();
        var guest = await (await anon.PostAsync("/api/auth/guest", null)).Content.ReadFromJsonAsync<JsonElement>();
        var token = guest.GetProperty("token").GetString()!;
        using var http = server.Client(token);
        var conversations = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            var res = await http.PostAsJsonAsync("/api/conversations", new { title = $"restart {i}" });
            conversations.Add((await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid());
        }

        await using var ws = await WsClient.ConnectAsync(server.BaseAddress, token);
        foreach (var cid in conversations) await ws.SubscribeAsync(cid);

        // One question per conversation, acked; wait until every answer is streaming.
        var acked = new ConcurrentDictionary<string, Guid>();
        var questions = new[] { "wireless headphones under $200", "samsung galaxy case", "cheapest usb-c charger", "laptop backpack" };
        for (var i = 0; i < conversations.Count; i++)
        {
            await ws.SendAsync(new { t = "send", cid = conversations[i], @ref = $"q{i}", text = questions[i] });
            await ws.AckAsync($"q{i}");
            acked[$"q{i}"] = conversations[i];
        }
        foreach (var cid in conversations)
            await ws.WaitForAsync(f => WsClient.Type(f) == "delta" && f.GetProperty("cid").GetGuid() == cid, Step);

        // REST sends keep arriving while the instance shuts down (the web server is the last to stop).
        using var stopSending = new CancellationTokenSource();
        var sender = Task.Run(async () =>
        {
            for (var n = 0; !stopSending.IsCancellationRequested; n++)
            {
                var reference = $"late-{n}";
                try
                {
                    var res = await http.PostAsJsonAsync($"/api/conversations/{conversations[n % conversations.Count]}/messages", new { text = "and in blue?", clientId = reference });
                    if (res.StatusCode == HttpStatusCode.Created) acked[reference] = conversations[n % conversations.Count];
                }
                catch (HttpRequestException)
                {
                    return;   // the instance is gone
                }
            }
        });
        await Task.WhenAny(sender, ws.WaitUntilAsync(() => acked.Count >= conversations.Count + 4, Step));

        await server.TerminateAsync();
        Assert.Equal((WebSocketCloseStatus)1012, await ws.ClosedAsync(Step));
        Assert.Equal(0, await server.ExitedAsync(Step));
        await stopSending.CancelAsync();
        await sender;

        // Acked sends are stored (the batcher was flushed); every stored question has exactly one
        // answer, and an answer cut by the shutdown is stored as stopped, never lost or left failed.
        var stored = await StoredMessages.CountByClientIdAsync(StoredMessages.Default, [.. conversations]);
        Assert.All(acked.Keys, r => Assert.True(stored.TryGetValue(r, out var n) && n == 1, $"acked {r} stored {stored.GetValueOrDefault(r)} times"));
        var userMessages = stored.Keys.Count(k => !k.StartsWith("assistant:", StringComparison.Ordinal));
        var answers = new List<string>();
        foreach (var cid in conversations) answers.AddRange(await StoredMessages.AssistantStatusesAsync(StoredMessages.Default, cid));
        Assert.Equal(userMessages, answers.Count);
        Assert.All(answers, s => Assert.Contains(s, new[] { "stopped", "complete" }));
        Assert.Contains("stopped", answers);   // the answers streaming at the signal were cut, and kept
        foreach (var cid in conversations)
        {
            var shape = await StoredMessages.SeqShapeAsync(StoredMessages.Default, cid);
            Assert.Equal((shape.Rows, 1L, shape.Rows), (shape.Distinct, shape.Min, shape.Max));
        }
    }
}
