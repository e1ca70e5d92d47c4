using System.Globalization;
using System.Security.Claims;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Data;
using ShopGpt.Server.Http;
using ShopGpt.Server.Shared;

namespace ShopGpt.Server.Messaging;

public sealed record SendMessageRequest(string? Text, string? ClientId);

/// <summary>
/// The message endpoints (API.md, Messages): send and page a conversation's messages, page a
/// shared conversation's, search one's own. The conversation itself (create, list, patch) is
/// the Conversations feature's; here it is only checked for ownership or sharing.
/// </summary>
public static class MessageEndpoints
{
    public static void MapMessages(this IEndpointRouteBuilder app)
    {
        var own = app.MapGroup("/api/conversations").RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);
        own.MapGet("/{id:guid}/messages", MessagesAsync);
        own.MapPost("/{id:guid}/messages", SendAsync);
        app.MapGet("/api/shared/{id:guid}/messages", SharedMessagesAsync).RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);
        app.MapGet("/api/search/messages", SearchAsync).RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);
    }

    // Own pages read from the standby once it has replayed the user's last write (read-your-writes,
    // Data/ReplicaReads); the WebSocket resume replay stays on the primary (gap-free resume).
    private static async Task<IResult> MessagesAsync(ClaimsPrincipal user, MessageReader reader, KeysetCursor cursors, ReplicaReads replicas, Guid id,
        string? limit, string? before, string? afterSeq, CancellationToken ct)
    {
        var userId = user.UserId();
        return await replicas.ForUserAsync(userId, async ds =>
        {
            var from = reader.On(ds);
            if (!await from.OwnsAsync(userId, id, ct)) return ApiProblem.NotFound();
            return await PageAsync(from, cursors, userId, userId, id, limit, before, afterSeq, ct);
        });
    }

    // Shared pages tolerate lag, but never past the owner's own changes (an unshare, say): while
    // the owner has a write the standby may lack, read where the owner's reads go.
    private static async Task<IResult> SharedMessagesAsync(ClaimsPrincipal user, MessageReader reader, KeysetCursor cursors, ReplicaReads replicas, Guid id,
        string? limit, string? before, string? afterSeq, CancellationToken ct) =>
        await replicas.LagTolerantAsync(async lagging =>
        {
            var from = reader.On(lagging);
            var owner = await from.FindSharedOwnerAsync(id, ct);
            if (owner is { } found && await replicas.SourceForUserAsync(found) is var owners && !ReferenceEquals(owners, lagging))
            {
                from = reader.On(owners);
                owner = await from.FindSharedOwnerAsync(id, ct);
            }
            return owner is { } o ? await PageAsync(from, cursors, user.UserId(), o, id, limit, before, afterSeq, ct) : ApiProblem.NotFound();
        });

    private static async Task<IResult> PageAsync(MessageReader reader, KeysetCursor cursors, Guid readerId, Guid owner, Guid id,
        string? limit, string? before, string? afterSeq, CancellationToken ct)
    {
        if (afterSeq is not null)
        {
            if (before is not null) return ApiProblem.BadRequest("bad_request", "Use either before or afterSeq, not both.");
            if (!long.TryParse(afterSeq, NumberStyles.None, CultureInfo.InvariantCulture, out var after))
                return ApiProblem.BadRequest("bad_after_seq", "afterSeq must be a non-negative integer.");
            if (!QueryLimits.TryParse(limit, 500, 500, out var m, out var e1)) return e1!;
            var items = await reader.MessagesAfterAsync(owner, id, after, m, ct);
            return TypedResults.Ok(new Page<Message>(items, null));
        }
        if (!QueryLimits.TryParse(limit, 50, 100, out var n, out var e2)) return e2!;
        var beforeSeq = long.MaxValue;
        if (before is not null && !cursors.TryDecodeSeq(readerId, id, before, out beforeSeq))
            return ApiProblem.BadRequest("bad_cursor", "The cursor is not valid for this conversation.");
        var page = await reader.MessagesBeforeAsync(owner, id, beforeSeq, n, ct);
        var next = page.Count == n && page[^1].Seq > 1 ? cursors.EncodeSeq(readerId, id, page[^1].Seq) : null;
        return TypedResults.Ok(new Page<Message>(page, next));
    }

    private static async Task<IResult> SendAsync(ClaimsPrincipal user, MessageService messages, IOptions<MessagingOptions> options,
        Guid id, SendMessageRequest? body, CancellationToken ct)
    {
        if (SendValidation.Check(body?.Text, body?.ClientId, options.Value) is { } problem)
            return ApiProblem.BadRequest(problem.Code, problem.Message);
        var outcome = await messages.SendUserMessageAsync(user.UserId(), id, body!.Text!, body.ClientId!, ct);
        if (!outcome.Found) return ApiProblem.NotFound();
        return outcome.Duplicate ? TypedResults.Ok(outcome.Message) : TypedResults.Created($"/api/conversations/{id}/messages", outcome.Message);
    }

    private static async Task<IResult> SearchAsync(ClaimsPrincipal user, MessageReader reader, string? q, string? limit, CancellationToken ct)
    {
        if (!QueryLimits.TryParse(limit, 20, 100, out var n, out var error)) return error!;
        if (string.IsNullOrWhiteSpace(q)) return ApiProblem.BadRequest("bad_query", "q is required.");
        var query = q.Trim();
        if (query.Length < MessageSearch.MinQueryLength)
            return ApiProblem.BadRequest("too_short", $"q must be at least {MessageSearch.MinQueryLength} characters.");
        if (query.Length > MessageSearch.MaxQueryLength)
            return ApiProblem.BadRequest("too_long", $"q must be at most {MessageSearch.MaxQueryLength} characters.");
        if (query.Any(char.IsControl) || !TextRules.IsStorable(query))
            return ApiProblem.BadRequest("bad_query", "q must not contain control characters or invalid Unicode.");
        return TypedResults.Ok(new Page<Message>(await reader.SearchAsync(user.UserId(), MessageSearch.ContainsPattern(query), n, ct), null));
    }
}
