using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Conversations;

[Collection(AppCollection.Name)]
public sealed class ConversationListTests(AppFixture fx)
{
    [Fact]
    public async Task WalkingAThousandConversationsReturnsEachUnchangedOneExactlyOnceWhileOthersChange()
    {
        using var user = await fx.App.GuestAsync();
        var before = new List<Guid>();
        var gate = new SemaphoreSlim(16);
        var created = await Task.WhenAll(Enumerable.Range(0, 1000).Select(async i =>
        {
            await gate.WaitAsync();
            try { return await user.CreateConversationAsync($"c{i}"); }
            finally { gate.Release(); }
        }));
        before.AddRange(created);

        var changed = new HashSet<Guid>();
        var seen = new List<Guid>();
        var rng = new Random(42);
        string? cursor = null;
        (DateTimeOffset At, Guid Id)? last = null;
        var pages = 0;
        do
        {
            var page = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations?limit=20{(cursor is null ? "" : $"&cursor={cursor}")}");
            foreach (var item in page.GetProperty("items").EnumerateArray())
            {
                var id = item.GetProperty("id").GetGuid();
                var at = item.GetProperty("updatedAt").GetDateTimeOffset();
                // Strictly descending by (updatedAt, id): the documented ordering rule.
                if (last is { } l) Assert.True(at < l.At || (at == l.At && id.CompareTo(l.Id) < 0), "page order broken");
                last = (at, id);
                seen.Add(id);
            }
            cursor = page.GetProperty("nextCursor").GetString();
            pages++;

            // Meanwhile: new conversations appear and existing ones (seen or not yet seen) get messages.
            await user.CreateConversationAsync("during walk");
            var touched = before[rng.Next(before.Count)];
            changed.Add(touched);
            (await user.SendAsync(touched, "bump")).EnsureSuccessStatusCode();
        }
        while (cursor is not null);

        Assert.Equal(seen.Count, seen.Distinct().Count());
        foreach (var id in before.Where(id => !changed.Contains(id))) Assert.Contains(id, seen);
        Assert.True(pages >= 40, $"expected at least 40 pages, got {pages}");
    }

    [Fact]
    public async Task ListCarriesTheLastMessageAndArchivedConversationsAreListedSeparately()
    {
        using var user = await fx.App.GuestAsync();
        var a = await user.CreateConversationAsync("a");
        var b = await user.CreateConversationAsync("b");
        (await user.SendAsync(a, "first")).EnsureSuccessStatusCode();
        (await user.SendAsync(a, "second")).EnsureSuccessStatusCode();
        (await user.Http.PatchAsJsonAsync($"/api/conversations/{b}", new { archived = true, pinned = true })).EnsureSuccessStatusCode();

        var page = await user.Http.GetFromJsonAsync<JsonElement>("/api/conversations");
        var items = page.GetProperty("items").EnumerateArray().ToList();
        Assert.Single(items);
        Assert.Equal("second", items[0].GetProperty("lastMessage").GetProperty("text").GetString());
        Assert.Equal(JsonValueKind.Null, page.GetProperty("nextCursor").ValueKind);

        var archived = await user.Http.GetFromJsonAsync<JsonElement>("/api/conversations?archived=true");
        var arch = Assert.Single(archived.GetProperty("items").EnumerateArray());
        Assert.Equal(b, arch.GetProperty("id").GetGuid());
        Assert.True(arch.GetProperty("pinned").GetBoolean());
        Assert.Equal(JsonValueKind.Null, arch.GetProperty("lastMessage").ValueKind);
    }

    [Fact]
    public async Task DeletedConversationIsGoneWithItsMessages()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        (await user.SendAsync(cid, "bye")).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.NoContent, (await user.Http.DeleteAsync($"/api/conversations/{cid}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await user.Http.GetAsync($"/api/conversations/{cid}/messages")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await user.Http.DeleteAsync($"/api/conversations/{cid}")).StatusCode);
    }
}
