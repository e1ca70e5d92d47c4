using System.Globalization;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Http;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Conversations;

public sealed record ExportedConversation(Guid Id, string Title, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record ConversationExportDocument(int Version, DateTimeOffset ExportedAt, ExportedConversation Conversation, IReadOnlyList<Message> Messages, bool Truncated);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ConversationExportDocument))]
public sealed partial class ExportJsonContext : JsonSerializerContext;

/// <summary>
/// <c>GET /api/conversations/{id}/export?format=markdown|json</c> (issue 19): the whole
/// conversation as a download, owner only (another user's is 404 like every conversation call).
/// JSON carries the stored messages as API.md's Message (products shown included); Markdown is
/// for reading. Bounded: at most <see cref="MaxMessages"/> messages (the rest is flagged, not dropped silently).
/// </summary>
public static class ConversationExport
{
    public const int MaxMessages = 10_000;
    private const int PageSize = 500;

    public static void MapConversationExport(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/conversations/{id:guid}/export", ExportAsync).RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);

    private static async Task<IResult> ExportAsync(ClaimsPrincipal user, ConversationStore store, MessageReader reader, Guid id, string? format, CancellationToken ct)
    {
        format ??= "json";
        if (format is not ("json" or "markdown" or "md"))
            return ApiProblem.BadRequest("bad_format", "format must be json or markdown.");
        var userId = user.UserId();
        if (await store.GetAsync(userId, id, ct) is not { } c) return ApiProblem.NotFound();

        var messages = new List<Message>();
        long after = 0;
        while (messages.Count < MaxMessages)
        {
            var page = await reader.MessagesAfterAsync(userId, id, after, Math.Min(PageSize, MaxMessages - messages.Count), ct);
            messages.AddRange(page);
            if (page.Count == 0 || page.Count < PageSize) break;
            after = page[^1].Seq;
        }
        var truncated = messages.Count >= MaxMessages && c.LastSeq > messages[^1].Seq;
        var doc = new ConversationExportDocument(1, DateTimeOffset.UtcNow, new ExportedConversation(c.Id, c.Title, c.CreatedAt, c.UpdatedAt), messages, truncated);
        var name = FileName(c.Title);
        if (format == "json")
            return TypedResults.File(JsonSerializer.SerializeToUtf8Bytes(doc, ExportJsonContext.Default.ConversationExportDocument),
                "application/json; charset=utf-8", name + ".json");
        return TypedResults.File(Encoding.UTF8.GetBytes(Markdown(doc)), "text/markdown; charset=utf-8", name + ".md");
    }

    /// <summary>A safe download name from the title (letters, digits, dashes), never empty.</summary>
    internal static string FileName(string title)
    {
        var sb = new StringBuilder();
        foreach (var ch in title.ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(ch)) sb.Append(ch);
            else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
            if (sb.Length >= 60) break;
        }
        var s = sb.ToString().Trim('-');
        return "shopgpt-" + (s.Length == 0 ? "conversation" : s);
    }

    internal static string Markdown(ConversationExportDocument doc)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("# ").AppendLine(OneLine(doc.Conversation.Title)).AppendLine();
        sb.Append(inv, $"_Exported from ShopGPT on {doc.ExportedAt:yyyy-MM-dd HH:mm} UTC · {doc.Messages.Count} messages_").AppendLine().AppendLine();
        foreach (var m in doc.Messages)
        {
            var who = m.Role == "user" ? "You" : "ShopGPT";
            sb.Append(inv, $"## {who} · {m.CreatedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC");
            if (m.Status != "complete") sb.Append(" (").Append(m.Status).Append(')');
            sb.AppendLine().AppendLine();
            sb.AppendLine(m.Text.TrimEnd()).AppendLine();
            if (m.Products is { ValueKind: JsonValueKind.Array } products && products.GetArrayLength() > 0)
            {
                sb.AppendLine("Products shown:").AppendLine();
                foreach (var p in products.EnumerateArray()) sb.Append("- ").AppendLine(ProductLine(p));
                sb.AppendLine();
            }
        }
        if (doc.Truncated) sb.AppendLine(inv, $"_Only the first {MaxMessages} messages are included._");
        return sb.ToString();
    }

    private static string ProductLine(JsonElement p)
    {
        string? Str(string name) => p.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var name = OneLine(Str("name") ?? Str("id") ?? "product");
        var url = Str("url");
        var parts = new List<string>
        {
            // Only a link the catalog carries, and only http(s): the export must not carry a script URL.
            url is not null && (url.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
                ? $"[{name.Replace("]", "\\]", StringComparison.Ordinal)}]({url.Replace(")", "%29", StringComparison.Ordinal)})"
                : name,
        };
        if (Str("brand") is { } brand) parts.Add(OneLine(brand));
        if (p.TryGetProperty("price", out var price) && price.ValueKind == JsonValueKind.Number)
            parts.Add(Assistant.ProductComparison.Money(price.GetDecimal()));
        if (p.TryGetProperty("rating", out var rating) && rating.ValueKind == JsonValueKind.Number)
            parts.Add(rating.GetDouble().ToString("0.0", CultureInfo.InvariantCulture) + "★");
        return string.Join(" — ", parts);
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
