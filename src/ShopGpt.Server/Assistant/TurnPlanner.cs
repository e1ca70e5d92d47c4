using System.Text.Json;
using System.Text.RegularExpressions;
using ShopGpt.Server.Catalog;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Assistant;

public enum TurnIntent
{
    Search,
    Compare,
    Details,
    Clarify,
    NoResults,
}

/// <summary>The search a conversation is on: follow-ups ("cheaper ones?", "only Samsung") refine it.</summary>
public sealed record SearchState(string Query, decimal? MinPrice = null, decimal? MaxPrice = null, string? Brand = null, bool Cheapest = false);

/// <summary>What the turn will answer, and with which products (all from the catalog).</summary>
public sealed record TurnPlan(TurnIntent Intent, string UserText, SearchState? State, IReadOnlyList<Product> Products, string? Refinement = null);

/// <summary>
/// Reads a user message in the light of the conversation so far and decides what to do. The
/// conversation's need and the products its last answer showed come from <see cref="DialogueStore"/>
/// (one row), so a turn understands only its new message; the new state is stored once the plan
/// is made. The search runs with the extracted need (cleaned words, bounded, plus filters), never
/// with the shopper's raw text.
/// </summary>
public sealed partial class TurnPlanner(ProductSearch search, CatalogIndex index, DialogueStore dialogue)
{
    public const int ResultCount = 5;

    /// <summary>At most this many words of a message become search words: a need is a few words; a 4,000-character message must not become a 4,000-character query.</summary>
    public const int MaxSearchWords = 12;

    private static readonly HashSet<string> FollowUpFiller = new(StringComparer.Ordinal)
    {
        "ones", "one", "those", "these", "them", "that", "what", "about", "how", "any", "instead", "else", "other", "others",
        "and", "or", "so", "ok", "okay", "then", "now", "maybe", "there", "some", "show", "me", "only", "just", "please", "too",
        // How a follow-up feels about the last answer, not what it wants ("those are too expensive", "I'd prefer LG", "made by ZTE").
        "expensive", "pricey", "costly", "prefer", "rather", "made", "d", "are", "is", "something", "anything", "which", "see", "like",
    };

    public async Task<TurnPlan> PlanAsync(Guid owner, IReadOnlyList<Message> history, Message userMessage, CancellationToken ct)
    {
        var before = await dialogue.LoadAsync(owner, userMessage.ConversationId, ct) ?? FromHistory(history);
        var plan = await PlanAsync(before, userMessage.Text, ct);
        var shown = plan.Products.Count > 0 && plan.Intent is TurnIntent.Search or TurnIntent.Compare
            ? plan.Products.Select(p => new ShownRef(p.Id, p.Price)).ToList()
            : before.Shown;
        await dialogue.SaveAsync(owner, userMessage.ConversationId, userMessage.Seq, new DialogueState(plan.State ?? before.Need, shown), ct);
        return plan;
    }

    /// <summary>
    /// A conversation from before the state was stored: what its last answer showed is in that
    /// message's product list (no text is parsed); the need starts fresh.
    /// </summary>
    private static DialogueState FromHistory(IReadOnlyList<Message> history)
    {
        for (var i = history.Count - 1; i >= 0; i--)
            if (history[i].Role == "assistant" && history[i].Products is { ValueKind: JsonValueKind.Array } p)
                return new DialogueState(null, ReadRefs(p));
        return DialogueState.Empty;
    }

    public async Task<TurnPlan> PlanAsync(DialogueState before, string userText, CancellationToken ct)
    {
        var state = before.Need;
        var shown = before.Shown;
        var step = Interpret(state, shown, userText);
        switch (step.Intent)
        {
            case TurnIntent.Compare when step.Picks is { Count: >= 2 }:
                return new TurnPlan(TurnIntent.Compare, userText, state, await search.GetManyAsync(step.Picks.Select(i => shown[i].Id).ToList(), ct));
            case TurnIntent.Details when step.Picks is { Count: 1 }:
                return new TurnPlan(TurnIntent.Details, userText, state, await search.GetManyAsync([shown[step.Picks[0]].Id], ct));
            case TurnIntent.Clarify:
                var popular = step.State is null ? [] : (await RunAsync(step.State, 3, ct)).Items;
                return new TurnPlan(TurnIntent.Clarify, userText, step.State, popular);
        }

        var next = step.State!;
        var outcome = await RunAsync(next, step.Intent == TurnIntent.Compare ? 3 : ResultCount, ct);
        if (outcome.Items.Count == 0) return new TurnPlan(TurnIntent.NoResults, userText, next, [], step.Refinement);
        return new TurnPlan(step.Intent == TurnIntent.Compare && outcome.Items.Count >= 2 ? TurnIntent.Compare : TurnIntent.Search,
            userText, next, outcome.Items, step.Refinement);
    }

