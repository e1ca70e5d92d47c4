using System.Text.Json;
using System.Security.Claims;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Npgsql;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Http;


namespace ShopGpt.Server.Analytics;

public sealed record ProductOpenedRequest(string? ProductId);

public sealed record SeriesPoint(DateTimeOffset At, long Value);

public sealed record CountedItem(string Key, long Value);

public sealed record ConsumerLag(string Consumer, long Events, long StreamSeq, DateTimeOffset? UpdatedAt);

/// <summary>What the operator dashboard shows (docs/analytics.md).</summary>
public sealed record AnalyticsSummary(
    bool Enabled,
    IReadOnlyDictionary<string, long> Totals,
    IReadOnlyList<SeriesPoint> UserMessagesPerHour,
    IReadOnlyList<SeriesPoint> AssistantTurnsPerHour,
    IReadOnlyList<SeriesPoint> DailyActiveUsers,
    IReadOnlyList<SeriesPoint> MonthlyActiveUsers,
    double ConversationsPerUser,
    IReadOnlyList<CountedItem> TopRecommended,
    IReadOnlyList<CountedItem> TopCompared,
    IReadOnlyList<CountedItem> TopOpened,
    IReadOnlyList<CountedItem> NoMatchQueries,
    IReadOnlyList<ConsumerLag> Consumers,
    long? SlotLagBytes);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ProductOpenedRequest))]
[JsonSerializable(typeof(AnalyticsSummary))]
internal sealed partial class AnalyticsApiJsonContext : JsonSerializerContext;

public static class AnalyticsEndpoints
{
    public const int MaxProductIdLength = 200;

    public static void MapAnalytics(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/analytics/product-opened", ProductOpenedAsync).RequireAuthorization().RequireRateLimiting(RateLimiting.UserPolicy);
        // Guarded by a secret: guesses are limited per IP like logins (as the other admin endpoints).
        app.MapGet("/api/admin/analytics", SummaryAsync).RequireRateLimiting(RateLimiting.AuthPolicy);
    }

    /// <summary>
    /// The web app reports a product the user opened. Stored as a row like any other fact; the
    /// capture carries it to the log (no write to the log from request code).
    /// </summary>
    private static async Task<IResult> ProductOpenedAsync(ProductOpenedRequest? body, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        var id = body?.ProductId;
        if (string.IsNullOrWhiteSpace(id) || id.Length > MaxProductIdLength || id.Any(char.IsControl) || !Shared.TextRules.IsStorable(id))
            return ApiProblem.BadRequest("bad_product", $"productId must be a product id of 1 to {MaxProductIdLength} characters.");
        await using var cmd = db.CreateCommand(
            "insert into product_opens (user_id, opened_id, product_id) select $1, $2, $3 where exists (select 1 from products where product_id = $3)");
        cmd.Parameters.AddWithValue(user.UserId());
        cmd.Parameters.AddWithValue(Guid.CreateVersion7());
        cmd.Parameters.AddWithValue(id);
        return await cmd.ExecuteNonQueryAsync(ct) == 1 ? TypedResults.NoContent() : ApiProblem.NotFound("product");
    }

    private static async Task<IResult> SummaryAsync(HttpContext ctx, IOptions<AnalyticsOptions> options, NpgsqlDataSource db,
        AnalyticsMetrics metrics, CancellationToken ct)
    {
        if (AdminAccess.Refusal(ctx) is { } refusal) return refusal;
        await using var conn = await db.OpenConnectionAsync(ct);

        var totals = new Dictionary<string, long>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand("select metric, sum(value)::bigint from analytics_hourly group by metric", conn))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct)) totals[r.GetString(0)] = r.GetInt64(1);

        async Task<List<SeriesPoint>> Series(string sql)
        {
            var list = new List<SeriesPoint>();
            await using var cmd = new NpgsqlCommand(sql, conn);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) list.Add(new SeriesPoint(new DateTimeOffset(r.GetDateTime(0), TimeSpan.Zero), r.GetInt64(1)));
            return list;
        }
        async Task<List<CountedItem>> Top(string sql, string? kind)
        {
            var list = new List<CountedItem>();
            await using var cmd = new NpgsqlCommand(sql, conn);
            if (kind is not null) cmd.Parameters.AddWithValue(kind);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) list.Add(new CountedItem(r.GetString(0), r.GetInt64(1)));
            return list;
        }
        const string Hourly = "select hour, value from analytics_hourly where metric = '{0}' and hour > now() - interval '48 hours' order by hour";
        var userMessages = await Series(string.Format(System.Globalization.CultureInfo.InvariantCulture, Hourly, "user_messages"));
        var assistantTurns = await Series(string.Format(System.Globalization.CultureInfo.InvariantCulture, Hourly, "assistant_turns"));
        var dau = await Series("select day::timestamp, count(*) from analytics_daily_users where day > current_date - 30 group by day order by day");
        var mau = await Series("select month::timestamp, count(*) from analytics_monthly_users where month > current_date - 365 group by month order by month");
        double perUser;
        await using (var cmd = new NpgsqlCommand("select coalesce(avg(conversations), 0)::float8 from analytics_user_conversations", conn))
            perUser = (double)(await cmd.ExecuteScalarAsync(ct))!;
        const string TopProducts =
            "select coalesce(p.name, a.product_id), a.value from analytics_products a left join products p on p.product_id = a.product_id " +
            "where a.kind = $1 order by a.value desc, a.product_id limit 10";
        var recommended = await Top(TopProducts, "recommended");
        var compared = await Top(TopProducts, "compared");
        var opened = await Top(TopProducts, "opened");
        var noMatch = await Top("select query, value from analytics_no_match order by value desc, last_at desc limit 10", null);

        var lag = metrics.LagByConsumer();
        var consumers = new List<ConsumerLag>();
        await using (var cmd = new NpgsqlCommand("select consumer, max(stream_seq), max(updated_at) from analytics_positions group by consumer order by consumer", conn))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct))
                consumers.Add(new ConsumerLag(r.GetString(0), lag.GetValueOrDefault(r.GetString(0)), r.GetInt64(1), r.IsDBNull(2) ? null : r.GetFieldValue<DateTimeOffset>(2)));

        return TypedResults.Ok(new AnalyticsSummary(options.Value.Enabled, totals, userMessages, assistantTurns, dau, mau, perUser,
            recommended, compared, opened, noMatch, consumers, metrics.SlotLagBytes >= 0 ? metrics.SlotLagBytes : null));
    }
}
