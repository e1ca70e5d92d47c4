using ShopGpt.Tests.Catalog;

namespace ShopGpt.Tests.Shopper;

/// <summary>Registering with a guest's token keeps the guest's data (issue 19, item 6).</summary>
[Collection(CatalogCollection.Name)]
public sealed class GuestUpgradeTests(CatalogFixture fx)
{
    [Fact]
    public async Task ARegisteringGuestKeepsConversationsAndShortlistAndTheGuestTokenStopsWorking()
    {
        using var guest = await fx.App.GuestAsync();
        var cid = await guest.CreateConversationAsync("as a guest");
        (await guest.SendAsync(cid, "hello from a guest")).EnsureSuccessStatusCode();
        var found = await guest.Http.GetFromJsonAsync<JsonElement>("/api/products/search?q=phone%20case&limit=1");
        var productId = found.GetProperty("items")[0].GetProperty("id").GetString()!;
        (await guest.Http.PutAsync($"/api/shortlist/{productId}", null)).EnsureSuccessStatusCode();

        var email = $"upgrade-{Guid.NewGuid():N}@example.com";
        var res = await guest.Http.PostAsJsonAsync("/api/auth/register", new { email, password = "correct horse", displayName = "Kim" });
        Assert.Equal(HttpStatusCode.Created, res.StatusCode);
        var account = await res.Content.ReadFromJsonAsync<JsonElement>();
        var token = account.GetProperty("token").GetString()!;

        // The guest token is revoked at once; the new one sees everything the guest had.
        Assert.Equal(HttpStatusCode.Unauthorized, (await guest.Http.GetAsync("/api/conversations")).StatusCode);
        using var me = fx.App.Client(token);
        var list = await me.GetFromJsonAsync<JsonElement>("/api/conversations");
        Assert.Contains(list.GetProperty("items").EnumerateArray(), c => c.GetProperty("id").GetGuid() == cid);
        var messages = await me.GetFromJsonAsync<JsonElement>($"/api/conversations/{cid}/messages");
        Assert.Contains(messages.GetProperty("items").EnumerateArray(), m => m.GetProperty("text").GetString() == "hello from a guest");
        var shortlist = await me.GetFromJsonAsync<JsonElement>("/api/shortlist");
        Assert.Equal(productId, shortlist.GetProperty("items")[0].GetProperty("productId").GetString());

        // It is a real account now: the password signs in, and it is no longer a guest.
        using var anon = fx.App.Client();
        var login = await anon.PostAsJsonAsync("/api/auth/login", new { email, password = "correct horse" });
        login.EnsureSuccessStatusCode();
        Assert.Equal(account.GetProperty("userId").GetGuid(), (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("userId").GetGuid());
        await using var ds = Npgsql.NpgsqlDataSource.Create(Infrastructure.TestEnvironment.Postgres);
        await using var cmd = ds.CreateCommand("select is_guest, display_name from users where user_id = $1");
        cmd.Parameters.AddWithValue(account.GetProperty("userId").GetGuid());
        await using var r = await cmd.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync());
        Assert.False(r.GetBoolean(0));
        Assert.Equal("Kim", r.GetString(1));
    }

    [Fact]
    public async Task ATakenEmailLeavesTheGuestAsItWas()
    {
        using var anon = fx.App.Client();
        var email = $"taken-{Guid.NewGuid():N}@example.com";
        (await anon.PostAsJsonAsync("/api/auth/register", new { email, password = "password-1" })).EnsureSuccessStatusCode();

        using var guest = await fx.App.GuestAsync();
        var cid = await guest.CreateConversationAsync("still mine");
        var res = await guest.Http.PostAsJsonAsync("/api/auth/register", new { email, password = "password-2" });
        Assert.Equal(HttpStatusCode.Conflict, res.StatusCode);
        Assert.Equal("email_taken", (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        // Nothing changed: the guest token works and the conversation is still the guest's.
        Assert.Equal(HttpStatusCode.OK, (await guest.Http.GetAsync($"/api/conversations/{cid}")).StatusCode);
        var bad = await guest.Http.PostAsJsonAsync("/api/auth/register", new { email = "not-an-email", password = "password-2" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await guest.Http.GetAsync($"/api/conversations/{cid}")).StatusCode);
    }

    [Fact]
    public async Task TwoRegistrationsFromOneGuestMakeOneAccount()
    {
        using var guest = await fx.App.GuestAsync();
        var a = guest.Http.PostAsJsonAsync("/api/auth/register", new { email = $"a-{Guid.NewGuid():N}@example.com", password = "password-1" });
        var b = guest.Http.PostAsJsonAsync("/api/auth/register", new { email = $"b-{Guid.NewGuid():N}@example.com", password = "password-1" });
        var results = await Task.WhenAll(a, b);
        var created = results.Where(r => r.StatusCode == HttpStatusCode.Created).ToList();
        Assert.NotEmpty(created);
        var ids = new List<Guid>();
        foreach (var r in created) ids.Add((await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("userId").GetGuid());
        // Either one upgrade (the other refused: the guest session ended) or an upgrade and, when
        // the second request's token check ran after the first commit, an ordinary new account.
        Assert.Single(ids, i => i == guest.Id);
        Assert.All(results, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.Created, HttpStatusCode.Unauthorized }));
    }
}
