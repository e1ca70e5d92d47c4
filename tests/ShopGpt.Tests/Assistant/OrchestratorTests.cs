using Microsoft.Extensions.AI;
using ShopGpt.Server.Assistant;
using ShopGpt.Server.Messaging;
using ShopGpt.Tests.Catalog;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Assistant;

/// <summary>The orchestrator with a scripted provider: stop, provider errors, disconnects, a full queue.</summary>
// In the catalog collection without taking the fixture: xunit seeds the catalog (CatalogFixture)
// before any test here starts its own instance, which then finds the products already imported.
[Collection(CatalogCollection.Name)]
public sealed class OrchestratorTests
{
    private async Task<(TestApp App, ScriptedChatClient Chat, RecordingEvents Events)> StartAsync(params (string, string?)[] settings)
    {
        var chat = new ScriptedChatClient();
        var events = new RecordingEvents();
        var app = await TestApp.StartAsync(CatalogFixture.Settings(settings), s =>
        {
            s.AddSingleton<IChatClient>(chat);
            s.AddSingleton<IConversationEvents>(events);
        });
        return (app, chat, events);
    }

    private static async Task<Guid> SendAsync(TestUser user, Guid cid, string text)
    {
        var res = await user.SendAsync(cid, text);
        Assert.Equal(HttpStatusCode.Created, res.StatusCode);
        return (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
    }

    private static async Task<JsonElement> StoredAnswerAsync(TestUser user, Guid cid)
    {
        var page = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages?afterSeq=1");
        return Assert.Single(page.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task StopStoresThePartialAnswerAsStopped()
    {
        var (app, chat, events) = await StartAsync();
        await using var _ = app;
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var script = chat.Next();
        var userMessageId = await SendAsync(user, cid, "iphone case");
        script.Say("Here are ");
        script.Say("some cases");
        await events.WaitAsync<AssistantDelta>(d => d.ConversationId == cid && d.Text == "some cases");

        Assert.True(app.Services.GetRequiredService<IAssistantTurns>().Stop(user.Id, cid));
        await script.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var done = await events.DoneAsync(cid);

        Assert.Equal("stopped", done.Status);
        var stored = await StoredAnswerAsync(user, cid);
        Assert.Equal("Here are some cases", stored.GetProperty("text").GetString());
        Assert.Equal("stopped", stored.GetProperty("status").GetString());
        Assert.Equal(done.MessageId, stored.GetProperty("id").GetGuid());
        Assert.Equal("assistant:" + userMessageId, stored.GetProperty("clientId").GetString());
        Assert.False(app.Services.GetRequiredService<IAssistantTurns>().Stop(user.Id, cid));
    }

    [Fact]
    public async Task AProviderErrorIsStoredAsFailedAndTheShopperIsTold()
    {
        var (app, chat, events) = await StartAsync();
        await using var _ = app;
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var script = chat.Next();
        await SendAsync(user, cid, "charger");
        script.Say("Partial ");
        script.Fail(new HttpRequestException("upstream 500"));

        var done = await events.DoneAsync(cid);
        Assert.Equal("failed", done.Status);
        var msg = Assert.Single(events.For(cid).OfType<MessageStored>(), m => m.Message.Role == "assistant");
        Assert.Equal(AssistantOrchestrator.FailedText, msg.Message.Text);
        var stored = await StoredAnswerAsync(user, cid);
        Assert.Equal("failed", stored.GetProperty("status").GetString());
        Assert.Equal(AssistantOrchestrator.FailedText, stored.GetProperty("text").GetString());
    }

    [Fact]
    public async Task TheAnswerIsFinishedAndStoredAfterTheShopperDisconnectsAndIsThereOnResume()
    {
        var (app, chat, events) = await StartAsync();
        await using var _ = app;
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var script = chat.Next();
        using (var shortLived = app.Client(user.Token))
        {
            var res = await shortLived.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { text = "screen protector", clientId = "c1" });
            Assert.Equal(HttpStatusCode.Created, res.StatusCode);
            script.Say("Try the ");
            await events.WaitAsync<AssistantDelta>(d => d.ConversationId == cid);
        }
        // The shopper is gone; the provider carries on.
        script.Say("ZAGG glass.");
        script.End();
        var done = await events.DoneAsync(cid);
        Assert.Equal("complete", done.Status);

        using var resumed = app.Client(user.Token);
        var page = await resumed.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages?afterSeq=1");
        var answer = Assert.Single(page.GetProperty("items").EnumerateArray());
        Assert.Equal("Try the ZAGG glass.", answer.GetProperty("text").GetString());
        Assert.Equal("complete", answer.GetProperty("status").GetString());
        Assert.Equal(done.MessageId, answer.GetProperty("id").GetGuid());
        Assert.All(events.For(cid).OfType<AssistantDelta>(), d => Assert.Equal(done.MessageId, d.MessageId));
        // The provider saw the system prompt and the retrieved products as grounding.
        var messages = await script.Started.Task;
        Assert.Equal(AssistantPrompt.System, messages[0].Text);
        Assert.Contains(messages, m => m.Text.Contains("Catalog results", StringComparison.Ordinal) && m.Text.Contains("\"id\":\"bb-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WhenTheQueueIsFullATurnIsRefusedAndTheShopperIsTold()
    {
        var (app, chat, events) = await StartAsync(("Assistant:MaxConcurrentTurns", "1"), ("Assistant:QueueCapacity", "1"));
        await using var _ = app;
        using var user = await app.GuestAsync();
        var running = chat.Next();
        var queued = chat.Next();
        var a = await user.CreateConversationAsync();
        var b = await user.CreateConversationAsync();
        var c = await user.CreateConversationAsync();
        await SendAsync(user, a, "case");
        await running.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await SendAsync(user, b, "charger");
        await SendAsync(user, c, "headphones");

        var refused = await events.DoneAsync(c);
        Assert.Equal("failed", refused.Status);
        Assert.Equal(AssistantOrchestrator.BusyText, (await StoredAnswerAsync(user, c)).GetProperty("text").GetString());

        running.Say("A.");
        running.End();
        queued.Say("B.");
        queued.End();
        Assert.Equal("complete", (await events.DoneAsync(a)).Status);
        Assert.Equal("complete", (await events.DoneAsync(b)).Status);
        Assert.Equal("B.", (await StoredAnswerAsync(user, b)).GetProperty("text").GetString());
    }

    [Fact]
    public async Task AStopReceivedByAnotherInstanceStopsTheTurnWhereItRuns()
    {
        var (a, chat, events) = await StartAsync();
        await using var _a = a;
        var (b, _, _) = await StartAsync();
        await using var _b = b;
        using var user = await a.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var script = chat.Next();
        await SendAsync(user, cid, "usb cable");
        script.Say("Partial on A");
        await events.WaitAsync<AssistantDelta>(d => d.ConversationId == cid);

        Assert.False(b.Services.GetRequiredService<IAssistantTurns>().Stop(user.Id, cid)); // not running on B: broadcast
        await script.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var done = await events.DoneAsync(cid);
        Assert.Equal("stopped", done.Status);
        Assert.Equal("Partial on A", (await StoredAnswerAsync(user, cid)).GetProperty("text").GetString());
    }
}
