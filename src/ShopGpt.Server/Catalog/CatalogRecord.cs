using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace ShopGpt.Server.Catalog;

/// <summary>One normalised product from an import file, before it is stored.</summary>
public sealed record CatalogRecord(
    string Id,
    string Source,
    string Name,
    string Description,
    string? Brand,
    string[] Categories,
    decimal? Price,
    float? Rating,
    int? ReviewCount,
    string? ImageUrl,
    string? Url,
    int? Popularity)
{
    public string CategoryPath => string.Join(" > ", Categories);

    /// <summary>SHA-256 over every stored field: equal hash = nothing to write and nothing to re-embed.</summary>
    public byte[] ContentHash()
    {
        var sb = new StringBuilder();
        foreach (var part in new[]
                 {
                     Source, Name, Description, Brand ?? "\0", CategoryPath,
                     Price?.ToString(CultureInfo.InvariantCulture) ?? "\0",
                     Rating?.ToString(CultureInfo.InvariantCulture) ?? "\0",
                     ReviewCount?.ToString(CultureInfo.InvariantCulture) ?? "\0",
                     ImageUrl ?? "\0", Url ?? "\0", Popularity?.ToString(CultureInfo.InvariantCulture) ?? "\0",
                 })
            sb.Append(part).Append('\u001f');
        return SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString()));
    }

    /// <summary>
    /// The text MiniLM embeds: what a shopper searches for (name, brand, category). The description
    /// is left out: it multiplies the tokens (and model time, ~5x) while adding mostly marketing noise.
    /// </summary>
    public string EmbeddingText() => $"{Name}. {Brand}. {CategoryPath}";
}

/// <summary>
/// Reads the accepted import formats (docs/catalog.md): the Best Buy JSON array, the Amazon
/// JSON array, and ShopGPT JSON lines (one product object per line). The shape is detected per
/// record, so a directory may mix files.
/// </summary>
public static partial class CatalogReader
{
    public static IEnumerable<string> Files(string path)
    {
        if (File.Exists(path)) return [path];
        if (!Directory.Exists(path)) throw new FileNotFoundException($"No catalog file or directory at {path}.");
        return Directory.EnumerateFiles(path)
            .Where(f => f.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal);
    }

