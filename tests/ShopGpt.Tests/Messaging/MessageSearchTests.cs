using Npgsql;
using NpgsqlTypes;
using ShopGpt.Server.Messaging;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Messaging;

[Collection(AppCollection.Name)]
public sealed class MessageSearchTests(AppFixture fx)
{
    private static async Task<List<string>> SearchAsync(TestUser user, string q)
    {
        var res = await user.Http.GetAsync($"/api/search/messages?q={Uri.EscapeDataString(q)}&limit=100");
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        var body = await res.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("text").GetString()!).ToList();
    }

    [Fact]
    public async Task SearchReturnsOnlyTheCallersOwnMessages()
    {
        using var me = await fx.App.GuestAsync();
        using var other = await fx.App.GuestAsync();
        var word = "zq" + Guid.NewGuid().ToString("N")[..8];
        var mine = await me.CreateConversationAsync();
        var theirs = await other.CreateConversationAsync();
        (await me.SendAsync(mine, $"my {word} sneakers")).EnsureSuccessStatusCode();
        (await other.SendAsync(theirs, $"their {word} boots")).EnsureSuccessStatusCode();
        // Even a conversation the other user shares (readable by me) is not "my messages".
        (await other.Http.PatchAsJsonAsync($"/api/conversations/{theirs}", new { shared = true })).EnsureSuccessStatusCode();

        Assert.Equal([$"my {word} sneakers"], await SearchAsync(me, word.ToUpperInvariant()));
        Assert.Equal([$"their {word} boots"], await SearchAsync(other, word));
    }

    [Fact]
    public async Task WildcardsBackslashesAndQuotesMatchLiterally()
    {
        using var me = await fx.App.GuestAsync();
        var cid = await me.CreateConversationAsync();
        var tag = Guid.NewGuid().ToString("N")[..6];
        string[] texts = [$"{tag} 100% cotton", $"{tag} 100 cotton", $"{tag} a_b", $"{tag} axb", $"{tag} back\\slash", $"{tag} it's \"quoted\""];
        foreach (var t in texts) (await me.SendAsync(cid, t)).EnsureSuccessStatusCode();

        Assert.Equal([$"{tag} 100% cotton"], await SearchAsync(me, "100%"));
        Assert.Equal([$"{tag} a_b"], await SearchAsync(me, "a_b"));
        Assert.Equal([$"{tag} back\\slash"], await SearchAsync(me, "k\\s"));
        Assert.Equal([$"{tag} it's \"quoted\""], await SearchAsync(me, "it's \"quo"));
        Assert.Empty(await SearchAsync(me, "%%%"));
        Assert.Empty(await SearchAsync(me, "'; drop table messages; --"));
    }

    [Theory]
    [InlineData("a", "too_short")]
    [InlineData("ab", "too_short")]
    [InlineData("  ab  ", "too_short")]
    [InlineData("", "bad_query")]
    public async Task ShortOrMissingQueriesAreRejected(string q, string code)
    {
        using var me = await fx.App.GuestAsync();
        var res = await me.Http.GetAsync($"/api/search/messages?q={Uri.EscapeDataString(q)}");
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal(code, (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task OtherBadInputIsAClear400AndNoTokenIs401()
    {
        using var me = await fx.App.GuestAsync();
        async Task<string> CodeAsync(string url)
        {
            var res = await me.Http.GetAsync(url);
            Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
            return (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString()!;
        }
        Assert.Equal("bad_query", await CodeAsync("/api/search/messages"));
        Assert.Equal("too_long", await CodeAsync($"/api/search/messages?q={new string('x', 201)}"));
        Assert.Equal("bad_limit", await CodeAsync("/api/search/messages?q=shoes&limit=0"));
        Assert.Equal("bad_limit", await CodeAsync("/api/search/messages?q=shoes&limit=abc"));
        Assert.Equal("bad_query", await CodeAsync("/api/search/messages?q=ab%00c"));
        using var anon = fx.App.Client();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync("/api/search/messages?q=shoes")).StatusCode);
    }

    [Fact]
    public async Task ThePlannerUsesTheTrigramIndexOnASeededTable()
    {
        await using var s = await ScratchDatabase.CreateAsync();
        var user = Guid.NewGuid();
        string[] words = ["sneaker", "jacket", "laptop", "camera", "blender", "kettle", "headphones", "backpack", "monitor", "lamp"];
        // 40,000 messages of this user (plus 40,000 of others): the user_id filter alone is not selective.
        await using (var conn = await s.Db.OpenConnectionAsync())
        await using (var copy = await conn.BeginBinaryImportAsync(
            "copy messages (user_id, conversation_id, seq, message_id, role, text, created_at) from stdin (format binary)"))
        {
            var conv = Guid.NewGuid();
            var now = DateTime.UtcNow;
            for (var i = 0; i < 80_000; i++)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync(i % 2 == 0 ? user : Guid.NewGuid(), NpgsqlDbType.Uuid);
                await copy.WriteAsync(conv, NpgsqlDbType.Uuid);
                await copy.WriteAsync((long)i, NpgsqlDbType.Bigint);
                await copy.WriteAsync(Guid.NewGuid(), NpgsqlDbType.Uuid);
                await copy.WriteAsync("user", NpgsqlDbType.Text);
                await copy.WriteAsync($"looking for a {words[i % words.Length]} under {i % 500} dollars, model {i}", NpgsqlDbType.Text);
                await copy.WriteAsync(now, NpgsqlDbType.TimestampTz);
            }
            await copy.CompleteAsync();
        }
        await s.ExecAsync("analyze messages");

        await using var explain = s.Db.CreateCommand("explain " + MessageSearch.Sql);
        explain.Parameters.AddWithValue(user);
        explain.Parameters.AddWithValue(MessageSearch.ContainsPattern("model 4242"));
        explain.Parameters.AddWithValue(20);
        var plan = new List<string>();
        await using (var r = await explain.ExecuteReaderAsync())
            while (await r.ReadAsync()) plan.Add(r.GetString(0));
        var text = string.Join('\n', plan);

        var trigramIndexes = new List<string>();
        await using (var q = s.Db.CreateCommand(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'messages_text_trgm_idx'::regclass"))
        await using (var r = await q.ExecuteReaderAsync())
            while (await r.ReadAsync()) trigramIndexes.Add(r.GetString(0));
        Assert.Contains(trigramIndexes, ix => text.Contains($"Index Scan on {ix}", StringComparison.Ordinal));
    }
}
