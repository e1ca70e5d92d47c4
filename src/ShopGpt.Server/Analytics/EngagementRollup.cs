using Npgsql;
using NpgsqlTypes;

namespace ShopGpt.Server.Analytics;

/// <summary>
/// Engagement: per UTC hour the user messages, assistant turns, failed and stopped answers,
/// new conversations, sign-ups and guests; users active per day and per month (a user who sent
/// a message); conversations per user. A batch is folded in memory, then written as one
/// upsert per table.
/// </summary>
public sealed class EngagementRollup : IRollup
{
    public const string ConsumerName = "engagement";

    public string Name => ConsumerName;

    public IReadOnlyList<string> Tables { get; } =
        ["analytics_hourly", "analytics_daily_users", "analytics_monthly_users", "analytics_user_conversations"];

    public async Task ApplyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<ChangeEvent> events, CancellationToken ct)
    {
        var hourly = new Dictionary<(DateTime Hour, string Metric), long>();
        var daily = new HashSet<(DateTime Day, Guid User)>();
        var monthly = new HashSet<(DateTime Month, Guid User)>();
        var perUser = new Dictionary<Guid, long>();
        void Count(ChangeEvent e, string metric)
        {
            var t = e.At.UtcDateTime;
            var key = (new DateTime(t.Year, t.Month, t.Day, t.Hour, 0, 0, DateTimeKind.Utc), metric);
            hourly[key] = hourly.GetValueOrDefault(key) + 1;
        }

        foreach (var e in events)
        {
            switch (e.Kind)
            {
                case EventKinds.Message when e.Role == "user":
                    Count(e, "user_messages");
                    var d = e.At.UtcDateTime.Date;
                    daily.Add((d, e.UserId));
                    monthly.Add((new DateTime(d.Year, d.Month, 1, 0, 0, 0, DateTimeKind.Utc), e.UserId));
                    break;
                case EventKinds.Message:
                    Count(e, "assistant_turns");
                    if (e.Status == "failed") Count(e, "answers_failed");
                    else if (e.Status == "stopped") Count(e, "answers_stopped");
                    break;
                case EventKinds.Conversation:
                    Count(e, "conversations");
                    perUser[e.UserId] = perUser.GetValueOrDefault(e.UserId) + 1;
                    break;
                case EventKinds.SignUp:
                    Count(e, e.Guest ? "guests" : "signups");
                    break;
            }
        }

        await using var batch = new NpgsqlBatch(conn, tx);
        if (hourly.Count > 0)
            batch.BatchCommands.Add(Command(
                "insert into analytics_hourly (hour, metric, value) select * from unnest($1::timestamptz[], $2::text[], $3::bigint[]) " +
                "on conflict (hour, metric) do update set value = analytics_hourly.value + excluded.value",
                hourly.Keys.Select(k => k.Hour).ToArray(), hourly.Keys.Select(k => k.Metric).ToArray(), hourly.Values.ToArray()));
        if (daily.Count > 0)
            batch.BatchCommands.Add(Command(
                "insert into analytics_daily_users (day, user_id) select * from unnest($1::date[], $2::uuid[]) on conflict do nothing",
                daily.Select(k => DateOnly.FromDateTime(k.Day)).ToArray(), daily.Select(k => k.User).ToArray()));
        if (monthly.Count > 0)
            batch.BatchCommands.Add(Command(
                "insert into analytics_monthly_users (month, user_id) select * from unnest($1::date[], $2::uuid[]) on conflict do nothing",
                monthly.Select(k => DateOnly.FromDateTime(k.Month)).ToArray(), monthly.Select(k => k.User).ToArray()));
        if (perUser.Count > 0)
            batch.BatchCommands.Add(Command(
                "insert into analytics_user_conversations (user_id, conversations) select * from unnest($1::uuid[], $2::bigint[]) " +
                "on conflict (user_id) do update set conversations = analytics_user_conversations.conversations + excluded.conversations",
                perUser.Keys.ToArray(), perUser.Values.ToArray()));
        if (batch.BatchCommands.Count > 0) await batch.ExecuteNonQueryAsync(ct);
    }

    internal static NpgsqlBatchCommand Command(string sql, params object[] arrays)
    {
        var c = new NpgsqlBatchCommand(sql);
        foreach (var a in arrays) c.Parameters.Add(new NpgsqlParameter { Value = a });
        return c;
    }
}
