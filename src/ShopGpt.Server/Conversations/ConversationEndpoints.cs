using System.Globalization;
using System.Security.Claims;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Data;
using ShopGpt.Server.Http;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Conversations;

public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);
public sealed record CreateConversationRequest(string? Title);
public sealed record SendMessageRequest(string? Text, string? ClientId);

public static class ConversationEndpoints
{
    public const int MaxTitleLength = 200;

    public static void AddConversations(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<CursorOptions>().BindConfiguration("Cursor").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<KeysetCursor>();
        builder.Services.AddSingleton<ConversationStore>();
        builder.Services.AddSingleton<ConversationListCache>();
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
        g.MapGet("/{id:guid}/messages", MessagesAsync);
        g.MapPost("/{id:guid}/messages", SendAsync);

        var shared = app.MapGroup("/api/shared").RequireAuthorization().RequireRateLimiting(Http.RateLimiting.UserPolicy);
        shared.MapGet("/{id:guid}", GetSharedAsync);
        shared.MapGet("/{id:guid}/messages", SharedMessagesAsync);
    }

    /// <summary>Parses <c>limit</c>: absent gives the default, anything outside 1..max is a 400.</summary>
    internal static bool TryLimit(string? raw, int fallback, int max, out int limit, out IResult? error)
    {
        error = null;
        limit = fallback;
        if (raw is null) return true;
        if (int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit >= 1 && limit <= max) return true;
        error = ApiProblem.BadRequest("bad_limit", $"limit must be an integer from 1 to {max}.");
        return false;
    }

    internal static string? ValidateTitle(string? title) =>
        title is null ? null
        : title.Trim().Length == 0 ? "The title must not be empty."
        : title.Length > MaxTitleLength ? $"The title must be at most {MaxTitleLength} characters."
        : title.Any(char.IsControl) || !SendValidation.IsStorableText(title) ? "The title must not contain control characters or invalid Unicode."
        : null;

    private static async Task<IResult> ListAsync(ClaimsPrincipal user, ConversationStore store, ConversationListCache firstPages, KeysetCursor cursors,
        ReplicaReads replicas, string? limit, string? cursor, string? archived, CancellationToken ct)
    {
        if (!TryLimit(limit, 20, 100, out var n, out var error)) return error!;
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

    private static async Task<IResult> MessagesAsync(ClaimsPrincipal user, ConversationStore store, KeysetCursor cursors, ReplicaReads replicas, Guid id,
        string? limit, string? before, string? afterSeq, CancellationToken ct)
    {
        var userId = user.UserId();
        return await replicas.ForUserAsync(userId, async ds =>
        {
            var from = store.On(ds);
            if (await from.GetAsync(userId, id, ct) is null) return ApiProblem.NotFound();
            return await PageMessagesAsync(from, cursors, userId, userId, id, limit, before, afterSeq, ct);
        });
    }

    private static async Task<IResult> GetSharedAsync(ConversationStore store, ReplicaReads replicas, Guid id, CancellationToken ct) =>
        await ReadSharedAsync(store, replicas, id, (_, s) => Task.FromResult<IResult>(TypedResults.Ok(s.Conversation)), ct);

    private static async Task<IResult> SharedMessagesAsync(ClaimsPrincipal user, ConversationStore store, KeysetCursor cursors, ReplicaReads replicas, Guid id,
        string? limit, string? before, string? afterSeq, CancellationToken ct) =>
        await ReadSharedAsync(store, replicas, id, (from, s) => PageMessagesAsync(from, cursors, user.UserId(), s.Owner, id, limit, before, afterSeq, ct), ct);

    /// <summary>
    /// Shared views tolerate lag, but not past the owner's own changes: found on the standby, the
    /// conversation is read again where the owner's reads go (the primary while the owner's last
    /// write, an unshare for one, may not have been replayed), and its messages from there.
    /// </summary>
    private static async Task<IResult> ReadSharedAsync(ConversationStore store, ReplicaReads replicas, Guid id,
        Func<ConversationStore, (Guid Owner, Conversation Conversation), Task<IResult>> then, CancellationToken ct) =>
        await replicas.LagTolerantAsync(async lagging =>
        {
            if (await store.On(lagging).GetSharedAsync(id, ct) is not { } s) return ApiProblem.NotFound();
            var owners = await replicas.SourceForUserAsync(s.Owner);
            if (ReferenceEquals(owners, lagging)) return await then(store.On(lagging), s);
            var from = store.On(owners);
            return await from.GetSharedAsync(id, ct) is { } fresh ? await then(from, fresh) : ApiProblem.NotFound();
        });

    private static async Task<IResult> PageMessagesAsync(ConversationStore store, KeysetCursor cursors, Guid reader, Guid owner, Guid id,
        string? limit, string? before, string? afterSeq, CancellationToken ct)
    {
        if (afterSeq is not null)
        {
            if (before is not null) return ApiProblem.BadRequest("bad_request", "Use either before or afterSeq, not both.");
            if (!long.TryParse(afterSeq, NumberStyles.None, CultureInfo.InvariantCulture, out var after))
                return ApiProblem.BadRequest("bad_after_seq", "afterSeq must be a non-negative integer.");
            if (!TryLimit(limit, 500, 500, out var m, out var e1)) return e1!;
            var items = await store.MessagesAfterAsync(owner, id, after, m, ct);
            return TypedResults.Ok(new Page<Message>(items, null));
        }
        if (!TryLimit(limit, 50, 100, out var n, out var e2)) return e2!;
        var beforeSeq = long.MaxValue;
        if (before is not null && !cursors.TryDecodeSeq(reader, id, before, out beforeSeq))
            return ApiProblem.BadRequest("bad_cursor", "The cursor is not valid for this conversation.");
        var page = await store.MessagesBeforeAsync(owner, id, beforeSeq, n, ct);
        var next = page.Count == n && page[^1].Seq > 1 ? cursors.EncodeSeq(reader, id, page[^1].Seq) : null;
        return TypedResults.Ok(new Page<Message>(page, next));
    }

    private static async Task<IResult> SendAsync(ClaimsPrincipal user, MessageService messages,
        Microsoft.Extensions.Options.IOptions<MessagingOptions> options, Guid id, SendMessageRequest? body, CancellationToken ct)
    {
        if (SendValidation.Check(body?.Text, body?.ClientId, options.Value) is { } problem)
            return ApiProblem.BadRequest(problem.Code, problem.Message);
        var outcome = await messages.SendUserMessageAsync(user.UserId(), id, body!.Text!, body.ClientId!, ct);
        if (!outcome.Found) return ApiProblem.NotFound();
        return outcome.Duplicate ? TypedResults.Ok(outcome.Message) : TypedResults.Created($"/api/conversations/{id}/messages", outcome.Message);
    }
}
