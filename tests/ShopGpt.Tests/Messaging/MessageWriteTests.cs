using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Messaging;

[Collection(AppCollection.Name)]
public sealed class MessageWriteTests(AppFixture fx)
{
    [Fact]
    public async Task TwoHundredConcurrentSendsGetSeqOneToTwoHundredWithoutGaps()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => user.SendAsync(cid, $"m{i}", $"ref-{i}")));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        var acked = new List<long>();
        foreach (var r in responses) acked.Add((await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("seq").GetInt64());
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), acked.Order());

        var stored = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages?afterSeq=0&limit=500");
        var seqs = stored.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), seqs);
    }

    [Fact]
    public async Task FiftyResendsOfOneClientIdStoreOneMessage()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => user.SendAsync(cid, "only once", "same-ref")));
        var bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadFromJsonAsync<JsonElement>()));
        Assert.Single(bodies.Select(b => b.GetProperty("id").GetGuid()).Distinct());
        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(49, responses.Count(r => r.StatusCode == HttpStatusCode.OK));

        var stored = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages");
        var only = Assert.Single(stored.GetProperty("items").EnumerateArray());
        Assert.Equal("same-ref", only.GetProperty("clientId").GetString());
        Assert.Equal(1, only.GetProperty("seq").GetInt64());
    }

    [Fact]
    public async Task MessagePagesWalkBackwardsWithCursorsAndForwardWithAfterSeq()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        for (var i = 1; i <= 25; i++) (await user.SendAsync(cid, $"m{i}", $"r{i}")).EnsureSuccessStatusCode();

        var seqs = new List<long>();
        string? cursor = null;
        do
        {
            var page = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages?limit=10{(cursor is null ? "" : $"&before={cursor}")}");
            seqs.AddRange(page.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("seq").GetInt64()));
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);
        Assert.Equal(Enumerable.Range(1, 25).Reverse().Select(i => (long)i), seqs);

        var after = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages?afterSeq=20");
        Assert.Equal([21L, 22, 23, 24, 25], after.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("seq").GetInt64()));
    }
}
