using ShopGpt.Server.Assistant;
using ShopGpt.Server.Catalog;

namespace ShopGpt.Tests.Assistant;

/// <summary>The comparison's rows and verdict (pure: no server).</summary>
public sealed class ProductComparisonTests
{
    private static Product P(string id, string name, decimal? price, float? rating = null, int? reviews = null, string? brand = "Acme") =>
        new(id, name, "", brand, ["Cell Phones", "Unlocked Cell Phones"], price, rating, reviews, null, null);

    [Fact]
    public void TheVerdictNamesTheCheapestAndTheBestRatedWithTheirNumbers()
    {
        var c = ProductComparison.Build([P("a", "Alpha 32GB", 199.99m, 4.1f, 12), P("b", "Beta 64GB", 249m, 4.6f, 230)]);
        Assert.Contains("**Alpha 32GB** is the cheapest at $199.99", c.Verdict);
        Assert.Contains("$249.00", c.Verdict);
        Assert.Contains("**Beta 64GB** is rated highest (4.6/5 from 230 reviews)", c.Verdict);
        Assert.Equal(["Price", "Rating", "Reviews", "Brand", "Kind"], c.Rows.Select(r => r.Label));
    }

    [Fact]
    public void ARowNobodyHasAValueForIsLeftOutAndUnknownsAreMarkedNotInvented()
    {
        var c = ProductComparison.Build([P("a", "Alpha", 10m, brand: null), P("b", "Beta", null, brand: null)]);
        Assert.DoesNotContain(c.Rows, r => r.Label is "Rating" or "Reviews" or "Brand");
        Assert.Equal(["$10.00", ProductComparison.Unknown], c.Rows.Single(r => r.Label == "Price").Values);
        Assert.DoesNotContain("cheapest", c.Verdict);
    }

    [Fact]
    public void TheMarkdownIsAComparisonTableWithAnEmptyCornerAndSafeCells()
    {
        var md = ProductComparison.Markdown(ProductComparison.Build([P("a", "Pipe | Name", 5m), P("b", "Star *Name*", 6m)]));
        var lines = md.Split('\n');
        Assert.Equal(@"| | **Pipe \| Name** | **Star Name** |", lines[0]);
        Assert.Equal("|---|---|---|", lines[1]);
        Assert.StartsWith("| Price | $5.00 | $6.00 |", lines[2]);
    }
}
