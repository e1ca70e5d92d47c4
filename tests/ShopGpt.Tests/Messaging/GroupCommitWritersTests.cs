using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Messaging;

public sealed class GroupCommitWritersTests
{
    [Fact]
    public async Task SeveralWriterLoopsKeepEveryConversationGapFreeAndInSendOrder()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Messaging:Writers"] = "4" });
        using var user = await app.GuestAsync();
        var conversations = new List<Guid>();
        for (var i = 0; i < 12; i++) conversations.Add(await user.CreateConversationAsync());

        // Per conversation: 10 sends one after another (order must hold) and 20 at once (no gaps),
        // all conversations at the same time so the writer loops commit concurrently.
        await Task.WhenAll(conversations.Select(async cid =>
        {
            for (var i = 1; i <= 10; i++)
            {
                var res = await user.SendAsync(cid, $"ordered {i}", $"o{i}");
                Assert.Equal(HttpStatusCode.Created, res.StatusCode);
                Assert.Equal(i, (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("seq").GetInt64());
            }
            var burst = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => user.SendAsync(cid, $"burst {i}", $"b{i}")));
            Assert.All(burst, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        }));

        foreach (var cid in conversations)
        {
            var stored = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages?afterSeq=0&limit=500");
            var items = stored.GetProperty("items").EnumerateArray().ToList();
            Assert.Equal(Enumerable.Range(1, 30).Select(i => (long)i), items.Select(m => m.GetProperty("seq").GetInt64()));
            Assert.Equal(Enumerable.Range(1, 10).Select(i => $"ordered {i}"), items.Take(10).Select(m => m.GetProperty("text").GetString()));
        }
    }
}
