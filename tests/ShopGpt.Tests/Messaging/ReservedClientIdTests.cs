using ShopGpt.Tests.Infrastructure;
using ShopGpt.Tests.Realtime;

namespace ShopGpt.Tests.Messaging;

/// <summary>
/// Issue 15, finding 10: the assistant stores its answer under client id "assistant:&lt;user message
/// id&gt;"; a user who sent that id first made the answer a duplicate of its own send (never stored).
/// </summary>
[Collection(AppCollection.Name)]
public sealed class ReservedClientIdTests(AppFixture fixture)
{
    [Fact]
    public async Task AUserCannotSendUnderTheAssistantsClientIdOverRestOrWebSocket()
    {
        using var user = await fixture.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var first = await user.SendAsync(cid, "a case for my phone");
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var id = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();

        var rest = await user.SendAsync(cid, "hijack", clientId: $"assistant:{id}");
        Assert.Equal(HttpStatusCode.BadRequest, rest.StatusCode);
        Assert.Equal("bad_client_id", (await rest.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        await using var ws = await WsClient.ConnectAsync(fixture.App, user);
        await ws.WaitForTypeAsync("hello");
        await ws.SendAsync(new { t = "send", cid, @ref = $"assistant:{id}", text = "hijack" });
        var err = await ws.WaitForTypeAsync("err");
        Assert.Equal("bad_client_id", err.GetProperty("code").GetString());

        // Nothing was stored under the reserved id; an ordinary id that merely contains the word still works.
        var page = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages?limit=50");
        Assert.DoesNotContain(page.GetProperty("items").EnumerateArray(), m => m.GetProperty("text").GetString() == "hijack");
        Assert.Equal(HttpStatusCode.Created, (await user.SendAsync(cid, "fine", clientId: $"my-assistant:{id}")).StatusCode);
    }
}
