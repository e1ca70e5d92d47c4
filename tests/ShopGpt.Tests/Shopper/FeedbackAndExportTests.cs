using ShopGpt.Server.Messaging;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Shopper;

/// <summary>Feedback on answers and conversation export (docs/api-extensions.md) on real PostgreSQL.</summary>
[Collection(AppCollection.Name)]
public sealed class FeedbackAndExportTests(AppFixture fx)
{
    /// <summary>A conversation with a question and a stored assistant answer (through the real write path).</summary>
    private async Task<(Guid Cid, Guid UserMessage, Guid Answer)> ChatAsync(TestUser u, string question = "a case for my phone")
    {
        var cid = await u.CreateConversationAsync("feedback");
        var sent = await (await u.SendAsync(cid, question)).Content.ReadFromJsonAsync<JsonElement>();
        var batcher = fx.App.Services.GetRequiredService<MessageBatcher>();
        var products = """[{"id":"bb-1","name":"Clear Case","brand":"Acme","price":12.5,"rating":4.5,"reviewCount":10,"imageUrl":null,"url":"https://example.com/p/1"},{"id":"bb-2","name":"No Link Case","brand":null,"price":null,"rating":null,"reviewCount":null,"imageUrl":null,"url":"javascript:alert(1)"}]""";
        var answer = await batcher.SendAsync(new NewMessage(u.Id, cid, "assistant", "Here are **two** cases.", "assistant:test", "complete", products), CancellationToken.None);
        return (cid, sent.GetProperty("id").GetGuid(), answer.Message!.Id);
    }

    private static Task AssertProblemAsync(HttpResponseMessage res, HttpStatusCode status, string code) => Problems.AssertAsync(res, status, code);

