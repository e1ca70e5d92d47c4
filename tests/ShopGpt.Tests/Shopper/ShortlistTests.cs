using ShopGpt.Tests.Catalog;
using ShopGpt.Tests.Infrastructure;
using ShopGpt.Tests.Realtime;

namespace ShopGpt.Tests.Shopper;

/// <summary>The shortlist API (docs/api-extensions.md) on the real catalog, PostgreSQL and realtime fan-out.</summary>
[Collection(CatalogCollection.Name)]
public sealed class ShortlistTests(CatalogFixture fx)
{
    private async Task<string[]> ProductIdsAsync(string q, int n)
    {
        using var u = await fx.App.GuestAsync();
        var found = await u.Http.GetFromJsonAsync<JsonElement>($"/api/products/search?q={Uri.EscapeDataString(q)}&limit={n}");
        var ids = found.GetProperty("items").EnumerateArray().Select(p => p.GetProperty("id").GetString()!).ToArray();
        Assert.True(ids.Length == n, $"the catalog has {n} products for '{q}'");
        return ids;
    }

    private static async Task<string[]> SavedAsync(TestUser u)
    {
        var list = await u.Http.GetFromJsonAsync<JsonElement>("/api/shortlist");
        return list.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("productId").GetString()!).ToArray();
    }

    [Fact]
    public async Task SavedProductsAreListedNewestFirstWithTheirProductAndASecondSaveChangesNothing()
    {
        var ids = await ProductIdsAsync("iphone case", 3);
        using var u = await fx.App.GuestAsync();
        Assert.Empty(await SavedAsync(u));

        var first = await u.Http.PutAsync($"/api/shortlist/{ids[0]}", null);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var item = await first.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(ids[0], item.GetProperty("product").GetProperty("id").GetString());
        (await u.Http.PutAsync($"/api/shortlist/{ids[1]}", null)).EnsureSuccessStatusCode();

        var again = await u.Http.PutAsync($"/api/shortlist/{ids[0]}", null);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(item.GetProperty("addedAt").GetDateTimeOffset(), (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("addedAt").GetDateTimeOffset());

        Assert.Equal([ids[1], ids[0]], await SavedAsync(u));
        Assert.Equal(HttpStatusCode.NoContent, (await u.Http.DeleteAsync($"/api/shortlist/{ids[1]}")).StatusCode);
        Assert.Equal([ids[0]], await SavedAsync(u));
        Assert.Equal(HttpStatusCode.NotFound, (await u.Http.DeleteAsync($"/api/shortlist/{ids[1]}")).StatusCode);
    }

    [Fact]
    public async Task AnotherUsersShortlistIsNeverReachable()
    {
        var ids = await ProductIdsAsync("headphones", 2);
        using var owner = await fx.App.GuestAsync();
        using var stranger = await fx.App.GuestAsync();
        foreach (var id in ids) (await owner.Http.PutAsync($"/api/shortlist/{id}", null)).EnsureSuccessStatusCode();

        Assert.Empty(await SavedAsync(stranger));
        var remove = await stranger.Http.DeleteAsync($"/api/shortlist/{ids[0]}");
        Assert.Equal(HttpStatusCode.NotFound, remove.StatusCode);
        Assert.Equal("not_found", (await remove.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var compare = await stranger.Http.PostAsJsonAsync("/api/shortlist/compare", new { productIds = ids });
        Assert.Equal(HttpStatusCode.NotFound, compare.StatusCode);
        Assert.Equal("not_found", (await compare.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(ids.Reverse(), await SavedAsync(owner));
    }

    [Fact]
    public async Task BadProductIdsAndBadComparisonsAreClearErrors()
    {
        using var u = await fx.App.GuestAsync();
        static Task Problem(HttpResponseMessage res, HttpStatusCode status, string code) => Problems.AssertAsync(res, status, code);
        await Problem(await u.Http.PutAsync("/api/shortlist/no-such-product-19", null), HttpStatusCode.NotFound, "not_found");
        await Problem(await u.Http.PutAsync("/api/shortlist/" + new string('x', 300), null), HttpStatusCode.NotFound, "not_found");
        await Problem(await u.Http.GetAsync("/api/products/no-such-product-19/compared-with"), HttpStatusCode.NotFound, "not_found");
        var ids = await ProductIdsAsync("charger", 2);
        await Problem(await u.Http.PostAsJsonAsync("/api/shortlist/compare", new { productIds = new[] { ids[0] } }), HttpStatusCode.BadRequest, "bad_compare");
        await Problem(await u.Http.PostAsJsonAsync("/api/shortlist/compare", new { productIds = new[] { ids[0], ids[0] } }), HttpStatusCode.BadRequest, "bad_compare");
        await Problem(await u.Http.PostAsJsonAsync("/api/shortlist/compare", new { productIds = Enumerable.Range(0, 5).Select(i => $"p{i}").ToArray() }), HttpStatusCode.BadRequest, "bad_compare");
        await Problem(await u.Http.PostAsJsonAsync("/api/shortlist/compare", new { }), HttpStatusCode.BadRequest, "bad_compare");
        // Saved nothing yet: comparing catalog products that are not in the shortlist is not found.
        await Problem(await u.Http.PostAsJsonAsync("/api/shortlist/compare", new { productIds = ids }), HttpStatusCode.NotFound, "not_found");
        Assert.Equal(HttpStatusCode.Unauthorized, (await fx.App.Client().GetAsync("/api/shortlist")).StatusCode);
    }

    [Fact]
    public async Task TheShortlistIsBounded()
    {
        await using var app = await TestApp.StartAsync(CatalogFixture.Settings(("Shortlist:MaxItems", "2")));
        var ids = await ProductIdsAsync("usb cable", 3);
        using var u = await app.GuestAsync();
        (await u.Http.PutAsync($"/api/shortlist/{ids[0]}", null)).EnsureSuccessStatusCode();
        (await u.Http.PutAsync($"/api/shortlist/{ids[1]}", null)).EnsureSuccessStatusCode();
        var full = await u.Http.PutAsync($"/api/shortlist/{ids[2]}", null);
        Assert.Equal(HttpStatusCode.Conflict, full.StatusCode);
        Assert.Equal("shortlist_full", (await full.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        // A product already saved is still a success when full.
        Assert.Equal(HttpStatusCode.OK, (await u.Http.PutAsync($"/api/shortlist/{ids[0]}", null)).StatusCode);
    }

    [Fact]
    public async Task ComparingSavedProductsGivesASpecTableAndFeedsOftenComparedWith()
    {
        var ids = await ProductIdsAsync("bluetooth speaker", 3);
        using var u = await fx.App.GuestAsync();
        foreach (var id in ids) (await u.Http.PutAsync($"/api/shortlist/{id}", null)).EnsureSuccessStatusCode();

        var res = await u.Http.PostAsJsonAsync("/api/shortlist/compare", new { productIds = ids });
        res.EnsureSuccessStatusCode();
        var table = await res.Content.ReadFromJsonAsync<JsonElement>();
        // The assistant's comparison (the same table the chat shows), in the order asked.
        Assert.Equal(ids, table.GetProperty("items").EnumerateArray().Select(p => p.GetProperty("id").GetString()));
        var rows = table.GetProperty("rows").EnumerateArray().ToList();
        Assert.NotEmpty(rows);
        Assert.All(rows, r => Assert.Equal(3, r.GetProperty("values").GetArrayLength()));
        Assert.False(string.IsNullOrWhiteSpace(table.GetProperty("verdict").GetString()));

        var related = await u.Http.GetFromJsonAsync<JsonElement>($"/api/products/{ids[0]}/compared-with");
        var others = related.GetProperty("items").EnumerateArray().Select(p => p.GetProperty("id").GetString()).ToList();
        Assert.Contains(ids[1], others);
        Assert.Contains(ids[2], others);
        Assert.DoesNotContain(ids[0], others);
    }

    [Fact]
    public async Task EveryConnectionOfTheUserHearsOfAChangeAndNobodyElseDoes()
    {
        var ids = await ProductIdsAsync("laptop stand", 1);
        using var u = await fx.App.GuestAsync();
        using var other = await fx.App.GuestAsync();
        await using var tab1 = await WsClient.ConnectAsync(fx.App, u);
        await using var tab2 = await WsClient.ConnectAsync(fx.App, u);
        await using var spy = await WsClient.ConnectAsync(fx.App, other);
        await tab1.SubscribeAsync(u.Id);
        await tab2.SubscribeAsync(u.Id);
        await spy.SubscribeAsync(other.Id);
        // Following another user's topic is refused like an unknown conversation.
        await spy.SendAsync(new { t = "sub", cid = u.Id });
        await spy.WaitForAsync(f => WsClient.Type(f) == "err" && f.GetProperty("code").GetString() == "not_found");

        (await u.Http.PutAsync($"/api/shortlist/{ids[0]}", null)).EnsureSuccessStatusCode();
        foreach (var tab in new[] { tab1, tab2 })
        {
            var saved = await tab.WaitForAsync(f => WsClient.Type(f) == "shortlist" && f.GetProperty("op").GetString() == "saved");
            Assert.Equal(ids[0], saved.GetProperty("productId").GetString());
            Assert.Equal(ids[0], saved.GetProperty("product").GetProperty("id").GetString());
        }
        (await u.Http.DeleteAsync($"/api/shortlist/{ids[0]}")).EnsureSuccessStatusCode();
        await tab1.WaitForAsync(f => WsClient.Type(f) == "shortlist" && f.GetProperty("op").GetString() == "removed");
        await tab2.WaitForAsync(f => WsClient.Type(f) == "shortlist" && f.GetProperty("op").GetString() == "removed");

        // The spy's own topic is live (a ping round trip after the changes) and carried nothing of u's.
        await spy.SendAsync(new { t = "ping", ts = 19 });
        await spy.WaitForTypeAsync("pong");
        Assert.Equal(0, spy.Count(f => WsClient.Type(f) == "shortlist"));
    }
}
