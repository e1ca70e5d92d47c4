using System.Globalization;
using System.Text;
using ShopGpt.Server.Catalog;

namespace ShopGpt.Server.Assistant;

/// <summary>One line of a comparison: a label and one value per product, in the products' order ("—" = unknown).</summary>
public sealed record ComparisonRow(string Label, IReadOnlyList<string> Values);

/// <summary>A comparison as the client gets it from <c>GET /api/products/compare</c> (docs/protocol.md).</summary>
public sealed record Comparison(IReadOnlyList<Product> Items, IReadOnlyList<ComparisonRow> Rows, string Verdict);

/// <summary>
/// The one place that decides what a comparison shows and concludes, for the assistant's answer
/// (as a markdown table) and the REST view alike: catalog facts only — price, rating and review
/// count, then the spec rows any of the products has — and one verdict sentence built from those
/// same numbers (never a claim the rows do not show). A row nobody has a value for is left out.
/// </summary>
public static class ProductComparison
{
    public const string Unknown = "—";
    public const int MaxItems = 4;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static Comparison Build(IReadOnlyList<Product> products)
    {
        var items = products.Take(MaxItems).ToList();
        var rows = new List<ComparisonRow>();
        void Add(string label, Func<Product, string?> value)
        {
            var values = items.Select(p => value(p) ?? Unknown).ToList();
            if (values.Any(v => v != Unknown)) rows.Add(new ComparisonRow(label, values));
        }
        Add("Price", p => p.Price is { } x ? Money(x) : null);
        Add("Rating", p => p.Rating is { } r ? r.ToString("0.0", Inv) + "/5" : null);
        Add("Reviews", p => p.ReviewCount?.ToString("N0", Inv));
        Add("Brand", p => p.Brand);
        Add("Kind", p => p.Categories.Length > 0 ? p.Categories[^1] : null);
        return new Comparison(items, rows, Verdict(items));
    }

    /// <summary>Who wins on what, in numbers: the cheapest (against the dearest), the best rated (with its review count). Only prices that are in the table.</summary>
    public static string Verdict(IReadOnlyList<Product> items)
    {
        var parts = new List<string>();
        var priced = items.Where(p => p.Price is not null).ToList();
        if (priced.Count >= 2 && priced.Select(p => p.Price).Distinct().Count() > 1)
        {
            var cheapest = priced.MinBy(p => p.Price)!;
            var dearest = priced.MaxBy(p => p.Price)!;
            parts.Add($"{Name(cheapest)} is the cheapest at {Money(cheapest.Price!.Value)} (against {Money(dearest.Price!.Value)} for {Name(dearest)})");
        }
        var rated = items.Where(p => p.Rating is not null).ToList();
        if (rated.Count >= 2 && rated.Select(p => p.Rating).Distinct().Count() > 1)
        {
            var best = rated.MaxBy(p => p.Rating)!;
            var reviews = best.ReviewCount is > 0 ? $" from {best.ReviewCount.Value.ToString("N0", Inv)} reviews" : "";
            parts.Add($"{Name(best)} is rated highest ({best.Rating!.Value.ToString("0.0", Inv)}/5{reviews})");
        }
        else if (rated.Count == 1 && items.Count > 1)
        {
            parts.Add($"only {Name(rated[0])} has a rating ({rated[0].Rating!.Value.ToString("0.0", Inv)}/5)");
        }
        if (parts.Count == 0)
            return priced.Count == items.Count && items.Count > 1
                ? "They cost the same and the catalog gives no rating that separates them, so it comes down to brand and style."
                : "The catalog lists too few numbers for these to call a winner; tell me what matters most and I'll look closer.";
        var sentence = string.Join("; ", parts);
        return char.ToUpperInvariant(sentence[0]) + sentence[1..] + ".";
    }

    /// <summary>The comparison as a markdown table (empty corner cell: the web client's comparison view) plus the verdict.</summary>
    public static string Markdown(Comparison c)
    {
        var sb = new StringBuilder("| |");
        foreach (var p in c.Items) sb.Append(' ').Append(Cell(Name(p))).Append(" |");
        sb.Append("\n|---|");
        foreach (var _ in c.Items) sb.Append("---|");
        sb.Append('\n');
        foreach (var row in c.Rows)
        {
            sb.Append("| ").Append(row.Label).Append(" |");
            foreach (var v in row.Values) sb.Append(' ').Append(Cell(v)).Append(" |");
            sb.Append('\n');
        }
        sb.Append('\n').Append(c.Verdict);
        return sb.ToString();
    }

    // "\|" is markdown.js's literal pipe inside a cell (Amazon titles are full of pipes).
    private static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);

    public static string Money(decimal d) => "$" + d.ToString("0.00", Inv);

    /// <summary>Bold, exactly as the catalog spells it (asterisks taken out: they would end the bold).</summary>
    public static string Name(Product p) => "**" + p.Name.Replace("*", "", StringComparison.Ordinal) + "**";
}
