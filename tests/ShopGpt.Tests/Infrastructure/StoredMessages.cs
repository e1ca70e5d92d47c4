using Npgsql;

namespace ShopGpt.Tests.Infrastructure;

/// <summary>What the database holds, read directly (not through the server under test).</summary>
public static class StoredMessages
{
    /// <summary>client id → how many rows carry it, for the conversations given.</summary>
    public static async Task<Dictionary<string, long>> CountByClientIdAsync(string connectionString, params Guid[] conversations)
    {
        await using var db = NpgsqlDataSource.Create(connectionString);
        await using var cmd = db.CreateCommand("select client_id, count(*) from messages where conversation_id = any($1) and client_id is not null group by client_id");
        cmd.Parameters.AddWithValue(conversations);
        var stored = new Dictionary<string, long>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) stored[r.GetString(0)] = r.GetInt64(1);
        return stored;
    }

    /// <summary>(rows, distinct seqs, min seq, max seq) of one conversation: gap-free means rows = distinct = max and min = 1.</summary>
    public static async Task<(long Rows, long Distinct, long Min, long Max)> SeqShapeAsync(string connectionString, Guid conversation)
    {
        await using var db = NpgsqlDataSource.Create(connectionString);
        await using var cmd = db.CreateCommand("select count(*), count(distinct seq), coalesce(min(seq), 0), coalesce(max(seq), 0) from messages where conversation_id = $1");
        cmd.Parameters.AddWithValue(conversation);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3));
    }

    /// <summary>Status of every assistant message in a conversation.</summary>
    public static async Task<List<string>> AssistantStatusesAsync(string connectionString, Guid conversation)
    {
        await using var db = NpgsqlDataSource.Create(connectionString);
        await using var cmd = db.CreateCommand("select status from messages where conversation_id = $1 and role = 'assistant' order by seq");
        cmd.Parameters.AddWithValue(conversation);
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add(r.GetString(0));
        return list;
    }

    public static string Default => TestEnvironment.Postgres;
}
