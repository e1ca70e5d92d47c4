using System.Diagnostics.Metrics;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using Npgsql;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Http;

namespace ShopGpt.Server.Feedback;

public sealed record FeedbackRequest(string? Rating, string? Reason);

public sealed record FeedbackEntry(Guid ConversationId, Guid MessageId, string Rating, string? Reason, DateTimeOffset UpdatedAt);

public sealed record FeedbackList(IReadOnlyList<FeedbackEntry> Items);

public sealed record FeedbackReport(long Up, long Down, IReadOnlyList<FeedbackEntry> Recent);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(FeedbackRequest))]
[JsonSerializable(typeof(FeedbackEntry))]
[JsonSerializable(typeof(FeedbackList))]
[JsonSerializable(typeof(FeedbackReport))]
public sealed partial class FeedbackJsonContext : JsonSerializerContext;

/// <summary>Votes stored, by rating; a repeated identical vote is not counted again.</summary>
public sealed class FeedbackMetrics
{
    private readonly Counter<long> votes;

    public FeedbackMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("ShopGpt.Feedback");
        votes = meter.CreateCounter<long>("shopgpt.feedback.votes", "{vote}", "Thumbs up/down stored on assistant answers, by rating");
    }

    public void Voted(string rating) => votes.Add(1, new KeyValuePair<string, object?>("rating", rating is "up" ? "up" : "down"));
}

/// <summary>
/// Thumbs up/down on an assistant answer with an optional reason (issue 19,
/// docs/api-extensions.md). One vote per user and message (a new one replaces it); the operator
/// reads totals and the newest votes at <c>GET /api/admin/feedback</c>.
/// </summary>
public static class FeedbackEndpoints
{
    public const int MaxReasonLength = 500;

    public static void AddFeedback(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<FeedbackMetrics>();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(FeedbackJsonContext.Default));
    }

    public static void MapFeedback(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api/conversations/{cid:guid}").RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);
        g.MapPut("/messages/{mid:guid}/feedback", PutAsync);
        g.MapDelete("/messages/{mid:guid}/feedback", DeleteAsync);
        g.MapGet("/feedback", ListAsync);
        // Guarded by the admin token: guesses are limited per IP like logins (AdminAccess).
        app.MapGet("/api/admin/feedback", ReportAsync).RequireRateLimiting(RateLimiting.AuthPolicy);
    }

    private static async Task<IResult> PutAsync(ClaimsPrincipal user, NpgsqlDataSource db, FeedbackMetrics metrics, Guid cid, Guid mid,
        FeedbackRequest? body, CancellationToken ct)
    {
        if (body?.Rating is not ("up" or "down")) return ApiProblem.BadRequest("bad_rating", "rating must be \"up\" or \"down\".");
        var reason = string.IsNullOrWhiteSpace(body.Reason) ? null : body.Reason.Trim();
        if (reason is { Length: > MaxReasonLength })
            return ApiProblem.BadRequest("reason_too_long", $"reason must be at most {MaxReasonLength} characters.");
        if (reason is not null && !Shared.TextRules.IsStorable(reason))
            return ApiProblem.BadRequest("bad_reason", "reason must be valid Unicode without NUL characters.");

        // Ownership and target in one statement: the vote is stored only for an assistant answer
        // in a conversation of this user (the key names the user); anything else is not found.
        // prev reads the snapshot before the upsert, so a repeat of the same vote is not counted twice.
        await using var cmd = db.CreateCommand(
            """
            with prev as (
                select rating from message_feedback where user_id = $1 and conversation_id = $2 and message_id = $3),
            target as (
                select 1 from messages m where m.user_id = $1 and m.conversation_id = $2 and m.message_id = $3 and m.role = 'assistant' limit 1),
            up as (
                insert into message_feedback (user_id, conversation_id, message_id, rating, reason)
                select $1, $2, $3, $4, $5 from target
                on conflict (user_id, conversation_id, message_id)
                do update set rating = excluded.rating, reason = excluded.reason, updated_at = now()
                returning updated_at)
            select (select rating from prev), (select updated_at from up)
            """);
        cmd.Parameters.AddWithValue(user.UserId());
        cmd.Parameters.AddWithValue(cid);
        cmd.Parameters.AddWithValue(mid);
        cmd.Parameters.AddWithValue(body.Rating);
        cmd.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = reason, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        if (r.IsDBNull(1)) return ApiProblem.NotFound("answer");
        var previous = r.IsDBNull(0) ? null : r.GetString(0);
        if (previous != body.Rating) metrics.Voted(body.Rating);
        return TypedResults.Ok(new FeedbackEntry(cid, mid, body.Rating, reason, r.GetFieldValue<DateTimeOffset>(1)));
    }

    private static async Task<IResult> DeleteAsync(ClaimsPrincipal user, NpgsqlDataSource db, Guid cid, Guid mid, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("delete from message_feedback where user_id = $1 and conversation_id = $2 and message_id = $3");
        cmd.Parameters.AddWithValue(user.UserId());
        cmd.Parameters.AddWithValue(cid);
        cmd.Parameters.AddWithValue(mid);
        return await cmd.ExecuteNonQueryAsync(ct) > 0 ? TypedResults.NoContent() : ApiProblem.NotFound("feedback");
    }

    /// <summary>My votes in one conversation, so the page shows them after a reload.</summary>
    private static async Task<IResult> ListAsync(ClaimsPrincipal user, NpgsqlDataSource db, Conversations.ConversationStore conversations,
        Guid cid, CancellationToken ct)
    {
        var userId = user.UserId();
        if (await conversations.GetAsync(userId, cid, ct) is null) return ApiProblem.NotFound();
        await using var cmd = db.CreateCommand(
            "select conversation_id, message_id, rating, reason, updated_at from message_feedback where user_id = $1 and conversation_id = $2");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(cid);
        return TypedResults.Ok(new FeedbackList(await ReadAsync(cmd, ct)));
    }

    private static async Task<IResult> ReportAsync(HttpContext ctx, NpgsqlDataSource db, string? limit, CancellationToken ct)
    {
        if (AdminAccess.Refusal(ctx) is { } refusal) return refusal;
        if (!Shared.QueryLimits.TryParse(limit, 50, 500, out var n, out var error)) return error!;
        long up = 0, down = 0;
        await using (var totals = db.CreateCommand("select rating, count(*) from message_feedback group by rating"))
        await using (var r = await totals.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
                if (r.GetString(0) == "up") up = r.GetInt64(1);
                else down = r.GetInt64(1);
        }
        await using var cmd = db.CreateCommand(
            "select conversation_id, message_id, rating, reason, updated_at from message_feedback order by updated_at desc limit $1");
        cmd.Parameters.AddWithValue(n);
        return TypedResults.Ok(new FeedbackReport(up, down, await ReadAsync(cmd, ct)));
    }

    private static async Task<List<FeedbackEntry>> ReadAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var list = new List<FeedbackEntry>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new FeedbackEntry(r.GetGuid(0), r.GetGuid(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetFieldValue<DateTimeOffset>(4)));
        return list;
    }
}
