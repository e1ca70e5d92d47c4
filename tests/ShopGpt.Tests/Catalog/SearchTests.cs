using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Catalog;

[Collection(CatalogCollection.Name)]
public sealed class SearchTests(CatalogFixture fx)
{
    private static async Task<List<JsonElement>> SearchAsync(TestUser user, string query)
    {
        var res = await user.Http.GetAsync("/api/products/search?" + query);
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        var body = await res.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(body.GetProperty("took_ms").GetDouble() >= 0);
        return body.GetProperty("items").EnumerateArray().ToList();
    }

    private static string Name(JsonElement p) => p.GetProperty("name").GetString()!;

    private static string Categories(JsonElement p) => string.Join(" > ", p.GetProperty("categories").EnumerateArray().Select(c => c.GetString()));

    [Fact]
    public async Task ScreenProtectorForIphoneReturnsIphoneScreenProtectorsInTheTopFive()
    {
        using var user = await fx.App.GuestAsync();
        var top = await SearchAsync(user, "q=screen+protector+for+iphone&limit=5");
        Assert.Equal(5, top.Count);
        Assert.All(top, p =>
        {
            Assert.Contains("Screen Protectors", Categories(p));
            Assert.Contains("iphone", Name(p), StringComparison.OrdinalIgnoreCase);
        });
    }

    [Fact]
    public async Task UnderTwentyDollarsFiltersByPrice()
    {
        using var user = await fx.App.GuestAsync();
        var items = await SearchAsync(user, "q=" + Uri.EscapeDataString("phone case under $20") + "&limit=20");
        Assert.NotEmpty(items);
        Assert.All(items, p => Assert.InRange(p.GetProperty("price").GetDecimal(), 0.01m, 20m));
        Assert.All(await SearchAsync(user, "q=" + Uri.EscapeDataString("under $20") + "&limit=20"), p => Assert.InRange(p.GetProperty("price").GetDecimal(), 0.01m, 20m));
        Assert.All(await SearchAsync(user, "q=" + Uri.EscapeDataString("case between 50 and 60")), p => Assert.InRange(p.GetProperty("price").GetDecimal(), 50m, 60m));
        Assert.All(await SearchAsync(user, "q=charger&minPrice=30&maxPrice=40"), p => Assert.InRange(p.GetProperty("price").GetDecimal(), 30m, 40m));
    }

    [Fact]
    public async Task AMisspelledQueryStillFindsSamsungGalaxyCases()
    {
        using var user = await fx.App.GuestAsync();
        var top = await SearchAsync(user, "q=samsng+galxy+case&limit=5");
        var hits = top.Count(p => Name(p).Contains("Samsung Galaxy", StringComparison.OrdinalIgnoreCase) && Categories(p).Contains("Case", StringComparison.OrdinalIgnoreCase));
        Assert.True(hits >= 4, $"only {hits} of the top 5 are Samsung Galaxy cases: {string.Join("; ", top.Select(Name))}");
    }

    [Fact]
    public async Task CheapestSortsByPriceAndABrandRestrictionFilters()
    {
        using var user = await fx.App.GuestAsync();
        var cheapest = await SearchAsync(user, "q=cheapest+iphone+case");
        var prices = cheapest.Select(p => p.GetProperty("price").GetDecimal()).ToList();
        Assert.NotEmpty(prices);
        Assert.Equal(prices.Order(), prices);

        var otterbox = await SearchAsync(user, "q=" + Uri.EscapeDataString("galaxy s7 case only otterbox"));
        Assert.NotEmpty(otterbox);
        Assert.All(otterbox, p => Assert.Equal("OtterBox", p.GetProperty("brand").GetString()));
        Assert.All(await SearchAsync(user, "q=case&brand=speck"), p => Assert.Equal("Speck", p.GetProperty("brand").GetString()));
    }

    [Fact]
    public async Task LexicalAndSemanticModesBothAnswer()
    {
        using var user = await fx.App.GuestAsync();
        Assert.NotEmpty(await SearchAsync(user, "q=portable+battery+charger&mode=lexical"));
        var semantic = await SearchAsync(user, "q=something+to+keep+my+phone+powered+on+a+trip&mode=semantic");
        Assert.NotEmpty(semantic);
    }

    [Theory]
    [InlineData("limit=0", "bad_limit")]
    [InlineData("limit=abc", "bad_limit")]
    [InlineData("minPrice=cheap", "bad_price")]
    [InlineData("maxPrice=-5", "bad_price")]
    [InlineData("minPrice=50&maxPrice=10", "bad_price_range")]
    [InlineData("mode=magic", "bad_mode")]
    public async Task BadParametersAre400WithACode(string query, string code)
    {
        using var user = await fx.App.GuestAsync();
        var res = await user.Http.GetAsync("/api/products/search?q=case&" + query);
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal(code, (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task ATooLongQueryIs400AndSearchNeedsAToken()
    {
        using var user = await fx.App.GuestAsync();
        var res = await user.Http.GetAsync("/api/products/search?q=" + new string('a', 201));
        Assert.Equal("bad_query", (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        using var anon = fx.App.Client();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.GetAsync("/api/products/search?q=case")).StatusCode);
    }

    [Fact]
    public async Task ProductByIdOr404()
    {
        using var user = await fx.App.GuestAsync();
        var p = await user.Http.GetFromJsonAsync<JsonElement>("/api/products/bb-4984700");
        Assert.Equal("bb-4984700", p.GetProperty("id").GetString());
        Assert.Equal(49.99m, p.GetProperty("price").GetDecimal());
        Assert.Equal(JsonValueKind.Null, p.GetProperty("rating").ValueKind);
        var missing = await user.Http.GetAsync("/api/products/bb-0");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("not_found", (await missing.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }
}
