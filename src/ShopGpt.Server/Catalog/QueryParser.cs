using System.Globalization;
using System.Text.RegularExpressions;

namespace ShopGpt.Server.Catalog;

/// <summary>What a shopper's words mean to search: the text to match plus the filters said in words.</summary>
public sealed record ParsedQuery(string Text, decimal? MinPrice, decimal? MaxPrice, string? Brand, bool Cheapest, string? MentionedBrand, bool Corrected);

/// <summary>
/// Understands price phrases ("under $100", "between 50 and 150", "$20-$40", "over 200"),
/// "cheapest", brand restrictions ("only Samsung", "by OtterBox", "from Apple": brands that
/// exist in the catalog) and corrects words the catalog does not contain to the nearest catalog
/// word by trigram similarity ("samsng galxy" → "samsung galaxy"). A bare brand name stays in
/// the text (it ranks, it does not filter): "samsung galaxy case" must still find OtterBox cases.
/// </summary>
public static partial class QueryParser
{
    private static readonly HashSet<string> Filler = new(StringComparer.Ordinal)
    {
        "show", "me", "find", "i", "want", "need", "looking", "for", "a", "an", "the", "some", "any", "please", "get", "buy",
        "what", "which", "is", "are", "do", "you", "have", "got", "good", "best", "recommend", "can", "with", "price", "priced",
        "dollars", "usd", "one", "ones", "something", "that", "costs", "cost", "of", "to", "in", "my", "search", "options",
        "about", "instead", "those", "these", "them", "other", "others", "else", "only", "just", "maybe", "okay", "ok", "then",
        "now", "there", "too", "how", "hi", "hello", "hey", "thanks", "thank", "would", "like", "could", "should", "it", "and",
    };

    /// <summary>Words that carry no product meaning ("show me some ...").</summary>
    public static bool IsFiller(string word) => Filler.Contains(word);

    public static ParsedQuery Parse(string raw, CatalogIndex.Snapshot catalog)
    {
        var text = " " + raw.ToLowerInvariant().Replace("’", "'", StringComparison.Ordinal) + " ";
        decimal? min = null, max = null;
        var cheapest = false;

        var between = Between().Match(text);
        if (between.Success)
        {
            var a = Amount(between.Groups["a"].Value);
            var b = Amount(between.Groups["b"].Value);
            if (a is { } x && b is { } y) (min, max) = x <= y ? (x, y) : (y, x);
            else min = a ?? b;   // one end too large to be a price: the other is the lower bound
            text = text.Remove(between.Index, between.Length).Insert(between.Index, " ");
        }
        var under = Under().Match(text);
        if (under.Success)
        {
            max = Amount(under.Groups["n"].Value);
            text = text.Remove(under.Index, under.Length).Insert(under.Index, " ");
        }
        var over = Over().Match(text);
        if (over.Success)
        {
            min = Amount(over.Groups["n"].Value);
            text = text.Remove(over.Index, over.Length).Insert(over.Index, " ");
        }
        // Why: "under 50 ... over 100" (both ends, in either order) used to give min > max, a filter
        // nothing passes; the shopper named a range, so it is read as one (found by ParserPropertyTests).
        if (min is { } lo && max is { } hi && lo > hi) (min, max) = (hi, lo);
        var cheap = Cheapest().Match(text);
        if (cheap.Success)
        {
            cheapest = true;
            text = text.Remove(cheap.Index, cheap.Length).Insert(cheap.Index, " ");
        }

        string? brand = null;
        var restrict = BrandRestriction().Match(text);
        while (restrict.Success && brand is null)
        {
            var after = text[(restrict.Index + restrict.Length)..];
            if (LongestBrandAt(after, catalog) is { } found)
            {
                brand = found.Brand;
                text = text[..restrict.Index] + " " + after[found.Length..];
            }
            restrict = restrict.NextMatch();
        }

        var words = new List<string>();
        var corrected = false;
        foreach (var token in Vocabulary.Tokens(text))
        {
            if (Filler.Contains(token)) continue;
            var word = token;
            // Only words that look like words: model numbers and short tokens are kept as typed.
            if (word.Length >= 4 && !word.Any(char.IsDigit) && !catalog.Vocabulary.Contains(word) && catalog.Vocabulary.Correct(word) is { } fix)
            {
                word = fix;
                corrected = true;
            }
            words.Add(word);
        }
        var cleaned = string.Join(' ', words);
        string? mentioned = null;
        for (var i = 0; i < words.Count && mentioned is null; i++)
            if (LongestBrandAt(string.Join(' ', words.Skip(i)), catalog) is { } m) mentioned = m.Brand;
        return new ParsedQuery(cleaned, min, max, brand, cheapest, brand ?? mentioned, corrected);
    }

