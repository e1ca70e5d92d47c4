using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Conversations;

[Collection(AppCollection.Name)]
public sealed class OwnershipTests(AppFixture fx)
{
    [Fact]
    public async Task AnotherUsersConversationIsNotFoundOnEveryEndpoint()
    {
        using var owner = await fx.App.GuestAsync();
        using var stranger = await fx.App.GuestAsync();
        var cid = await owner.CreateConversationAsync("mine");
        (await owner.SendAsync(cid, "hello")).EnsureSuccessStatusCode();

        var list = await stranger.Http.GetFromJsonAsync<JsonElement>("/api/conversations?limit=100");
        Assert.DoesNotContain(list.GetProperty("items").EnumerateArray(), c => c.GetProperty("id").GetGuid() == cid);

        var attempts = new Func<Task<HttpResponseMessage>>[]
        {
            () => stranger.Http.GetAsync($"/api/conversations/{cid}"),
            () => stranger.Http.PatchAsJsonAsync($"/api/conversations/{cid}", new { title = "stolen" }),
            () => stranger.Http.DeleteAsync($"/api/conversations/{cid}"),
            () => stranger.Http.GetAsync($"/api/conversations/{cid}/messages"),
            () => stranger.Http.GetAsync($"/api/conversations/{cid}/messages?afterSeq=0"),
            () => stranger.SendAsync(cid, "intrusion"),
            () => stranger.Http.GetAsync($"/api/shared/{cid}"),
            () => stranger.Http.GetAsync($"/api/shared/{cid}/messages"),
        };
        foreach (var attempt in attempts)
        {
            var res = await attempt();
            Assert.Equal(HttpStatusCode.NotFound, res.StatusCode);
            var problem = await res.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("not_found", problem.GetProperty("code").GetString());
        }

        // Nothing the stranger did changed the owner's conversation.
        var mine = await owner.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}");
        Assert.Equal("mine", mine.GetProperty("title").GetString());
        Assert.Equal(1, mine.GetProperty("lastSeq").GetInt64());
    }

    [Fact]
    public async Task SharedConversationIsReadableButNotWritableByOthers()
    {
        using var owner = await fx.App.GuestAsync();
        using var reader = await fx.App.GuestAsync();
        var cid = await owner.CreateConversationAsync("public");
        (await owner.SendAsync(cid, "look at this")).EnsureSuccessStatusCode();
        (await owner.Http.PatchAsJsonAsync($"/api/conversations/{cid}", new { shared = true })).EnsureSuccessStatusCode();

        var shared = await reader.Http.GetFromJsonAsync<JsonElement>($"/api/shared/{cid}");
        Assert.True(shared.GetProperty("shared").GetBoolean());
        var messages = await reader.Http.GetFromJsonAsync<JsonElement>($"/api/shared/{cid}/messages");
        Assert.Equal("look at this", messages.GetProperty("items")[0].GetProperty("text").GetString());

        Assert.Equal(HttpStatusCode.NotFound, (await reader.SendAsync(cid, "graffiti")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await reader.Http.PatchAsJsonAsync($"/api/conversations/{cid}", new { title = "x" })).StatusCode);

        (await owner.Http.PatchAsJsonAsync($"/api/conversations/{cid}", new { shared = false })).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.NotFound, (await reader.Http.GetAsync($"/api/shared/{cid}")).StatusCode);
    }
}
