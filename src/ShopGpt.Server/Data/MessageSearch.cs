using System.Security.Claims;
using System.Text;
using Npgsql;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Conversations;
using ShopGpt.Server.Http;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Data;

/// <summary>
/// GET /api/search/messages?q=text&amp;limit=20: the caller's own messages (user_id = caller, so
/// messages of conversations shared by others never match) whose text contains q, newest first.
/// ILIKE '%q%' is served by the trigram GIN index messages_text_trgm_idx; q needs at least
/// three characters because a shorter pattern has no trigram and would scan every message.
/// </summary>
public static class MessageSearch
{
    public const int MinQueryLength = 3;
    public const int MaxQueryLength = 200;

    public const string Sql =
        $"select {Message.Columns} from messages where user_id = $1 and text ilike $2 order by created_at desc, seq desc limit $3";

    public static void MapMessageSearch(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/search/messages", SearchAsync).RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);

    /// <summary>The ILIKE pattern matching <paramref name="q"/> literally: \, % and _ are escaped (backslash is ILIKE's default escape).</summary>
    public static string ContainsPattern(string q)
    {
        var sb = new StringBuilder(q.Length + 8).Append('%');
        foreach (var ch in q)
        {
            if (ch is '\\' or '%' or '_') sb.Append('\\');
            sb.Append(ch);
        }
        return sb.Append('%').ToString();
    }

    private static async Task<IResult> SearchAsync(ClaimsPrincipal user, NpgsqlDataSource db, string? q, string? limit, CancellationToken ct)
    {
        if (!ConversationEndpoints.TryLimit(limit, 20, 100, out var n, out var error)) return error!;
        if (string.IsNullOrWhiteSpace(q)) return ApiProblem.BadRequest("bad_query", "q is required.");
        var query = q.Trim();
        if (query.Length < MinQueryLength)
            return ApiProblem.BadRequest("too_short", $"q must be at least {MinQueryLength} characters.");
        if (query.Length > MaxQueryLength)
            return ApiProblem.BadRequest("too_long", $"q must be at most {MaxQueryLength} characters.");
        if (query.Any(char.IsControl) || !SendValidation.IsStorableText(query))
            return ApiProblem.BadRequest("bad_query", "q must not contain control characters or invalid Unicode.");

        await using var cmd = db.CreateCommand(Sql);
        cmd.Parameters.AddWithValue(user.UserId());
        cmd.Parameters.AddWithValue(ContainsPattern(query));
        cmd.Parameters.AddWithValue(n);
        var items = new List<Message>(Math.Min(n, 32));
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct)) items.Add(Message.Read(r));
        return TypedResults.Ok(new Page<Message>(items, null));
    }
}