    /// <summary>Reads every record of a file or directory; records without a usable id or name are counted as skipped.</summary>
    public static List<CatalogRecord> Read(string path, out int skipped)
    {
        skipped = 0;
        var list = new List<CatalogRecord>();
        foreach (var file in Files(path))
        {
            var lines = file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? null : File.ReadLines(file);
            if (lines is null)
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(file), new JsonDocumentOptions { AllowTrailingCommas = true });
                var items = doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement.EnumerateArray().ToList() : [doc.RootElement];
                foreach (var e in items)
                    if (Normalise(e) is { } r) list.Add(r);
                    else skipped++;
            }
            else
            {
                foreach (var line in lines)
                {
                    if (string.IsNullOrWhiteSpace(line)) continue;
                    try
                    {
                        using var doc = JsonDocument.Parse(line);
                        if (Normalise(doc.RootElement) is { } r) list.Add(r);
                        else skipped++;
                    }
                    catch (JsonException)
                    {
                        skipped++;
                    }
                }
            }
        }
        return list;
    }

    /// <summary>Maps one JSON object of any accepted shape to a record, or null when it has no id or name.</summary>
    public static CatalogRecord? Normalise(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) return null;
        // Amazon (meilisearch ecommerce demo): id + title + images[] + reviews_count.
        if (e.TryGetProperty("title", out _) && e.TryGetProperty("id", out _) && !e.TryGetProperty("name", out _))
        {
            var id = Str(e, "id");
            var title = Clean(Str(e, "title"));
            if (id is null || title.Length == 0) return null;
            var category = Str(e, "category");
            string? image = null;
            if (e.TryGetProperty("images", out var imgs) && imgs.ValueKind == JsonValueKind.Array)
                image = imgs.EnumerateArray().Select(i => i.ValueKind == JsonValueKind.String ? i.GetString() : null).FirstOrDefault(s => !string.IsNullOrWhiteSpace(s));
            return new CatalogRecord("amz-" + id, "amazon", title, CleanDescription(Str(e, "description") ?? Str(e, "contents")),
                Brand(e), category is null ? [] : [Clean(category)],
                Positive(Num(e, "price")), (float?)Positive(Num(e, "rating")), Count(e, "reviews_count"),
                image, Str(e, "url"), null);
        }
        // Best Buy (Algolia demo): name + image + categories[], no id: the SKU is the image file name.
        if (e.TryGetProperty("name", out _) && e.TryGetProperty("image", out _) && !e.TryGetProperty("id", out _))
        {
            var name = Clean(Str(e, "name"));
            var image = Str(e, "image");
            var sku = image is null ? null : SkuFromImage().Match(image) is { Success: true } m ? m.Groups[1].Value : null;
            if (sku is null || name.Length == 0) return null;
            return new CatalogRecord("bb-" + sku, "bestbuy", name, CleanDescription(Str(e, "description")),
                Brand(e), Categories(e), Positive(Num(e, "price")), null, null, image,
                Str(e, "url"), Count(e, "popularity"));
        }
        // ShopGPT lines: the API's Product fields (docs/catalog.md).
        {
            var id = Str(e, "id");
            var name = Clean(Str(e, "name"));
            if (string.IsNullOrWhiteSpace(id) || name.Length == 0 || id.Length > 200) return null;
            return new CatalogRecord(id.Trim(), "jsonl", name, CleanDescription(Str(e, "description")),
                Brand(e), Categories(e), Positive(Num(e, "price")), (float?)Positive(Num(e, "rating")),
                Count(e, "reviewCount"), Str(e, "imageUrl"), Str(e, "url"), Count(e, "popularity"));
        }
    }

    /// <summary>Amazon descriptions are "|"-separated fragments with boilerplate; keep the sentences.</summary>
    public static string CleanDescription(string? raw)
    {
        if (string.IsNullOrWhiteSpace(raw)) return "";
        var parts = raw.Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(Clean)
            .Select(p => Boilerplate().Replace(p, "").Trim())
            .Where(p => p.Length > 1)
            .Select(p => char.IsLetterOrDigit(p[^1]) ? p + "." : p);
        return string.Join(" ", parts);
    }

    private static string Clean(string? s) =>
        s is null ? "" : Spaces().Replace(WebUtility.HtmlDecode(s), " ").Trim();

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    // "Insignia™" and "Insignia" are one brand to a shopper typing it.
    private static string? Brand(JsonElement e) => NullIfEmpty(Clean(Str(e, "brand")?.Replace("™", "", StringComparison.Ordinal).Replace("®", "", StringComparison.Ordinal)));

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static decimal? Num(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDecimal(out var d)) return d;
        if (v.ValueKind == JsonValueKind.String && decimal.TryParse(v.GetString()?.Trim().TrimStart('$'), NumberStyles.Number, CultureInfo.InvariantCulture, out d)) return d;
        return null;
    }

    // Zero or negative means "not known" in these files (data README): never store an invented 0.
    private static decimal? Positive(decimal? d) => d is > 0 and < 10_000_000 ? Math.Round(d.Value, 2) : null;

    private static int? Count(JsonElement e, string name) =>
        Num(e, name) is { } d && d >= 0 && d <= int.MaxValue ? (int)d : null;

    private static string[] Categories(JsonElement e)
    {
        if (e.TryGetProperty("categories", out var c) && c.ValueKind == JsonValueKind.Array)
            return c.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => Clean(x.GetString())).Where(x => x.Length > 0).ToArray();
        if (Str(e, "category") is { } one)
            return one.Split('>', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return [];
    }

    [GeneratedRegex(@"/(\d+)_[^/]*$")]
    private static partial Regex SkuFromImage();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    [GeneratedRegex(@"Make sure this fits by entering your model number\.?", RegexOptions.IgnoreCase)]
    private static partial Regex Boilerplate();
}
