using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using ShopGpt.Server.Catalog;

namespace ShopGpt.Server.Assistant;

/// <summary>
/// The built-in provider (<c>Assistant:Provider = catalog</c>): no model, so <c>./shopgpt up</c>
/// works offline. It writes the answer from the turn's plan — only products the orchestrator
/// retrieved, only their catalog facts — and streams it in small chunks like a model would.
/// Bold text is reserved for product names, exactly as the catalog spells them.
/// </summary>
public sealed class CatalogResponder(TimeSpan chunkDelay) : IChatClient
{
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var sb = new StringBuilder();
        await foreach (var u in GetStreamingResponseAsync(messages, options, cancellationToken)) sb.Append(u.Text);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, sb.ToString()));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var plan = options?.AdditionalProperties?.TryGetValue(AssistantPrompt.PlanKey, out var p) == true ? p as TurnPlan : null;
        var text = plan is null ? "I can help you find products from this shop. What are you looking for?" : Write(plan);
        foreach (var chunk in Chunks(text))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return new ChatResponseUpdate(ChatRole.Assistant, chunk);
            if (chunkDelay > TimeSpan.Zero) await Task.Delay(chunkDelay, cancellationToken);
            else await Task.Yield();
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }

    /// <summary>A few words per chunk, whitespace kept, so the concatenation is the exact text.</summary>
    public static IEnumerable<string> Chunks(string text, int words = 3)
    {
        var start = 0;
        var count = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is ' ' or '\n' && ++count == words)
            {
                yield return text[start..(i + 1)];
                start = i + 1;
                count = 0;
            }
        }
        if (start < text.Length) yield return text[start..];
    }

    public static string Write(TurnPlan plan)
    {
        var v = Variant(plan.UserText);
        var sb = new StringBuilder();
        switch (plan.Intent)
        {
            case TurnIntent.Clarify:
                sb.Append(Pick(v, "That's a broad one — I can narrow it down quickly.", "Happy to help! A little more detail will get you better picks.",
                    "Sure — let's find the right thing."));
                sb.Append("\n\nWhat will you use it for (for example, which phone model), and do you have a budget in mind? ");
                sb.Append("You can say things like \"a case for iPhone 7 under 40 dollars\" or \"cheapest Samsung charger\".");
                if (plan.Products.Count > 0)
                {
                    sb.Append("\n\nMeanwhile, these are popular right now:\n");
                    foreach (var p in plan.Products) sb.Append("- ").Append(Bold(p)).Append(" — ").Append(PriceText(p)).Append('\n');
                }
                break;

            case TurnIntent.NoResults:
                sb.Append(Pick(v, "I couldn't find anything in the catalog that matches", "Nothing in the catalog matches", "I came up empty for"));
                sb.Append(plan.Refinement is null ? " that." : " that refinement.");
                sb.Append(" Try fewer words, another brand, or a wider price range — or tell me what you need it for.");
                break;

            case TurnIntent.Details:
                WriteDetails(sb, plan.Products[0], v);
                break;

            case TurnIntent.Compare:
                WriteComparison(sb, plan.Products, v);
                break;

            default:
                WriteList(sb, plan, v);
                break;
        }
        return sb.ToString().TrimEnd();
    }

    private static void WriteList(StringBuilder sb, TurnPlan plan, int v)
    {
        var items = plan.Products;
        sb.Append(plan.Refinement switch
        {
            "cheaper" => Pick(v, "Here are lower-priced options:", "Sure — these cost less:", "Cheaper picks:"),
            "pricier" => Pick(v, "Here are higher-end options:", "Stepping up in price:", "More premium picks:"),
            "brand" => $"Here's what I found from {plan.State?.Brand}:",
            "price" => Pick(v, "Here's what fits that budget:", "Within that price range:", "These fit the budget:"),
            _ => plan.State?.Cheapest == true
                ? Pick(v, "Here are the lowest-priced matches:", "Cheapest first:", "Sorted by price, lowest first:")
                : Pick(v, $"Here are {items.Count} picks from the catalog:", $"I found {items.Count} good matches:", $"These {items.Count} look like a good fit:"),
        });
        sb.Append("\n\n");
        var words = Vocabulary.Tokens(plan.State?.Query ?? plan.UserText).Where(w => w.Length > 2 && !QueryParser.IsFiller(w)).ToHashSet();
        for (var i = 0; i < items.Count; i++)
        {
            var p = items[i];
            sb.Append("- ").Append(Bold(p)).Append(" — ").Append(PriceText(p));
            if (RatingText(p) is { } r) sb.Append(", ").Append(r);
            sb.Append(". ").Append(Why(p, words, i, v)).Append('\n');
        }
        var top = items[0];
        var cheapest = items.Where(p => p.Price is not null).MinBy(p => p.Price);
        var best = items.Where(p => p.Rating is not null).MaxBy(p => p.Rating);
        sb.Append('\n');
        if (best is not null && items.Count > 1)
            sb.Append(Pick(v, $"Best rated here: {Bold(best)}.", $"Shoppers rate {Bold(best)} highest of these.", $"Top rating: {Bold(best)}.")).Append(' ');
        else if (cheapest is not null && cheapest != top && items.Count > 1)
            sb.Append(Pick(v, $"Lowest price here: {Bold(cheapest)}.", $"On a budget? {Bold(cheapest)} costs the least.", $"{Bold(cheapest)} is the least expensive.")).Append(' ');
        var brand = top.Brand ?? "a brand";
        sb.Append(Pick(v + 1, $"Want cheaper ones, only {brand}, or to compare the first two?",
            "I can compare the first two, or tell you more about any of them.",
            $"Say \"cheaper ones\", \"only {brand}\" or \"tell me more about the second\" to refine."));
    }

    private static void WriteDetails(StringBuilder sb, Product p, int v)
    {
        sb.Append(Bold(p));
        if (p.Brand is not null) sb.Append(" by ").Append(p.Brand);
        sb.Append(" — ").Append(PriceText(p));
        if (RatingText(p) is { } r) sb.Append(", ").Append(r);
        sb.Append(".\n\n");
        if (p.Categories.Length > 0) sb.Append("Category: ").Append(p.CategoryPath).Append(".\n\n");
        var desc = FirstSentences(p.Description, 3);
        sb.Append(desc.Length > 0 ? desc : Pick(v, "The catalog has no description for it.", "There's no description in the catalog for this one.", "No description is listed."));
        sb.Append("\n\n").Append(Pick(v, "Want me to compare it with the others?", "Shall I find similar ones that cost less?", "Anything else you'd like to know?"));
    }

    private static void WriteComparison(StringBuilder sb, IReadOnlyList<Product> items, int v)
    {
        sb.Append(Pick(v, "Here's how they compare:", "Side by side:", "A quick comparison:")).Append("\n\n");
        sb.Append(ProductComparison.Markdown(ProductComparison.Build(items))).Append(' ');
        sb.Append(Pick(v, "Tell me what matters most and I'll pick one.", "Want more detail on one of them?", "Which way are you leaning?"));
    }

    private static string Why(Product p, HashSet<string> words, int i, int v)
    {
        var matched = Vocabulary.Tokens(p.Name).Where(words.Contains).Distinct().Take(3).ToList();
        var category = p.Categories.Length > 0 ? p.Categories[^1] : null;
        if (i == 0 && matched.Count > 0)
            return Pick(v, $"The closest match for \"{string.Join(' ', matched)}\".", "The best match for what you asked.", "Matches your request most closely.");
        if (category is not null && (p.Brand is not null))
            return Pick(v + i, $"From {p.Brand}, in {category}.", $"A {p.Brand} option in {category}.", $"{category}, by {p.Brand}.");
        if (category is not null) return $"In {category}.";
        return "Also a good match.";
    }

    private static string Bold(Product p) => "**" + p.Name.Replace("*", "", StringComparison.Ordinal) + "**";

    public static string PriceText(Product p) => p.Price is null ? "price not listed" : "$" + p.Price.Value.ToString("0.00", CultureInfo.InvariantCulture);

    private static string? RatingText(Product p) =>
        p.Rating is null ? null
        : p.ReviewCount is > 0 ? $"rated {p.Rating.Value.ToString("0.#", CultureInfo.InvariantCulture)}/5 by {p.ReviewCount} shoppers"
        : $"rated {p.Rating.Value.ToString("0.#", CultureInfo.InvariantCulture)}/5";

    private static string FirstSentences(string text, int n)
    {
        var count = 0;
        for (var i = 0; i < text.Length; i++)
            if (text[i] is '.' or '!' or '?' && (i + 1 == text.Length || text[i + 1] == ' ') && ++count == n)
                return text[..(i + 1)];
        return text.Length > 600 ? text[..600] + "…" : text;
    }

    // Deterministic variety: the same question reads the same, different questions read differently.
    private static int Variant(string s)
    {
        var h = 17;
        foreach (var c in s) h = unchecked(h * 31 + c);
        return h & 0x7fffffff;
    }

    private static string Pick(int v, params string[] options) => options[v % options.Length];
}
