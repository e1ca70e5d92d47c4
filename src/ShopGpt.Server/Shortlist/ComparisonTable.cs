using System.Globalization;
using ShopGpt.Server.Catalog;

namespace ShopGpt.Server.Shortlist;

/// <summary>One attribute across the compared products; <c>best</c> is the index of the winning column (null when none is better).</summary>
public sealed record ComparisonRow(string Key, string Label, IReadOnlyList<string?> Values, int? Best);

/// <summary>Side-by-side spec table of 2-4 products: one column per product, one row per attribute any of them has.</summary>
public sealed record ComparisonTable(IReadOnlyList<Product> Products, IReadOnlyList<ComparisonRow> Rows)
{
    public static ComparisonTable Build(IReadOnlyList<Product> products)
    {
        var rows = new List<ComparisonRow>
        {
            Row("price", "Price", products, p => Dollars(p.Price), Lowest(products, p => p.Price)),
            Row("rating", "Rating", products, p => p.Rating is { } r ? r.ToString("0.0", CultureInfo.InvariantCulture) + " / 5" : null,
                Highest(products, p => p.Rating is null ? null : (decimal)p.Rating.Value)),
            Row("reviews", "Reviews", products, p => p.ReviewCount?.ToString("N0", CultureInfo.InvariantCulture), Highest(products, p => p.ReviewCount)),
            Row("brand", "Brand", products, p => p.Brand, null),
            Row("category", "Category", products, p => p.Categories.Length > 0 ? p.Categories[^1] : null, null),
        };
        // A row nobody has a value for says nothing: leave it out (never "n/a" columns of made-up data).
        return new ComparisonTable(products, rows.Where(r => r.Values.Any(v => v is not null)).ToList());
    }

    /// <summary>"$1,234.50" (the catalog's prices are US dollars; the app runs with invariant globalization, so no culture data).</summary>
    public static string? Dollars(decimal? price) => price is { } p ? "$" + p.ToString("N2", CultureInfo.InvariantCulture) : null;

    private static ComparisonRow Row(string key, string label, IReadOnlyList<Product> products, Func<Product, string?> value, int? best) =>
        new(key, label, products.Select(value).ToList(), best);

    private static int? Lowest(IReadOnlyList<Product> products, Func<Product, decimal?> value) => Pick(products, value, lowest: true);

    private static int? Highest(IReadOnlyList<Product> products, Func<Product, decimal?> value) => Pick(products, value, lowest: false);

    /// <summary>The single best column; a tie, or fewer than two known values, has no winner.</summary>
    private static int? Pick(IReadOnlyList<Product> products, Func<Product, decimal?> value, bool lowest)
    {
        var known = products.Select((p, i) => (Value: value(p), Index: i)).Where(x => x.Value is not null).ToList();
        if (known.Count < 2) return null;
        var best = lowest ? known.Min(x => x.Value) : known.Max(x => x.Value);
        var winners = known.Where(x => x.Value == best).ToList();
        return winners.Count == 1 ? winners[0].Index : null;
    }
}
