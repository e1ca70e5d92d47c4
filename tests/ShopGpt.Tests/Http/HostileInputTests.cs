using System.Text;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Http;

[Collection(AppCollection.Name)]
public sealed class HostileInputTests(AppFixture fx)
{
    private static void Assert4xx(HttpResponseMessage res, string what) =>
        Assert.True((int)res.StatusCode is >= 400 and < 500, $"{what}: got {(int)res.StatusCode}");

    [Fact]
    public async Task SqlMetacharactersAreStoredVerbatimNotExecuted()
    {
        using var user = await fx.App.GuestAsync();
        const string evil = "Robert'); DROP TABLE messages;-- \" \\ % _ $1 ::text";
        var res = await user.Http.PostAsJsonAsync("/api/conversations", new { title = evil });
        Assert.Equal(HttpStatusCode.Created, res.StatusCode);
        var cid = (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        (await user.SendAsync(cid, evil, evil)).EnsureSuccessStatusCode();
        var page = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages");
        Assert.Equal(evil, page.GetProperty("items")[0].GetProperty("text").GetString());
        Assert.Equal(evil, page.GetProperty("items")[0].GetProperty("clientId").GetString());
    }

    [Fact]
    public async Task HostileBodiesAndParametersGetClear4xxNever500()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var nested = new string('[', 5000) + new string(']', 5000);
        var bodies = new (string What, HttpContent Content)[]
        {
            ("deeply nested", new StringContent(nested, Encoding.UTF8, "application/json")),
            ("deeply nested object", new StringContent("{\"text\":" + new string('{', 3000), Encoding.UTF8, "application/json")),
            ("invalid utf-8", new ByteArrayContent([0x7B, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0xFF, 0x22, 0x7D])),
            ("not json", new StringContent("text=hello", Encoding.UTF8, "application/x-www-form-urlencoded")),
            ("empty", new StringContent("", Encoding.UTF8, "application/json")),
            ("null", new StringContent("null", Encoding.UTF8, "application/json")),
            ("array", new StringContent("[1,2,3]", Encoding.UTF8, "application/json")),
        };
        foreach (var (what, content) in bodies)
        {
            if (content.Headers.ContentType is null) content.Headers.ContentType = new("application/json");
            Assert4xx(await user.Http.PostAsync($"/api/conversations/{cid}/messages", content), what);
        }
        // Over the 64 KiB body limit: exactly 413, whatever the JSON would have been.
        var oneMegabyte = new StringContent(new string(' ', 1024 * 1024) + "{}", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await user.Http.PostAsync($"/api/conversations/{cid}/messages", oneMegabyte)).StatusCode);
        foreach (var query in new[] { "limit=2147483648", "limit=-1", "limit=1e3", "limit=%00", "cursor=", "archived=maybe", "limit=" + new string('9', 500) })
            Assert4xx(await user.Http.GetAsync($"/api/conversations?{query}"), query);
        foreach (var query in new[] { "afterSeq=-1", "afterSeq=abc", "afterSeq=99999999999999999999", "before=xyz", "afterSeq=1&before=x", "afterSeq=0&limit=501" })
            Assert4xx(await user.Http.GetAsync($"/api/conversations/{cid}/messages?{query}"), query);
        foreach (var title in new[] { "bell\u0007", "nul\u0000", "esc\u001b[31m", new string('t', 201), "   " })
            Assert4xx(await user.Http.PatchAsJsonAsync($"/api/conversations/{cid}", new { title }), "title " + title.Length);

        // Still serving, and nothing was stored.
        var page = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages");
        Assert.Empty(page.GetProperty("items").EnumerateArray());
    }
}