    /// <summary>The longest catalog brand (up to four words) that starts <paramref name="text"/>.</summary>
    public static (string Brand, int Length)? LongestBrandAt(string text, CatalogIndex.Snapshot catalog)
    {
        var t = text.TrimStart();
        var offset = text.Length - t.Length;
        var parts = t.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (var n = Math.Min(4, parts.Length); n >= 1; n--)
        {
            var candidate = string.Join(' ', parts.Take(n)).Trim('?', '!', '.', ',', '\'');
            if (catalog.Brands.TryGetValue(candidate, out var brand))
            {
                return (brand, offset + Math.Min(t.Length, LengthOfWords(t, n)));
            }
            if (candidate.EndsWith('s') && catalog.Brands.TryGetValue(candidate[..^1], out brand))
                return (brand, offset + Math.Min(t.Length, LengthOfWords(t, n)));
        }
        return null;
    }

    private static int LengthOfWords(string t, int n)
    {
        var i = 0;
        for (var w = 0; w < n; w++)
        {
            while (i < t.Length && t[i] == ' ') i++;
            while (i < t.Length && t[i] != ' ') i++;
        }
        return i;
    }

    /// <summary>
    /// The amount, or null when it is too large for a price (why: decimal.Parse threw an
    /// OverflowException past the boundary for 30-digit numbers; such a bound means no bound).
    /// </summary>
    private static decimal? Amount(string s) =>
        decimal.TryParse(s.Replace(",", "", StringComparison.Ordinal), NumberStyles.Number, CultureInfo.InvariantCulture, out var d) ? d : null;

    [GeneratedRegex(@"\b(?:between|from)\s+\$?(?<a>\d[\d,]*(?:\.\d+)?)\s*(?:and|to|-)\s*\$?(?<b>\d[\d,]*(?:\.\d+)?)|\$(?<a>\d[\d,]*(?:\.\d+)?)\s*(?:-|to)\s*\$?(?<b>\d[\d,]*(?:\.\d+)?)")]
    private static partial Regex Between();

    [GeneratedRegex(@"(?:\b(?:under|below|less\s+than|cheaper\s+than|up\s+to|at\s+most|max(?:imum)?|no\s+more\s+than|within)\s*|<\s*)\$?(?<n>\d[\d,]*(?:\.\d+)?)\s*(?:dollars|bucks|usd)?")]
    private static partial Regex Under();

    [GeneratedRegex(@"(?:\b(?:over|above|more\s+than|at\s+least|min(?:imum)?|starting\s+at)\s*|>\s*)\$?(?<n>\d[\d,]*(?:\.\d+)?)\s*(?:dollars|bucks|usd)?")]
    private static partial Regex Over();

    [GeneratedRegex(@"\b(?:cheapest|lowest[\s-]priced?|least\s+expensive|most\s+affordable|lowest\s+price)\b")]
    private static partial Regex Cheapest();

    [GeneratedRegex(@"\b(?:only|just|by|from|brand|made\s+by)\s+")]
    private static partial Regex BrandRestriction();
}