    private Task<SearchOutcome> RunAsync(SearchState s, int limit, CancellationToken ct) =>
        search.SearchAsync(new SearchQuery(s.Query, s.MinPrice, s.MaxPrice, s.Brand, null, limit, SearchMode.Hybrid, s.Cheapest), ct);

    private sealed record Step(TurnIntent Intent, SearchState? State, List<int>? Picks = null, string? Refinement = null);

    private Step Interpret(SearchState? prev, IReadOnlyList<ShownRef> shown, string text)
    {
        var t = " " + text.ToLowerInvariant() + " ";
        var picks = Ordinals(t, shown.Count);

        if (Compare().IsMatch(t))
        {
            if (shown.Count >= 2 && (picks.Count >= 2 || !HasOwnSubject(t)))
                return new Step(TurnIntent.Compare, prev, picks.Count >= 2 ? picks : [0, 1]);
            var subject = Compare().Replace(t, " ").Trim();
            return new Step(TurnIntent.Compare, new SearchState(subject));
        }
        if (picks.Count == 1 && shown.Count > 0 && (Details().IsMatch(t) || t.Trim().Split(' ').Length <= 4))
            return new Step(TurnIntent.Details, prev, picks);

        var catalog = index.Current;
        var parsed = QueryParser.Parse(text, catalog);
        if (prev is not null)
        {
            // Follow-ups that only change a filter keep the previous search.
            var rest = parsed.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Where(w => !FollowUpFiller.Contains(w) && !IsBrandWord(w, parsed.MentionedBrand)).ToList();
            var rawRest = Vocabulary.Tokens(text).Where(w => !FollowUpFiller.Contains(w) && !QueryParser.IsFiller(w) && !IsBrandWord(w, parsed.MentionedBrand)).ToList();
            var prices = shown.Where(p => p.Price is not null).Select(p => p.Price!.Value).Order().ToList();
            if (Cheaper().IsMatch(t) && rawRest.All(w => Cheaper().IsMatch(" " + w + " ") || w is "than" or "price" or "prices"))
            {
                var median = prices.Count > 0 ? prices[prices.Count / 2] : (decimal?)null;
                var max = median is null ? prev.MaxPrice : Math.Min(median.Value - 0.01m, prev.MaxPrice ?? decimal.MaxValue);
                return new Step(TurnIntent.Search, prev with { MaxPrice = max, Cheapest = false }, Refinement: "cheaper");
            }
            if (Pricier().IsMatch(t) && rawRest.All(w => Pricier().IsMatch(" " + w + " ") || w is "than" or "price" or "prices"))
            {
                var median = prices.Count > 0 ? prices[prices.Count / 2] : (decimal?)null;
                return new Step(TurnIntent.Search, prev with { MinPrice = median is null ? prev.MinPrice : median + 0.01m, MaxPrice = null, Cheapest = false }, Refinement: "pricier");
            }
            if (rest.Count == 0)
            {
                var brand = parsed.Brand ?? parsed.MentionedBrand;
                if (brand is not null || parsed.MinPrice is not null || parsed.MaxPrice is not null || parsed.Cheapest)
                    return new Step(TurnIntent.Search, prev with
                    {
                        Brand = brand ?? prev.Brand,
                        MinPrice = parsed.MinPrice ?? (parsed.MaxPrice is not null ? null : prev.MinPrice),
                        MaxPrice = parsed.MaxPrice ?? (parsed.MinPrice is not null ? null : prev.MaxPrice),
                        Cheapest = parsed.Cheapest || prev.Cheapest,
                    }, Refinement: brand is not null ? "brand" : "price");
            }
        }

        var words = parsed.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var filtered = parsed.MinPrice is not null || parsed.MaxPrice is not null || parsed.Brand is not null || parsed.Cheapest;
        if (words.Length == 0 && !filtered) return new Step(TurnIntent.Clarify, null);
        var fresh = new SearchState(string.Join(' ', words.Take(MaxSearchWords)), parsed.MinPrice, parsed.MaxPrice, parsed.Brand, parsed.Cheapest);
        if (words.Length == 1 && !filtered && Broad.Contains(words[0])) return new Step(TurnIntent.Clarify, fresh);
        return new Step(TurnIntent.Search, fresh);
    }

