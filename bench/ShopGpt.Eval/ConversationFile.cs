using System.Text.Json;
using System.Text.RegularExpressions;

namespace ShopGpt.Eval;

/// <summary>
/// One shopper turn and what a correct answer must meet (the fields documented in the header of
/// ../shared/data/queries/conversations-dev.json). Regexes are already expanded from <c>defs</c>.
/// </summary>
public sealed record TurnSpec(
    string Say,
    Regex? Cat = null,
    Regex? NotCat = null,
    Regex? Name = null,
    Regex? NotName = null,
    Regex? BrandOrName = null,
    Regex? NotBrand = null,
    decimal? MaxPrice = null,
    bool CheaperThanPrev = false,
    bool CheapestOfPrev = false,
    int? CompareFirst = null,
    bool None = false)
{
    /// <summary>Whether any field constrains each shown product (as opposed to the turn as a whole).</summary>
    public bool HasProductChecks => Cat is not null || NotCat is not null || Name is not null || NotName is not null || BrandOrName is not null
                                    || NotBrand is not null || MaxPrice is not null || CheaperThanPrev;
}

public sealed record ConversationSpec(IReadOnlyList<TurnSpec> Turns);

/// <summary>Reads a conversation file; unknown turn fields are an error (a typo must not silently pass every turn).</summary>
public static partial class ConversationFile
{
    private static readonly HashSet<string> Known =
        ["say", "cat", "notCat", "name", "notName", "brandOrName", "notBrand", "maxPrice", "cheaperThanPrev", "cheapestOfPrev", "compareFirst", "none"];

    public static List<ConversationSpec> Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var defs = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("defs", out var d))
            foreach (var p in d.EnumerateObject()) defs[p.Name] = p.Value.GetString()!;
        var list = new List<ConversationSpec>();
        foreach (var c in root.GetProperty("conversations").EnumerateArray())
        {
            var turns = new List<TurnSpec>();
            foreach (var t in c.GetProperty("turns").EnumerateArray())
            {
                foreach (var p in t.EnumerateObject())
                    if (!Known.Contains(p.Name)) throw new FormatException($"unknown turn field \"{p.Name}\" in \"{t}\"");
                Regex? R(string field) => t.TryGetProperty(field, out var v) ? Pattern(v.GetString()!, defs) : null;
                bool B(string field) => t.TryGetProperty(field, out var v) && v.GetBoolean();
                turns.Add(new TurnSpec(
                    t.GetProperty("say").GetString()!,
                    R("cat"), R("notCat"), R("name"), R("notName"), R("brandOrName"), R("notBrand"),
                    t.TryGetProperty("maxPrice", out var mp) ? mp.GetDecimal() : null,
                    B("cheaperThanPrev"), B("cheapestOfPrev"),
                    t.TryGetProperty("compareFirst", out var cf) ? cf.GetInt32() : null,
                    B("none")));
            }
            list.Add(new ConversationSpec(turns));
        }
        return list;
    }

    /// <summary>A field's regex with every name from <c>defs</c> (a whole upper-case word) replaced by its regex, grouped.</summary>
    public static Regex Pattern(string value, IReadOnlyDictionary<string, string> defs)
    {
        var expanded = DefName().Replace(value, m => defs.TryGetValue(m.Value, out var r) ? "(?:" + r + ")" : m.Value);
        return new Regex(expanded, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    }

    [GeneratedRegex(@"\b[A-Z][A-Z0-9_]+\b")]
    private static partial Regex DefName();
}
