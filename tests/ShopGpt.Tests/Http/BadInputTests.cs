using System.Text;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Http;

[Collection(AppCollection.Name)]
public sealed class BadInputTests(AppFixture fx)
{
    private static async Task AssertProblem(HttpResponseMessage res, HttpStatusCode status, string? code = null)
    {
        Assert.Equal(status, res.StatusCode);
        Assert.Equal("application/problem+json", res.Content.Headers.ContentType?.MediaType);
        var body = await res.Content.ReadFromJsonAsync<JsonElement>();
        var actual = body.GetProperty("code").GetString();
        Assert.False(string.IsNullOrEmpty(actual));
        if (code is not null) Assert.Equal(code, actual);
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=101")]
    [InlineData("limit=abc")]
    [InlineData("limit=-5")]
    [InlineData("limit=99999999999999999999")]
    public async Task BadLimitsAreRejected(string query)
    {
        using var user = await fx.App.GuestAsync();
        await AssertProblem(await user.Http.GetAsync($"/api/conversations?{query}"), HttpStatusCode.BadRequest, "bad_limit");
    }

    [Fact]
    public async Task GarbageTamperedAndForeignCursorsAreRejected()
    {
        using var user = await fx.App.GuestAsync();
        using var other = await fx.App.GuestAsync();
        for (var i = 0; i < 3; i++) await user.CreateConversationAsync();
        var page = await user.Http.GetFromJsonAsync<JsonElement>("/api/conversations?limit=1");
        var cursor = page.GetProperty("nextCursor").GetString()!;
        var tampered = (cursor[5] == 'A' ? 'B' : 'A') is var ch ? cursor[..5] + ch + cursor[6..] : cursor;

        foreach (var bad in new[] { "garbage!", "AAAA", tampered, cursor + "A", "%00" })
            await AssertProblem(await user.Http.GetAsync($"/api/conversations?cursor={Uri.EscapeDataString(bad)}"), HttpStatusCode.BadRequest, "bad_cursor");
        // A valid cursor of another user is not accepted either.
        await AssertProblem(await other.Http.GetAsync($"/api/conversations?cursor={cursor}"), HttpStatusCode.BadRequest, "bad_cursor");
        // The genuine cursor still works.
        Assert.Equal(HttpStatusCode.OK, (await user.Http.GetAsync($"/api/conversations?cursor={cursor}")).StatusCode);
    }

    [Fact]
    public async Task UnknownIdsAreNotFoundAndMalformedIdsAreNotServerErrors()
    {
        using var user = await fx.App.GuestAsync();
        await AssertProblem(await user.Http.GetAsync($"/api/conversations/{Guid.NewGuid()}"), HttpStatusCode.NotFound, "not_found");
        await AssertProblem(await user.SendAsync(Guid.NewGuid(), "x"), HttpStatusCode.NotFound, "not_found");
        var malformed = await user.Http.GetAsync("/api/conversations/not-a-guid");
        Assert.True((int)malformed.StatusCode is 400 or 404);
    }

    [Fact]
    public async Task MissingFieldsInvalidJsonAndHugeBodiesGetClearErrors()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();

        await AssertProblem(await user.Http.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { clientId = "x" }), HttpStatusCode.BadRequest, "bad_text");
        await AssertProblem(await user.Http.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { text = "hi" }), HttpStatusCode.BadRequest, "bad_client_id");
        await AssertProblem(await user.Http.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { text = "a\u0000b", clientId = "n" }), HttpStatusCode.BadRequest, "bad_text");
        await AssertProblem(await user.Http.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { text = new string('x', 5000), clientId = "big" }), HttpStatusCode.BadRequest, "too_large");

        var invalid = new StringContent("{\"text\": \"unterminated", Encoding.UTF8, "application/json");
        await AssertProblem(await user.Http.PostAsync($"/api/conversations/{cid}/messages", invalid), HttpStatusCode.BadRequest);
        var wrongType = new StringContent("{\"text\": 42, \"clientId\": []}", Encoding.UTF8, "application/json");
        await AssertProblem(await user.Http.PostAsync($"/api/conversations/{cid}/messages", wrongType), HttpStatusCode.BadRequest);
        var loneSurrogate = new StringContent("{\"title\": \"\\ud800\"}", Encoding.UTF8, "application/json");
        await AssertProblem(await user.Http.PostAsync("/api/conversations", loneSurrogate), HttpStatusCode.BadRequest);
        await AssertProblem(await user.Http.PostAsJsonAsync("/api/conversations", new { title = "tab\there" }), HttpStatusCode.BadRequest, "bad_title");

        var huge = new StringContent("{\"text\": \"" + new string('x', 1024 * 1024) + "\", \"clientId\": \"h\"}", Encoding.UTF8, "application/json");
        await AssertProblem(await user.Http.PostAsync($"/api/conversations/{cid}/messages", huge), HttpStatusCode.RequestEntityTooLarge, "too_large");

        // Chunked (no Content-Length) oversized bodies are cut off by Kestrel's limit too.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes("{\"text\": \"" + new string('y', 1024 * 1024) + "\"}")));
        chunked.Headers.ContentType = new("application/json");
        var req = new HttpRequestMessage(HttpMethod.Post, $"/api/conversations/{cid}/messages") { Content = chunked };
        req.Headers.TransferEncodingChunked = true;
        var chunkedRes = await user.Http.SendAsync(req);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunkedRes.StatusCode);

        // The server keeps serving, and nothing was stored by the bad requests.
        var page = await user.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages");
        Assert.Empty(page.GetProperty("items").EnumerateArray());
        Assert.Equal(HttpStatusCode.Created, (await user.SendAsync(cid, "still fine")).StatusCode);
    }
}
