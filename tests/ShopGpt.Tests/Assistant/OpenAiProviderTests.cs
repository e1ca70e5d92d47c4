using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using ShopGpt.Server.Assistant;
using ShopGpt.Server.Messaging;
using ShopGpt.Tests.Catalog;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Assistant;

/// <summary>
/// The <c>openai</c> provider against a tiny OpenAI-compatible server (Kestrel in the test):
/// the first completion streams a <c>search_products</c> tool call as SSE chunks, the second
/// (after the tool result) streams text. Proves the wire format end to end, tool loop included.
/// </summary>
// In the catalog collection without taking the fixture: xunit seeds the catalog (CatalogFixture)
// before any test here starts its own instance, which then finds the products already imported.
[Collection(CatalogCollection.Name)]
public sealed class OpenAiProviderTests
{
    private static string Chunk(string delta, string? finish = null) =>
        $$"""data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"fake-model","choices":[{"index":0,"delta":{{delta}},"finish_reason":{{(finish is null ? "null" : $"\"{finish}\"")}}}]}""" + "\n\n";

    [Fact]
    public async Task OpenAiProviderStreamsThroughAToolCallAgainstAFakeCompatibleServer()
    {
        var requests = new ConcurrentQueue<JsonElement>();
        var fake = WebApplication.CreateSlimBuilder();
        fake.WebHost.UseUrls("http://127.0.0.1:0");
        var server = fake.Build();
        server.MapPost("/v1/chat/completions", async (HttpContext ctx) =>
        {
            var body = await JsonSerializer.DeserializeAsync<JsonElement>(ctx.Request.Body);
            requests.Enqueue(body);
            ctx.Response.ContentType = "text/event-stream";
            var hasToolResult = body.GetProperty("messages").EnumerateArray().Any(m => m.GetProperty("role").GetString() == "tool");
            var chunks = hasToolResult
                ? new[]
                {
                    Chunk("""{"role":"assistant","content":""}"""),
                    Chunk("""{"content":"From the catalog: "}"""),
                    Chunk("""{"content":"OtterBox cases "}"""),
                    Chunk("""{"content":"look good."}"""),
                    Chunk("{}", "stop"),
                }
                : new[]
                {
                    Chunk("""{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"search_products","arguments":""}}]}"""),
                    Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"{\"query\":\"otterbox "}}]}"""),
                    Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"case\",\"maxPrice\":40}"}}]}"""),
                    Chunk("{}", "tool_calls"),
                };
            foreach (var c in chunks)
            {
                await ctx.Response.WriteAsync(c);
                await ctx.Response.Body.FlushAsync();
            }
            await ctx.Response.WriteAsync("data: [DONE]\n\n");
        });
        await server.StartAsync();
        await using var _s = server;
        var endpoint = server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1";

        var events = new RecordingEvents();
        var app = await TestApp.StartAsync(
            CatalogFixture.Settings(("Assistant:Provider", "openai"), ("Assistant:Endpoint", endpoint), ("Assistant:Model", "fake-model"), ("Assistant:ApiKey", "test-key")),
            s => s.AddSingleton<IConversationEvents>(events));
        await using var _a = app;
        using var user = await app.GuestAsync();
        var cid = await user.CreateConversationAsync();
        (await user.SendAsync(cid, "I want an otterbox case")).EnsureSuccessStatusCode();

        var done = await events.DoneAsync(cid);
        Assert.Equal("complete", done.Status);
        var deltas = events.For(cid).OfType<AssistantDelta>().Select(d => d.Text).ToList();
        Assert.Equal(["From the catalog: ", "OtterBox cases ", "look good."], deltas);
        var stored = events.For(cid).OfType<MessageStored>().Single(m => m.Message.Role == "assistant").Message;
        Assert.Equal("From the catalog: OtterBox cases look good.", stored.Text);
        // Products the tool found are attached to the answer, and they obey the tool's price filter.
        var products = stored.Products!.Value.EnumerateArray().ToList();
        Assert.Contains(products, p => p.GetProperty("brand").GetString() == "OtterBox" && p.GetProperty("price").GetDecimal() <= 40);

        Assert.Equal(2, requests.Count);
        var first = requests.First();
        Assert.True(first.GetProperty("stream").GetBoolean());
        Assert.Equal("fake-model", first.GetProperty("model").GetString());
        var tool = Assert.Single(first.GetProperty("tools").EnumerateArray());
        Assert.Equal(AssistantPrompt.ToolName, tool.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("system", first.GetProperty("messages")[0].GetProperty("role").GetString());
        var toolResult = requests.Last().GetProperty("messages").EnumerateArray().Single(m => m.GetProperty("role").GetString() == "tool");
        Assert.Equal("call_1", toolResult.GetProperty("tool_call_id").GetString());
        Assert.Contains("OtterBox", toolResult.GetProperty("content").ToString());
    }
}
