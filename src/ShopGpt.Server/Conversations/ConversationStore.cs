using Npgsql;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Conversations;

/// <summary>API.md's Conversation, plus <c>lastSeq</c> so clients know where to resume.</summary>
public sealed record Conversation(
    Guid Id,
    string Title,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    Message? LastMessage,
    bool Archived,
    bool Pinned,
    bool Shared,
    long LastSeq);

public sealed record ConversationPatch(string? Title, bool? Archived, bool? Pinned, bool? Shared);

/// <summary>
/// Conversation reads and writes. Every query names the owner (user_id) in its key, so
/// ownership is checked by the same index lookup that finds the row; shared reads are the
/// only queries by id alone, and they require shared = true.
/// </summary>
public sealed class ConversationStore(NpgsqlDataSource db)
{
    /// <summary>The same reads on another data source (the read standby: Data/ReplicaReads decides which).</summary>
    public ConversationStore On(NpgsqlDataSource source) => ReferenceEquals(source, db) ? this : new ConversationStore(source);

    // The last message comes in the same query (LATERAL on the (conversation_id, seq) index): no
    // N+1. Its columns are Messaging's list (Message.Columns), in Message.Read's order.
    private const string Select =
        $"""
        select c.conversation_id, c.title, c.created_at, c.updated_at, c.archived, c.pinned, c.shared, c.last_seq, m.*
        from conversations c
        left join lateral (
            select {Message.Columns} from messages
            where user_id = c.user_id and conversation_id = c.conversation_id and seq = c.last_seq
            limit 1) m on true
        """;

    /// <summary>
    /// One page of the list, newest activity first, ordered by (updated_at DESC, id DESC).
    /// updated_at only ever grows (writes use greatest(updated_at, now)), so a conversation
    /// touched during a walk moves ahead of the cursor and is not returned again, while an
    /// untouched one keeps its place and is returned exactly once.
    /// </summary>
    public async Task<List<Conversation>> ListAsync(Guid userId, bool archived, (DateTimeOffset UpdatedAt, Guid Id)? after, int limit, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(after is null
            ? $"{Select} where c.user_id = $1 and c.archived = $2 order by c.updated_at desc, c.conversation_id desc limit $3"
            : $"{Select} where c.user_id = $1 and c.archived = $2 and (c.updated_at, c.conversation_id) < ($4, $5) order by c.updated_at desc, c.conversation_id desc limit $3");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(archived);
        cmd.Parameters.AddWithValue(limit);
        if (after is { } a)
        {
            cmd.Parameters.AddWithValue(a.UpdatedAt);
            cmd.Parameters.AddWithValue(a.Id);
        }
        return await ReadAllAsync(cmd, ct);
    }

    public async Task<Conversation?> GetAsync(Guid userId, Guid id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"{Select} where c.user_id = $1 and c.conversation_id = $2");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(id);
        return (await ReadAllAsync(cmd, ct)).FirstOrDefault();
    }

    /// <summary>A shared conversation by id, for any signed-in reader; returns the owner for message reads.</summary>
    public async Task<(Guid Owner, Conversation Conversation)?> GetSharedAsync(Guid id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"{Select.Replace("select c.conversation_id", "select c.user_id, c.conversation_id", StringComparison.Ordinal)} where c.conversation_id = $1 and c.shared");
        cmd.Parameters.AddWithValue(id);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return (r.GetGuid(0), ReadConversation(r, 1));
    }

    public async Task<Conversation> CreateAsync(Guid userId, string title, CancellationToken ct)
    {
        var id = Guid.CreateVersion7();
        await using var cmd = db.CreateCommand(
            "insert into conversations (user_id, conversation_id, title) values ($1, $2, $3) returning created_at, updated_at");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(title);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return new Conversation(id, title, r.GetFieldValue<DateTimeOffset>(0), r.GetFieldValue<DateTimeOffset>(1), null, false, false, false, 0);
    }

    public async Task<Conversation?> PatchAsync(Guid userId, Guid id, ConversationPatch patch, CancellationToken ct)
    {
        await using (var cmd = db.CreateCommand(
            """
            update conversations set
                title = coalesce($3, title), archived = coalesce($4, archived),
                pinned = coalesce($5, pinned), shared = coalesce($6, shared),
                updated_at = greatest(updated_at, now())
            where user_id = $1 and conversation_id = $2
            """))
        {
            cmd.Parameters.AddWithValue(userId);
            cmd.Parameters.AddWithValue(id);
            cmd.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = patch.Title, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            cmd.Parameters.Add(new NpgsqlParameter<bool?> { TypedValue = patch.Archived, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Boolean });
            cmd.Parameters.Add(new NpgsqlParameter<bool?> { TypedValue = patch.Pinned, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Boolean });
            cmd.Parameters.Add(new NpgsqlParameter<bool?> { TypedValue = patch.Shared, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Boolean });
            if (await cmd.ExecuteNonQueryAsync(ct) == 0) return null;
        }
        return await GetAsync(userId, id, ct);
    }

    public async Task<bool> DeleteAsync(Guid userId, Guid id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using var batch = new NpgsqlBatch(conn, tx)
        {
            BatchCommands =
            {
                new("delete from conversations where user_id = $1 and conversation_id = $2") { Parameters = { new() { Value = userId }, new() { Value = id } } },
                new("delete from messages where user_id = $1 and conversation_id = $2") { Parameters = { new() { Value = userId }, new() { Value = id } } },
            },
        };
        await batch.ExecuteNonQueryAsync(ct);
        if (batch.BatchCommands[0].RecordsAffected == 0) return false;
        await tx.CommitAsync(ct);
        return true;
    }

    private static async Task<List<Conversation>> ReadAllAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var list = new List<Conversation>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(ReadConversation(r, 0));
        return list;
    }

    private static Conversation ReadConversation(NpgsqlDataReader r, int o) => new(
        r.GetGuid(o),
        r.GetString(o + 1),
        r.GetFieldValue<DateTimeOffset>(o + 2),
        r.GetFieldValue<DateTimeOffset>(o + 3),
        r.IsDBNull(o + 8) ? null : Message.Read(r, o + 8),
        r.GetBoolean(o + 4),
        r.GetBoolean(o + 5),
        r.GetBoolean(o + 6),
        r.GetInt64(o + 7));
}
