using System.ComponentModel;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using ShopGpt.Server.Catalog;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Assistant;

/// <summary>
/// The one place for what a model is told: the system prompt, the grounding context and the
/// <c>search_products</c> tool. Every provider gets the same messages.
/// </summary>
public static class AssistantPrompt
{
    public const string PlanKey = "shopgpt.plan";
    public const string ToolName = "search_products";

    public const string System =
        """
        You are ShopGPT, a shopping assistant for one online shop. Recommend products only from this shop's catalog.
        Rules:
        - Mention only products, prices, ratings and facts that appear in the catalog results you were given or that
          search_products returned. Never invent a product, price, rating, feature or stock level. If a fact is not in the
          results, say you don't know it.
        - Call search_products when the shopper asks for something the provided results do not cover.
        - Write product names in **bold**, exactly as the catalog spells them. Give prices as $12.34.
        - Format: short paragraphs, "- " bullets for lists, a pipe table when comparing products. No headings, no links.
        - Be brief and helpful: say why each product fits. Ask one clarifying question when the request is too broad.
        """;

    public const string ToolDescription =
        "Search the shop's catalog. Returns up to 8 products with id, name, brand, category, price (null if unknown), rating and review count.";

    /// <summary>The conversation for the model: system prompt, recent turns, the retrieved products, the new message.</summary>
    public static List<ChatMessage> Build(IReadOnlyList<Message> history, string userText, TurnPlan plan)
    {
        var messages = new List<ChatMessage> { new(ChatRole.System, System) };
        foreach (var m in history.TakeLast(8))
            messages.Add(new ChatMessage(m.Role == "user" ? ChatRole.User : ChatRole.Assistant, m.Text));
        var context = new StringBuilder("Catalog results for the shopper's next message (JSON; use only these facts unless you search again):\n");
        context.Append(JsonSerializer.Serialize(plan.Products.Select(Compact).ToList(), AssistantJsonContext.Default.ListToolProduct));
        if (plan.Intent == TurnIntent.Compare) context.Append("\nThe shopper wants these products compared: use a table.");
        messages.Add(new ChatMessage(ChatRole.System, context.ToString()));
        messages.Add(new ChatMessage(ChatRole.User, userText));
        return messages;
    }

    public static ToolProduct Compact(Product p) =>
        new(p.Id, p.Name, p.Brand, p.CategoryPath, p.Price, p.Rating, p.ReviewCount, p.Description.Length > 300 ? p.Description[..300] : p.Description);

    /// <summary>The search_products tool; products it returns are added to the turn's product list.</summary>
    public static AIFunction SearchTool(ProductSearch search, Action<IReadOnlyList<Product>> found) =>
        AIFunctionFactory.Create(
            async ([Description("What the shopper is looking for, in words; may include a budget such as 'under $50'")] string query,
                [Description("Lowest price in dollars, if the shopper gave one")] decimal? minPrice = null,
                [Description("Highest price in dollars, if the shopper gave one")] decimal? maxPrice = null,
                [Description("Brand to restrict to, if the shopper asked for one")] string? brand = null,
                CancellationToken ct = default) =>
            {
                var outcome = await search.SearchAsync(new SearchQuery(query, minPrice, maxPrice, brand, null, 8), ct);
                found(outcome.Items);
                return JsonSerializer.Serialize(outcome.Items.Select(Compact).ToList(), AssistantJsonContext.Default.ListToolProduct);
            },
            ToolName,
            ToolDescription);
}

/// <summary>A product as a model sees it (short description, no image or url).</summary>
public sealed record ToolProduct(string Id, string Name, string? Brand, string Category, decimal? Price, float? Rating, int? ReviewCount, string Description);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<ToolProduct>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(DialogueState))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Comparison))]
public sealed partial class AssistantJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
