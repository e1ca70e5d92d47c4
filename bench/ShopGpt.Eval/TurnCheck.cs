using System.Text.RegularExpressions;

namespace ShopGpt.Eval;

/// <summary>A product as the shopper saw it, with the catalog fields the checks read.</summary>
public sealed record ShownProduct(string Id, string Name, string? Brand, decimal? Price, string CategoryPath);

/// <summary>What the assistant answered to one turn.</summary>
public sealed record Answer(string Text, IReadOnlyList<ShownProduct> Products);

public sealed record ProductVerdict(ShownProduct Product, IReadOnlyList<string> Failures)
{
    public bool Passed => Failures.Count == 0;
}

public sealed record TurnVerdict(IReadOnlyList<ProductVerdict> Products, IReadOnlyList<string> Failures, bool CountsForPrecision)
{
    public bool Passed => Failures.Count == 0;
}

/// <summary>
/// The pure scoring rules: a turn passes when every turn-level field holds and the top 3 shown
/// products (all of them if fewer) pass every product-level field; a turn that constrains
/// products but shows none fails. Precision counts every shown product of such turns.
/// </summary>
public static partial class TurnCheck
{
    public const int Top = 3;

    public static TurnVerdict Check(TurnSpec spec, Answer answer, Answer? previous)
    {
        var failures = new List<string>();
        var prevPrices = previous?.Products.Where(p => p.Price is not null).Select(p => p.Price!.Value).ToList() ?? [];
        var verdicts = answer.Products.Select(p => new ProductVerdict(p, ProductFailures(spec, p, prevPrices))).ToList();

        if (spec.None)
        {
            if (answer.Products.Count > 0) failures.Add($"none: {answer.Products.Count} products shown");
            if (!SaysNothingFits().IsMatch(answer.Text)) failures.Add("none: the answer does not say that nothing fits");
        }
        else if (spec.HasProductChecks || spec.CheapestOfPrev)
        {
            if (answer.Products.Count == 0) failures.Add("no products shown");
            var failedTop = verdicts.Take(Top).Select((v, i) => (v, i)).Where(x => !x.v.Passed).ToList();
            foreach (var (v, i) in failedTop) failures.Add($"#{i + 1} {string.Join(", ", v.Failures)}");
        }

        if (spec.CheapestOfPrev)
        {
            if (prevPrices.Count == 0) failures.Add("cheapestOfPrev: the previous turn showed no priced product");
            else if (answer.Products.Count > 0 && (answer.Products[0].Price is not { } first || first > prevPrices.Min()))
                failures.Add($"cheapestOfPrev: #1 costs {Money(answer.Products[0].Price)}, the previous turn's cheapest {Money(prevPrices.Min())}");
        }

        if (spec.CompareFirst is { } n)
        {
            var expected = previous?.Products.Take(n).Select(p => p.Id).ToList() ?? [];
            var got = answer.Products.Select(p => p.Id).ToList();
            if (expected.Count < n) failures.Add($"compareFirst: the previous turn showed only {expected.Count} products");
            else if (!expected.SequenceEqual(got)) failures.Add($"compareFirst: compared [{string.Join(", ", got)}], expected [{string.Join(", ", expected)}]");
        }
        return new TurnVerdict(verdicts, failures, spec.HasProductChecks);
    }

    private static List<string> ProductFailures(TurnSpec s, ShownProduct p, IReadOnlyList<decimal> prevPrices)
    {
        var f = new List<string>();
        if (s.Cat is { } cat && !cat.IsMatch(p.CategoryPath)) f.Add("cat");
        if (s.NotCat is { } notCat && notCat.IsMatch(p.CategoryPath)) f.Add("notCat");
        if (s.Name is { } name && !name.IsMatch(p.Name)) f.Add("name");
        if (s.NotName is { } notName && notName.IsMatch(p.Name)) f.Add("notName");
        if (s.BrandOrName is { } bn && !bn.IsMatch((p.Brand ?? "") + " " + p.Name)) f.Add("brandOrName");
        if (s.NotBrand is { } nb && nb.IsMatch(p.Brand ?? "")) f.Add("notBrand");
        if (s.MaxPrice is { } max && (p.Price is not { } price || price > max)) f.Add($"maxPrice {Money(p.Price)} > {Money(max)}");
        if (s.CheaperThanPrev && (prevPrices.Count == 0 || p.Price is not { } pp || pp > prevPrices.Max()))
            f.Add($"cheaperThanPrev {Money(p.Price)} vs previous max {(prevPrices.Count == 0 ? "none" : Money(prevPrices.Max()))}");
        return f;
    }

    public static string Money(decimal? d) => d is null ? "no price" : "$" + d.Value.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);

    // How a plain "we don't have that" reads; the check is deliberately wide (the products shown are what matters).
    [GeneratedRegex(@"\b(?:don't|do not|doesn't|does not|couldn't|could not|can't|cannot|no|not|nothing|none|isn't|aren't|unable)\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SaysNothingFits();
}

/// <summary>Totals over a run.</summary>
public sealed class Score
{
    public int Turns { get; private set; }
    public int PassedTurns { get; private set; }
    public int Shown { get; private set; }
    public int PassedShown { get; private set; }

    public void Add(TurnVerdict v)
    {
        Turns++;
        if (v.Passed) PassedTurns++;
        if (!v.CountsForPrecision) return;
        Shown += v.Products.Count;
        PassedShown += v.Products.Count(p => p.Passed);
    }

    public double PassRate => Turns == 0 ? 0 : (double)PassedTurns / Turns;
    public double Precision => Shown == 0 ? 0 : (double)PassedShown / Shown;
}
