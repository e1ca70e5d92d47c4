using System.Text.Json;
using System.Text.Json.Serialization;

namespace ShopGpt.Server.Catalog;

/// <summary>A product as API.md's <c>Product</c>; unknown price/rating/review count are null, never 0.</summary>
public sealed record Product(
    string Id,
    string Name,
    string Description,
    string? Brand,
    string[] Categories,
    decimal? Price,
    float? Rating,
    int? ReviewCount,
    string? ImageUrl,
    string? Url)
{
    public string CategoryPath => string.Join(" > ", Categories);

    public ProductRef ToRef() => new(Id, Name, Brand, Price, Rating, ReviewCount, ImageUrl, Url);
}

/// <summary>What an assistant message carries per product (the web client renders these).</summary>
public sealed record ProductRef(string Id, string Name, string? Brand, decimal? Price, float? Rating, int? ReviewCount, string? ImageUrl, string? Url);

public sealed record SearchResponse(IReadOnlyList<Product> Items, [property: JsonPropertyName("took_ms")] double TookMs);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(Product))]
[JsonSerializable(typeof(SearchResponse))]
[JsonSerializable(typeof(ProductRef[]))]
[JsonSerializable(typeof(List<ProductRef>))]
public sealed partial class CatalogJsonContext : JsonSerializerContext;