    // One generic word says too little to recommend well: ask, and show a few popular picks.
    private static readonly HashSet<string> Broad = new(StringComparer.Ordinal)
    {
        "phone", "phones", "cell", "case", "cases", "accessory", "accessories", "charger", "chargers", "gift", "gifts", "stuff", "products",
        "product", "something", "kitchen", "home", "beauty", "tools", "baby", "electronics", "cheap", "deal", "deals",
    };

    private static bool IsBrandWord(string w, string? brand) =>
        brand is not null && brand.ToLowerInvariant().Split(' ').Any(b => b == w || b + "s" == w);

    private static bool HasOwnSubject(string t) =>
        Compare().Replace(Ordinal().Replace(t, " "), " ").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Any(w => w.Length > 3 && w is not "them" and not "these" and not "those" and not "ones" and not "products" and not "options");

    /// <summary>Positions the shopper points at: "the second", "#3", "first two", "1 and 3", "last one", "both".</summary>
    private static List<int> Ordinals(string t, int count)
    {
        var picks = new List<int>();
        var firstN = FirstN().Match(t);
        if (firstN.Success)
        {
            var n = Word(firstN.Groups["n"].Value);
            for (var i = 0; i < n && i < count; i++) picks.Add(i);
            return picks;
        }
        if (Both().IsMatch(t) && count >= 2) return [0, 1];
        foreach (Match m in Ordinal().Matches(t))
        {
            var v = m.Groups["w"].Value;
            var i = v == "last" ? count - 1 : Word(v.TrimStart('#')) - 1;
            if (i >= 0 && i < count && !picks.Contains(i)) picks.Add(i);
        }
        return picks;
    }

    private static int Word(string w) => w switch
    {
        "first" or "1st" or "one" or "1" => 1,
        "second" or "2nd" or "two" or "2" => 2,
        "third" or "3rd" or "three" or "3" => 3,
        "fourth" or "4th" or "four" or "4" => 4,
        "fifth" or "5th" or "five" or "5" => 5,
        _ => 0,
    };

    private static List<ShownRef> ReadRefs(JsonElement products)
    {
        var list = new List<ShownRef>();
        foreach (var p in products.EnumerateArray())
        {
            if (!p.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String) continue;
            decimal? price = p.TryGetProperty("price", out var pr) && pr.ValueKind == JsonValueKind.Number ? pr.GetDecimal() : null;
            list.Add(new ShownRef(id.GetString()!, price));
        }
        return list;
    }

    [GeneratedRegex(@"\b(?:compare|comparison|vs\.?|versus|difference|differences|which\s+is\s+better|which\s+one\s+is\s+better)\b")]
    private static partial Regex Compare();

    [GeneratedRegex(@"\b(?:tell\s+me\s+more|more\s+about|more\s+on|details?|more\s+info|information|describe|specs?|what\s+about|about\s+the|how\s+about)\b")]
    private static partial Regex Details();

    [GeneratedRegex(@"\b(?:cheaper|cheap|too\s+(?:expensive|pricey|costly|much)|less\s+expensive|lower[\s-]priced?|more\s+affordable|affordable|budget|inexpensive|less)\b")]
    private static partial Regex Cheaper();

    [GeneratedRegex(@"\b(?:pricier|more\s+expensive|premium|higher[\s-]end|fancier|expensive|more)\b")]
    private static partial Regex Pricier();

    [GeneratedRegex(@"\b(?:first|top)\s+(?<n>two|three|four|five|2|3|4|5)\b")]
    private static partial Regex FirstN();

    [GeneratedRegex(@"\b(?:both|these\s+two|those\s+two|the\s+two)\b")]
    private static partial Regex Both();

    [GeneratedRegex(@"(?:\b(?<w>first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th|last)\b|(?<w>#[1-5])\b|\b(?:number|no\.?|option|item)\s*(?<w>[1-5])\b|\b(?<w>[1-5])\s*(?:and|&|,)\s*|\band\s+(?<w>[1-5])\b)")]
    private static partial Regex Ordinal();
}