    [Fact]
    public async Task AVoteIsStoredReplacedListedAndWithdrawn()
    {
        using var u = await fx.App.GuestAsync();
        var (cid, _, answer) = await ChatAsync(u);
        var put = await u.Http.PutAsJsonAsync($"/api/conversations/{cid}/messages/{answer}/feedback", new { rating = "down", reason = "  too expensive  " });
        put.EnsureSuccessStatusCode();
        Assert.Equal("too expensive", (await put.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());
        (await u.Http.PutAsJsonAsync($"/api/conversations/{cid}/messages/{answer}/feedback", new { rating = "up" })).EnsureSuccessStatusCode();

        var list = await u.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/feedback");
        var only = Assert.Single(list.GetProperty("items").EnumerateArray());
        Assert.Equal("up", only.GetProperty("rating").GetString());
        Assert.Equal(JsonValueKind.Null, only.GetProperty("reason").ValueKind);
        Assert.Equal(answer, only.GetProperty("messageId").GetGuid());

        Assert.Equal(HttpStatusCode.NoContent, (await u.Http.DeleteAsync($"/api/conversations/{cid}/messages/{answer}/feedback")).StatusCode);
        Assert.Empty((await u.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/feedback")).GetProperty("items").EnumerateArray());
        await AssertProblemAsync(await u.Http.DeleteAsync($"/api/conversations/{cid}/messages/{answer}/feedback"), HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task FeedbackOnAnythingButMyOwnAnswerIsNotFoundAndBadInputIsA400()
    {
        using var owner = await fx.App.GuestAsync();
        using var stranger = await fx.App.GuestAsync();
        var (cid, userMessage, answer) = await ChatAsync(owner);
        var url = $"/api/conversations/{cid}/messages/{answer}/feedback";

        await AssertProblemAsync(await stranger.Http.PutAsJsonAsync(url, new { rating = "down" }), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await stranger.Http.DeleteAsync(url), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await stranger.Http.GetAsync($"/api/conversations/{cid}/feedback"), HttpStatusCode.NotFound, "not_found");
        // Not an answer (the user's own question), an unknown message, an unknown conversation.
        await AssertProblemAsync(await owner.Http.PutAsJsonAsync($"/api/conversations/{cid}/messages/{userMessage}/feedback", new { rating = "up" }), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await owner.Http.PutAsJsonAsync($"/api/conversations/{cid}/messages/{Guid.NewGuid()}/feedback", new { rating = "up" }), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await owner.Http.PutAsJsonAsync($"/api/conversations/{Guid.NewGuid()}/messages/{answer}/feedback", new { rating = "up" }), HttpStatusCode.NotFound, "not_found");

        await AssertProblemAsync(await owner.Http.PutAsJsonAsync(url, new { rating = "meh" }), HttpStatusCode.BadRequest, "bad_rating");
        await AssertProblemAsync(await owner.Http.PutAsJsonAsync(url, new { }), HttpStatusCode.BadRequest, "bad_rating");
        await AssertProblemAsync(await owner.Http.PutAsJsonAsync(url, new { rating = "down", reason = new string('r', 501) }), HttpStatusCode.BadRequest, "reason_too_long");
        await AssertProblemAsync(await owner.Http.PutAsJsonAsync(url, new { rating = "down", reason = "nul\0here" }), HttpStatusCode.BadRequest, "bad_reason");

        // None of that stored anything; the owner's vote still works.
        Assert.Empty((await owner.Http.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/feedback")).GetProperty("items").EnumerateArray());
        (await owner.Http.PutAsJsonAsync(url, new { rating = "down", reason = new string('r', 500) })).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task TheOperatorSeesTotalsAndTheNewestVotesWithTheAdminTokenOnly()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["Admin:Token"] = "operator-secret-19" });
        using var u = await app.GuestAsync();
        var cid = await u.CreateConversationAsync();
        var batcher = app.Services.GetRequiredService<MessageBatcher>();
        var answer = (await batcher.SendAsync(new NewMessage(u.Id, cid, "assistant", "an answer", "assistant:x"), CancellationToken.None)).Message!.Id;

        using var anon = app.Client();
        var before = await ReportAsync(anon);
        (await u.Http.PutAsJsonAsync($"/api/conversations/{cid}/messages/{answer}/feedback", new { rating = "down", reason = "wrong size" })).EnsureSuccessStatusCode();
        var after = await ReportAsync(anon);
        // Other tests vote in the same database at the same time: this vote is counted and listed, whatever else was.
        Assert.True(after.GetProperty("down").GetInt64() >= before.GetProperty("down").GetInt64() + 1);
        var mine = Assert.Single(after.GetProperty("recent").EnumerateArray(), v => v.GetProperty("messageId").GetGuid() == answer);
        Assert.Equal("down", mine.GetProperty("rating").GetString());
        Assert.Equal("wrong size", mine.GetProperty("reason").GetString());

        await AssertProblemAsync(await anon.GetAsync("/api/admin/feedback"), HttpStatusCode.Forbidden, "forbidden");
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/admin/feedback") { Headers = { { "X-Admin-Token", "guess" } } };
        await AssertProblemAsync(await anon.SendAsync(wrong), HttpStatusCode.Forbidden, "forbidden");
        // Without a configured token the endpoint does not exist.
        await AssertProblemAsync(await fx.App.Client().GetAsync("/api/admin/feedback"), HttpStatusCode.NotFound, "not_found");
    }

    private static async Task<JsonElement> ReportAsync(HttpClient c)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, "/api/admin/feedback?limit=500") { Headers = { { "X-Admin-Token", "operator-secret-19" } } };
        var res = await c.SendAsync(req);
        res.EnsureSuccessStatusCode();
        return await res.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task ExportAsJsonCarriesEveryMessageWithProductsAndTimestamps()
    {
        using var u = await fx.App.GuestAsync();
        var (cid, userMessage, answer) = await ChatAsync(u, "a case for my phone\nunder $30");
        var res = await u.Http.GetAsync($"/api/conversations/{cid}/export?format=json");
        res.EnsureSuccessStatusCode();
        Assert.Equal("application/json", res.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment", res.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("shopgpt-feedback.json", res.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        var doc = await res.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(cid, doc.GetProperty("conversation").GetProperty("id").GetGuid());
        var messages = doc.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal([userMessage, answer], messages.Select(m => m.GetProperty("id").GetGuid()));
        Assert.Equal([1L, 2L], messages.Select(m => m.GetProperty("seq").GetInt64()));
        Assert.Equal("a case for my phone\nunder $30", messages[0].GetProperty("text").GetString());
        Assert.Equal("bb-1", messages[1].GetProperty("products")[0].GetProperty("id").GetString());
        Assert.All(messages, m => Assert.True(m.GetProperty("createdAt").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddHours(-1)));
        Assert.False(doc.GetProperty("truncated").GetBoolean());
    }

    [Fact]
    public async Task ExportAsMarkdownReadsAsTheConversationWithOnlyRealLinks()
    {
        using var u = await fx.App.GuestAsync();
        var (cid, _, _) = await ChatAsync(u);
        var res = await u.Http.GetAsync($"/api/conversations/{cid}/export?format=markdown");
        res.EnsureSuccessStatusCode();
        Assert.Equal("text/markdown", res.Content.Headers.ContentType?.MediaType);
        var md = await res.Content.ReadAsStringAsync();
        Assert.StartsWith("# feedback\n", md.ReplaceLineEndings("\n"));
        Assert.Contains("## You · ", md);
        Assert.Contains("a case for my phone", md);
        Assert.Contains("## ShopGPT · ", md);
        Assert.Contains("Here are **two** cases.", md);
        Assert.Contains("[Clear Case](https://example.com/p/1) — Acme — $12.50 — 4.5★", md);
        Assert.Contains("- No Link Case", md);
        Assert.DoesNotContain("javascript:", md);
    }

    [Fact]
    public async Task OnlyTheOwnerCanExportAndTheFormatIsChecked()
    {
        using var owner = await fx.App.GuestAsync();
        using var stranger = await fx.App.GuestAsync();
        var (cid, _, _) = await ChatAsync(owner);
        await AssertProblemAsync(await stranger.Http.GetAsync($"/api/conversations/{cid}/export?format=json"), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await stranger.Http.GetAsync($"/api/conversations/{cid}/export?format=markdown"), HttpStatusCode.NotFound, "not_found");
        // Sharing makes a conversation readable, not exportable by others.
        (await owner.Http.PatchAsJsonAsync($"/api/conversations/{cid}", new { shared = true })).EnsureSuccessStatusCode();
        await AssertProblemAsync(await stranger.Http.GetAsync($"/api/conversations/{cid}/export"), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await owner.Http.GetAsync($"/api/conversations/{Guid.NewGuid()}/export"), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await owner.Http.GetAsync($"/api/conversations/{cid}/export?format=pdf"), HttpStatusCode.BadRequest, "bad_format");
    }
}
