using System.Diagnostics;
using System.Globalization;
using ShopGpt.Server.Http;

namespace ShopGpt.Server.Catalog;

/// <summary>API.md "Catalog": product search and product by id; plus the catalog services.</summary>
public static class CatalogEndpoints
{
    public const int MaxQueryLength = 200;
    public const int MaxLimit = 50;

    public static void AddCatalog(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<CatalogOptions>().BindConfiguration("Catalog").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<EmbeddingModel>();
        builder.Services.AddSingleton<QueryEncoder>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<QueryEncoder>());
        builder.Services.AddSingleton<CatalogIndex>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CatalogIndex>());
        builder.Services.AddSingleton<CatalogImporter>();
        builder.Services.AddSingleton<ProductSearch>();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(CatalogJsonContext.Default));
    }

    /// <summary>Before serving: seed an empty catalog (first start) and load the search index.</summary>
    public static async Task PrepareCatalogAsync(this WebApplication app, CancellationToken ct)
    {
        await app.Services.GetRequiredService<CatalogImporter>().SeedIfEmptyAsync(ct);
        var index = app.Services.GetRequiredService<CatalogIndex>();
        await index.ReloadAsync(ct);
        // Load the query model before serving: its first call reads the ONNX file and builds the
        // session (hundreds of ms), which the first shoppers after a deploy used to wait for
        // (bench assistant from a cold start: turn 1 at ~300 ms p50 against ~60 ms warm).
        if (index.Current.EmbeddedCount > 0)
            await Task.Factory.StartNew(() => app.Services.GetRequiredService<EmbeddingModel>().EncodeQueries(["warm up"]), ct,
                TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public static void MapCatalog(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api/products").RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);
        g.MapGet("/search", SearchAsync);
        g.MapGet("/{id}", GetAsync);
    }

    private static async Task<IResult> SearchAsync(ProductSearch search, string? q, string? minPrice, string? maxPrice, string? brand,
        string? category, string? limit, string? mode, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        if (q is { Length: > MaxQueryLength }) return ApiProblem.BadRequest("bad_query", $"q must be at most {MaxQueryLength} characters.");
        if (!TryPrice(minPrice, out var min) || !TryPrice(maxPrice, out var max))
            return ApiProblem.BadRequest("bad_price", "minPrice and maxPrice must be non-negative numbers.");
        if (min is not null && max is not null && min > max) return ApiProblem.BadRequest("bad_price_range", "minPrice must not exceed maxPrice.");
        if (!Shared.QueryLimits.TryParse(limit, 10, MaxLimit, out var n, out var error)) return error!;
        if (brand is { Length: > 100 } || category is { Length: > 200 }) return ApiProblem.BadRequest("bad_filter", "brand or category is too long.");
        // Why: PostgreSQL text cannot hold NUL (22021), so a %00 in any searched string used to reach
        // the database and come back as a 500 (found by SearchFuzzTests).
        if (HasNul(q) || HasNul(brand) || HasNul(category)) return ApiProblem.BadRequest("bad_query", "q, brand and category must not contain NUL characters.");
        var searchMode = SearchMode.Hybrid;
        if (mode is not null && !Enum.TryParse(mode, ignoreCase: true, out searchMode) || !Enum.IsDefined(searchMode))
            return ApiProblem.BadRequest("bad_mode", "mode must be hybrid, lexical or semantic.");
        var outcome = await search.SearchAsync(new SearchQuery(q, min, max, string.IsNullOrWhiteSpace(brand) ? null : brand, category, n, searchMode), ct);
        return TypedResults.Ok(new SearchResponse(outcome.Items, Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 2)));
    }

    private static async Task<IResult> GetAsync(ProductSearch search, string id, CancellationToken ct) =>
        id.Length > 200 || await search.GetAsync(id, ct) is not { } p ? ApiProblem.NotFound("product") : TypedResults.Ok(p);

    private static bool HasNul(string? s) => s is not null && s.Contains('\0', StringComparison.Ordinal);

    private static bool TryPrice(string? raw, out decimal? value)
    {
        value = null;
        if (raw is null) return true;
        if (decimal.TryParse(raw, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d) && d >= 0 && d < 100_000_000)
        {
            value = d;
            return true;
        }
        return false;
    }
}
