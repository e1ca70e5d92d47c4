using System.Diagnostics.Metrics;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Catalog;
using ShopGpt.Server.Http;
using ShopGpt.Server.Realtime;

namespace ShopGpt.Server.Shortlist;

/// <summary>A saved product; <c>product</c> is null when the catalog no longer has it (a re-import dropped it).</summary>
public sealed record ShortlistItem(string ProductId, DateTimeOffset AddedAt, Product? Product);

public sealed record ShortlistResponse(IReadOnlyList<ShortlistItem> Items, int MaxItems);

public sealed record CompareRequest(string[]? ProductIds);

public sealed record ComparedWithResponse(string ProductId, IReadOnlyList<Product> Items);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ShortlistItem))]
[JsonSerializable(typeof(ShortlistResponse))]
[JsonSerializable(typeof(CompareRequest))]
[JsonSerializable(typeof(Assistant.Comparison))]
[JsonSerializable(typeof(ComparedWithResponse))]
public sealed partial class ShortlistJsonContext : JsonSerializerContext;

/// <summary>Saves and removals, by outcome (bounded tags).</summary>
public sealed class ShortlistMetrics
{
    private readonly Counter<long> changes;

    public ShortlistMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("ShopGpt.Shortlist");
        changes = meter.CreateCounter<long>("shopgpt.shortlist.changes", "{change}", "Shortlist saves and removals, by operation");
        Compares = meter.CreateCounter<long>("shopgpt.shortlist.comparisons", "{comparison}", "Comparisons of saved products");
    }

    public Counter<long> Compares { get; }

    public void Changed(string op) => changes.Add(1, new KeyValuePair<string, object?>("op", op));
}

/// <summary>
/// The shopper's shortlist (issue 19, docs/api-extensions.md): save a product, remove it, list,
/// compare 2-4 saved ones. Every change is pushed to all of the user's connections on every
/// instance (<see cref="ConversationHub.PublishToUser"/>), so other tabs and devices update live.
/// </summary>
public static class ShortlistEndpoints
{
    public const int MaxProductIdLength = 200;
    public const int MinCompare = 2;
    public const int MaxCompare = 4;

    public static void AddShortlist(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ShortlistOptions>().BindConfiguration("Shortlist").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<ShortlistStore>();
        builder.Services.AddSingleton<ShortlistMetrics>();
        builder.Services.AddSingleton<ShortlistService>();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(ShortlistJsonContext.Default));
    }

    public static void MapShortlist(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api/shortlist").RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);
        g.MapGet("/", ListAsync);
        g.MapPut("/{productId}", SaveAsync);
        g.MapDelete("/{productId}", RemoveAsync);
        g.MapPost("/compare", CompareAsync);
        app.MapGet("/api/products/{productId}/compared-with", ComparedWithAsync).RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);
    }

    internal static bool BadProductId(string id) => id.Length is 0 or > MaxProductIdLength || id.Any(char.IsControl);

    private static async Task<IResult> ListAsync(ClaimsPrincipal user, ShortlistService shortlist, CancellationToken ct) =>
        TypedResults.Ok(await shortlist.ListAsync(user.UserId(), ct));

    private static async Task<IResult> SaveAsync(ClaimsPrincipal user, ShortlistService shortlist, string productId, CancellationToken ct)
    {
        if (BadProductId(productId)) return ApiProblem.NotFound("product");
        var (outcome, item) = await shortlist.SaveAsync(user.UserId(), productId, ct);
        return outcome switch
        {
            SaveOutcome.Added => TypedResults.Created($"/api/shortlist/{Uri.EscapeDataString(productId)}", item),
            SaveOutcome.AlreadySaved => TypedResults.Ok(item),
            SaveOutcome.Full => ApiProblem.Create(409, "shortlist_full", $"The shortlist holds at most {shortlist.MaxItems} products; remove one first."),
            _ => ApiProblem.NotFound("product"),
        };
    }

    private static async Task<IResult> RemoveAsync(ClaimsPrincipal user, ShortlistService shortlist, string productId, CancellationToken ct)
    {
        if (BadProductId(productId) || !await shortlist.RemoveAsync(user.UserId(), productId, ct))
            return ApiProblem.NotFound("product in your shortlist");
        return TypedResults.NoContent();
    }

    private static async Task<IResult> CompareAsync(ClaimsPrincipal user, ShortlistService shortlist, CompareRequest? body, CancellationToken ct)
    {
        var ids = body?.ProductIds;
        if (ids is null || ids.Length is < MinCompare or > MaxCompare || ids.Any(i => i is null || BadProductId(i)) || ids.Distinct(StringComparer.Ordinal).Count() != ids.Length)
            return ApiProblem.BadRequest("bad_compare", $"productIds must list {MinCompare} to {MaxCompare} different saved products.");
        var table = await shortlist.CompareAsync(user.UserId(), ids, ct);
        return table is null ? ApiProblem.NotFound("product in your shortlist") : TypedResults.Ok(table);
    }

    private static async Task<IResult> ComparedWithAsync(ShortlistService shortlist, string productId, CancellationToken ct)
    {
        if (BadProductId(productId)) return ApiProblem.NotFound("product");
        return await shortlist.ComparedWithAsync(productId, ct) is { } r ? TypedResults.Ok(r) : ApiProblem.NotFound("product");
    }
}

