using ShopGpt.Server.Caching;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Catalog;

[Collection(CatalogCollection.Name)]
public sealed class CatalogCacheTests(CatalogFixture fx)
{
    private static async Task<List<string>> IdsAsync(TestUser user, string query)
    {
        var res = await user.Http.GetAsync("/api/products/search?" + query);
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        return (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items").EnumerateArray()
            .Select(p => p.GetProperty("id").GetString()!).ToList();
    }

    [Fact]
    public async Task ARepeatedSearchAndProductAreServedFromTheCacheWithoutRunningTheSearch()
    {
        using var user = await fx.App.GuestAsync();
        var metrics = fx.App.Services.GetRequiredService<CacheMetrics>();
        var word = Guid.NewGuid().ToString("N")[..8];
        var first = await IdsAsync(user, "q=" + Uri.EscapeDataString($"usb c charger {word}") + "&limit=5");
        Assert.NotEmpty(first);

        var runs = metrics.FactoryRunCount;
        // Same query after normalisation (case, spacing): answered from the cache.
        var again = await IdsAsync(user, "q=" + Uri.EscapeDataString($"  USB  C charger {word.ToUpperInvariant()} ") + "&limit=5");
        Assert.Equal(first, again);
        Assert.Equal(runs, metrics.FactoryRunCount);
        // Other filters are another entry.
        await IdsAsync(user, "q=" + Uri.EscapeDataString($"usb c charger {word}") + "&limit=4");
        Assert.Equal(runs + 1, metrics.FactoryRunCount);

        var product = await user.Http.GetFromJsonAsync<JsonElement>($"/api/products/{first[0]}");
        runs = metrics.FactoryRunCount;
        Assert.Equal(product.GetRawText(), (await user.Http.GetFromJsonAsync<JsonElement>($"/api/products/{first[0]}")).GetRawText());
        Assert.Equal(runs, metrics.FactoryRunCount);
    }
}
