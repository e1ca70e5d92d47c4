using System.Security.Claims;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Data;
using ShopGpt.Server.Http;
using ShopGpt.Server.Messaging;
using ShopGpt.Server.Shared;

namespace ShopGpt.Server.Conversations;

public sealed record CreateConversationRequest(string? Title);

public static class ConversationEndpoints
{
    public const int MaxTitleLength = 200;

    public static void AddConversations(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<CursorOptions>().BindConfiguration("Cursor").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<KeysetCursor>();
        builder.Services.AddSingleton<ConversationStore>();
        builder.Services.AddSingleton<ConversationListCache>();
        // Lists show each conversation's last message: a committed batch invalidates the lists it changed.
        builder.Services.AddSingleton<IBatchCommitted>(sp => sp.GetRequiredService<ConversationListCache>());
    }

    public static void MapConversations(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api/conversations").RequireAuthorization().RequireRateLimiting(Http.RateLimiting.UserPolicy);
        g.MapGet("/", ListAsync);
        g.MapPost("/", CreateAsync);
        g.MapGet("/popular", Data.PopularConversations.GetAsync);   // literal segment: never taken for {id:guid}
        g.MapGet("/{id:guid}", GetAsync);
        g.MapPatch("/{id:guid}", PatchAsync);
        g.MapDelete("/{id:guid}", DeleteAsync);

        var shared = app.MapGroup("/api/shared").RequireAuthorization().RequireRateLimiting(Http.RateLimiting.UserPolicy);
        shared.MapGet("/{id:guid}", GetSharedAsync);
    }

    internal static string? ValidateTitle(string? title) =>
        title is null ? null
        : title.Trim().Length == 0 ? "The title must not be empty."
        : title.Length > MaxTitleLength ? $"The title must be at most {MaxTitleLength} characters."
        : title.Any(char.IsControl) || !TextRules.IsStorable(title) ? "The title must not contain control characters or invalid Unicode."
        : null;

    private static async Task<IResult> ListAsync(ClaimsPrincipal user, ConversationStore store, ConversationListCache firstPages, KeysetCursor cursors,
        ReplicaReads replicas, string? limit, string? cursor, string? archived, CancellationToken ct)
    {
        if (!QueryLimits.TryParse(limit, 20, 100, out var n, out var error)) return error!;
        var userId = user.UserId();
        bool showArchived = false;
        if (archived is not null && !bool.TryParse(archived, out showArchived))
            return ApiProblem.BadRequest("bad_archived", "archived must be true or false.");
        (DateTimeOffset, Guid)? after = null;
        if (cursor is not null)
        {
            if (!cursors.TryDecodeListPosition(userId, cursor, out var at, out var id))
                return ApiProblem.BadRequest("bad_cursor", "The cursor is not valid for this listing.");
            after = (at, id);
        }
        var items = after is null
            ? await firstPages.FirstPageAsync(userId, showArchived, n, ct)
            : await replicas.ForUserAsync(userId, ds => store.On(ds).ListAsync(userId, showArchived, after, n, ct));
        var next = items.Count == n ? cursors.EncodeListPosition(userId, items[^1].UpdatedAt, items[^1].Id) : null;
        return TypedResults.Ok(new Page<Conversation>(items, next));
    }

    private static async Task<IResult> CreateAsync(ClaimsPrincipal user, ConversationStore store, ConversationListCache firstPages,
        CreateConversationRequest? body, CancellationToken ct)
    {
        if (ValidateTitle(body?.Title) is { } problem) return ApiProblem.BadRequest("bad_title", problem);
        var c = await store.CreateAsync(user.UserId(), body?.Title?.Trim() ?? "New chat", ct);
        await firstPages.InvalidateAsync(user.UserId(), ct);
        return TypedResults.Created($"/api/conversations/{c.Id}", c);
    }

    private static async Task<IResult> GetAsync(ClaimsPrincipal user, ConversationStore store, ReplicaReads replicas, Guid id, CancellationToken ct) =>
        await replicas.ForUserAsync(user.UserId(), ds => store.On(ds).GetAsync(user.UserId(), id, ct)) is { } c ? TypedResults.Ok(c) : ApiProblem.NotFound();

    private static async Task<IResult> PatchAsync(ClaimsPrincipal user, ConversationStore store, ConversationListCache firstPages,
        Guid id, ConversationPatch? body, CancellationToken ct)
    {
        if (body is null) return ApiProblem.BadRequest("bad_request", "A JSON body is required.");
        if (ValidateTitle(body.Title) is { } problem) return ApiProblem.BadRequest("bad_title", problem);
        var patch = body with { Title = body.Title?.Trim() };
        if (await store.PatchAsync(user.UserId(), id, patch, ct) is not { } c) return ApiProblem.NotFound();
        await firstPages.InvalidateAsync(user.UserId(), ct);
        return TypedResults.Ok(c);
    }

    private static async Task<IResult> DeleteAsync(ClaimsPrincipal user, ConversationStore store, ConversationListCache firstPages,
        Guid id, CancellationToken ct)
    {
        if (!await store.DeleteAsync(user.UserId(), id, ct)) return ApiProblem.NotFound();
        await firstPages.InvalidateAsync(user.UserId(), ct);
        return TypedResults.NoContent();
    }

    private static async Task<IResult> GetSharedAsync(ConversationStore store, ReplicaReads replicas, Guid id, CancellationToken ct) =>
        await replicas.LagTolerantAsync(async lagging =>
        {
            var s = await store.On(lagging).GetSharedAsync(id, ct);
            // Lag-tolerant, but never behind the owner's own changes (an unshare, say): while the
            // owner has a write the standby may lack, read again where the owner's reads go.
            if (s is { } found && !ReferenceEquals(await replicas.SourceForUserAsync(found.Owner), lagging)) s = await store.GetSharedAsync(id, ct);
            return s is { } r ? TypedResults.Ok(r.Conversation) : ApiProblem.NotFound();
        });
}
