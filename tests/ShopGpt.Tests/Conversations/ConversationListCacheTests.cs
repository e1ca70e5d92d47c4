using Npgsql;
using ShopGpt.Tests.Caching;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Conversations;

[Collection(CacheInstancesCollection.Name)]
public sealed class ConversationListCacheTests
{
    private static async Task<JsonElement> FirstPageAsync(HttpClient client, string query = "")
    {
        var res = await client.GetAsync("/api/conversations" + query);
        res.EnsureSuccessStatusCode();
        return (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items");
    }

    /// <summary>Changes a title behind the cache's back, so only a cached read still shows the old one.</summary>
    private static async Task RetitleInDatabaseAsync(TestApp app, Guid id, string title)
    {
        await using var cmd = app.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand("update conversations set title = $1 where conversation_id = $2");
        cmd.Parameters.AddWithValue(title);
        cmd.Parameters.AddWithValue(id);
        Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
    }

    [Fact]
    public async Task FirstPageIsServedFromCacheAndEveryWriteInvalidatesIt()
    {
        await using var app = await TestApp.StartAsync();
        using var user = await app.GuestAsync();
        var first = await user.CreateConversationAsync("one");
        var second = await user.CreateConversationAsync("two");
        Assert.Equal("two", (await FirstPageAsync(user.Http))[0].GetProperty("title").GetString());

        // Cached: a change made directly in the database is not visible yet...
        await RetitleInDatabaseAsync(app, second, "changed behind the cache");
        Assert.Equal("two", (await FirstPageAsync(user.Http))[0].GetProperty("title").GetString());
        // ...and a smaller limit is a prefix of the same cached page, with a working cursor.
        var small = await user.Http.GetFromJsonAsync<JsonElement>("/api/conversations?limit=1");
        Assert.Equal(1, small.GetProperty("items").GetArrayLength());
        var next = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations?limit=1&cursor={small.GetProperty("nextCursor").GetString()}");
        Assert.Equal(first, next.GetProperty("items")[0].GetProperty("id").GetGuid());

        // A message sent (MessageService → MessageWriter → MessageBatcher, whose committed batch the list cache subscribes to) invalidates: the conversation moves up, with its last message.
        Assert.Equal(HttpStatusCode.Created, (await user.SendAsync(first, "hello list")).StatusCode);
        var afterSend = await FirstPageAsync(user.Http);
        Assert.Equal(first, afterSend[0].GetProperty("id").GetGuid());
        Assert.Equal("hello list", afterSend[0].GetProperty("lastMessage").GetProperty("text").GetString());
        Assert.Equal("changed behind the cache", afterSend[1].GetProperty("title").GetString());

        // Patch invalidates (archiving moves it to the archived list, which is cached separately).
        Assert.Equal("[]", (await FirstPageAsync(user.Http, "?archived=true")).GetRawText());
        Assert.Equal(HttpStatusCode.OK, (await user.Http.PatchAsJsonAsync($"/api/conversations/{first}", new { archived = true })).StatusCode);
        Assert.Equal(second, (await FirstPageAsync(user.Http))[0].GetProperty("id").GetGuid());
        Assert.Equal(first, (await FirstPageAsync(user.Http, "?archived=true"))[0].GetProperty("id").GetGuid());

        // Delete and create invalidate.
        Assert.Equal(HttpStatusCode.NoContent, (await user.Http.DeleteAsync($"/api/conversations/{second}")).StatusCode);
        Assert.Equal(0, (await FirstPageAsync(user.Http)).GetArrayLength());
        var third = await user.CreateConversationAsync("three");
        Assert.Equal(third, (await FirstPageAsync(user.Http))[0].GetProperty("id").GetGuid());
    }

    [Fact]
    public async Task AMessageToAnArchivedConversationReachesTheCachedArchivedFirstPageAndLeavesTheOtherListCached()
    {
        await using var app = await TestApp.StartAsync();
        using var user = await app.GuestAsync();
        var archived = await user.CreateConversationAsync("archived");
        var open = await user.CreateConversationAsync("open");
        Assert.Equal(HttpStatusCode.OK, (await user.Http.PatchAsJsonAsync($"/api/conversations/{archived}", new { archived = true })).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await user.SendAsync(archived, "first")).StatusCode);

        // Both first pages cached, then the open one changed behind the cache.
        var cached = await FirstPageAsync(user.Http, "?archived=true");
        Assert.Equal("first", cached[0].GetProperty("lastMessage").GetProperty("text").GetString());
        Assert.Equal("open", (await FirstPageAsync(user.Http))[0].GetProperty("title").GetString());
        await RetitleInDatabaseAsync(app, open, "changed behind the cache");

        // The stored message invalidates the archived list it is in...
        Assert.Equal(HttpStatusCode.Created, (await user.SendAsync(archived, "second")).StatusCode);
        var after = await FirstPageAsync(user.Http, "?archived=true");
        Assert.Equal(archived, after[0].GetProperty("id").GetGuid());
        Assert.Equal("second", after[0].GetProperty("lastMessage").GetProperty("text").GetString());
        // ...and only that one: the open list is still the cached page.
        Assert.Equal("open", (await FirstPageAsync(user.Http))[0].GetProperty("title").GetString());
    }

    [Fact]
    public async Task AWriteOnOneInstanceReachesTheOtherInstancesCachedList()
    {
        await using var a = await TestApp.StartAsync();
        await using var b = await TestApp.StartAsync();
        using var user = await a.GuestAsync();
        using var onB = b.Client(user.Token);
        var id = await user.CreateConversationAsync("before");
        Assert.Equal("before", (await FirstPageAsync(onB))[0].GetProperty("title").GetString());

        Assert.Equal(HttpStatusCode.OK, (await user.Http.PatchAsJsonAsync($"/api/conversations/{id}", new { title = "after" })).StatusCode);
        // L2 was cleared before the PATCH answered; B's L1 copy goes when the backplane message arrives.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await FirstPageAsync(onB))[0].GetProperty("title").GetString() != "after")
        {
            Assert.True(DateTime.UtcNow < deadline, "instance B kept serving the old list");
            await Task.Delay(50);
        }
    }
}
