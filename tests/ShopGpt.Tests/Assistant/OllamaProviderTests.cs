using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using ShopGpt.Server.Assistant;
using ShopGpt.Server.Messaging;
using ShopGpt.Tests.Catalog;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Assistant;

/// <summary>The <c>ollama</c> provider (OllamaSharp) against a fake Ollama server streaming NDJSON from /api/chat.</summary>
// In the catalog collection without taking the fixture: xunit seeds the catalog (CatalogFixture)
// before any test here starts its own instance, which then finds the products already imported.
[Collection(CatalogCollection.Name)]
public sealed class OllamaProviderTests
{
    [Fact]
    public async Task OllamaProviderStreamsNdjsonChunksIntoAStoredAnswer()
    {
        var requests = new ConcurrentQueue<JsonElement>();
        var fake = WebApplication.CreateSlimBuilder();
        fake.WebHost.UseUrls("http://127.0.0.1:0");
        var server = fake.Build();
        server.MapPost("/api/chat", async (HttpContext ctx) =>
        {
            requests.Enqueue(await JsonSerializer.DeserializeAsync<JsonElement>(ctx.Request.Body));
            ctx.Response.ContentType = "application/x-ndjson";
            foreach (var piece in new[] { "Have a look ", "at these ", "cases." })
            {
                await ctx.Response.WriteAsync(JsonSerializer.Serialize(new
                {
                    model = "fake",
                    created_at = "2026-01-01T00:00:00Z",
                    message = new { role = "assistant", content = piece },
                    done = false,
                }) + "\n");
                await ctx.Response.Body.FlushAsync();
            }
            await ctx.Response.WriteAsync("""{"model":"fake","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":1,"eval_count":3}""" + "\n");
        });
        await server.StartAsync();
        await using var _s = server;
        var endpoint = server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var events = new RecordingEvents();
        var app = await TestApp.StartAsync(
            CatalogFixture.Settings(("Assistant:Provider", "ollama"), ("Assistant:Endpoint", endpoint), ("Assistant:Model", "fake")),
            s => s.AddSingleton<IConversationEvents>(events));
        await using var _a = app;
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        (await user.SendAsync(cid, "phone case")).EnsureSuccessStatusCode();

        var done = await events.DoneAsync(cid);
        Assert.Equal("complete", done.Status);
        var stored = events.For(cid).OfType<MessageStored>().Single(m => m.Message.Role == "assistant").Message;
        Assert.Equal("Have a look at these cases.", stored.Text);
        Assert.Equal(["Have a look ", "at these ", "cases."], events.For(cid).OfType<AssistantDelta>().Select(d => d.Text));
        var request = Assert.Single(requests);
        Assert.Equal("fake", request.GetProperty("model").GetString());
        Assert.Contains(request.GetProperty("tools").EnumerateArray(), t => t.GetProperty("function").GetProperty("name").GetString() == AssistantPrompt.ToolName);
        Assert.Equal(AssistantPrompt.System, request.GetProperty("messages")[0].GetProperty("content").GetString());
    }
}