public enum SaveOutcome
{
    Added,
    AlreadySaved,
    Full,
    UnknownProduct,
}

/// <summary>
/// The one owner of shortlist changes, for REST and for the assistant ("save the second one"):
/// store, count, then push the change to the user's connections (after the commit, like messages).
/// </summary>
public sealed class ShortlistService(ShortlistStore store, ProductSearch products, ConversationHub hub, ShortlistMetrics metrics,
    Microsoft.Extensions.Options.IOptions<ShortlistOptions> options)
{
    public int MaxItems => options.Value.MaxItems;

    public async Task<ShortlistResponse> ListAsync(Guid userId, CancellationToken ct)
    {
        var rows = await store.ListAsync(userId, MaxItems, ct);
        var found = (await products.GetManyAsync(rows.Select(r => r.ProductId).ToList(), ct)).ToDictionary(p => p.Id, StringComparer.Ordinal);
        return new ShortlistResponse(rows.Select(r => new ShortlistItem(r.ProductId, r.AddedAt, found.GetValueOrDefault(r.ProductId))).ToList(), MaxItems);
    }

    public async Task<(SaveOutcome Outcome, ShortlistItem? Item)> SaveAsync(Guid userId, string productId, CancellationToken ct)
    {
        if (await products.GetAsync(productId, ct) is not { } product) return (SaveOutcome.UnknownProduct, null);
        var (result, addedAt) = await store.SaveAsync(userId, productId, MaxItems, ct);
        if (result == SaveResult.Full) return (SaveOutcome.Full, null);
        var item = new ShortlistItem(productId, addedAt, product);
        if (result == SaveResult.AlreadySaved) return (SaveOutcome.AlreadySaved, item);
        metrics.Changed("saved");
        hub.PublishToUser(userId, new ShortlistFrame(userId, "saved", productId, addedAt, product));
        return (SaveOutcome.Added, item);
    }

    public async Task<bool> RemoveAsync(Guid userId, string productId, CancellationToken ct)
    {
        if (!await store.RemoveAsync(userId, productId, ct)) return false;
        metrics.Changed("removed");
        hub.PublishToUser(userId, new ShortlistFrame(userId, "removed", productId, null, null));
        return true;
    }

    /// <summary>
    /// The spec table of saved products: the assistant's comparison (one definition of what a
    /// comparison shows, for the chat and the shortlist alike); null when any of them is not in this user's shortlist or no longer in the catalog.</summary>
    public async Task<Assistant.Comparison?> CompareAsync(Guid userId, IReadOnlyList<string> productIds, CancellationToken ct)
    {
        var saved = await store.SavedAmongAsync(userId, productIds, ct);
        if (saved.Count != productIds.Count) return null;
        var found = await products.GetManyAsync(productIds, ct);
        if (found.Count != productIds.Count) return null;
        await store.RecordComparisonAsync(productIds, ct);
        metrics.Compares.Add(1);
        return Assistant.ProductComparison.Build(found);
    }

    public async Task<ComparedWithResponse?> ComparedWithAsync(string productId, CancellationToken ct)
    {
        if (await products.GetAsync(productId, ct) is null) return null;
        var ids = await store.ComparedWithAsync(productId, 6, ct);
        return new ComparedWithResponse(productId, await products.GetManyAsync(ids, ct));
    }
}
