using ShopGpt.Server.Catalog;

namespace ShopGpt.Server.Assistant;

/// <summary>
/// <c>GET /api/products/compare?ids=a,b[,c,d]</c>: the assistant's comparison (rows + verdict,
/// <see cref="ProductComparison"/>) for any products, so the web client's shortlist compares with
/// the same table the chat shows (docs/protocol.md, "Product comparison").
/// </summary>
public static class CompareEndpoints
{
    public static void MapComparison(this IEndpointRouteBuilder app) =>
        app.MapGroup("/api/products").RequireAuthorization().RequireRateLimiting(Http.RateLimiting.UserPolicy).MapGet("/compare", CompareAsync);

    private static async Task<IResult> CompareAsync(ProductSearch search, string? ids, CancellationToken ct)
    {
        var list = (ids ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal).ToList();
        if (list.Count is < 2 or > ProductComparison.MaxItems || list.Any(i => i.Length > 100))
            return Http.ApiProblem.BadRequest("bad_ids", $"ids must list 2 to {ProductComparison.MaxItems} product ids, comma-separated.");
        var found = await search.GetManyAsync(list, ct);
        if (found.Count != list.Count) return Http.ApiProblem.NotFound("product");
        return TypedResults.Ok(ProductComparison.Build(found));
    }
}
