using Npgsql;

namespace ShopGpt.Server.Messaging;

/// <summary>
/// Every read of stored messages: history pages (REST, the assistant's context, export), resume
/// after a seq (WebSocket), the owner a reader may read as, and search. Like every query here,
/// each names the owner (user_id) in its key, so ownership is checked by the index lookup that
/// finds the rows.
/// </summary>
public sealed class MessageReader(NpgsqlDataSource db)
{
    /// <summary>The same reads on another data source (the read standby: Data/ReplicaReads decides which).</summary>
    public MessageReader On(NpgsqlDataSource source) => ReferenceEquals(source, db) ? this : new MessageReader(source);

    /// <summary>Whether <paramref name="userId"/> owns conversation <paramref name="id"/> (its messages may be read and written).</summary>
    public async Task<bool> OwnsAsync(Guid userId, Guid id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select 1 from conversations where user_id = $1 and conversation_id = $2");
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(id);
        return await cmd.ExecuteScalarAsync(ct) is not null;
    }

    /// <summary>The owner of a shared conversation, for any signed-in reader; null when it is not shared (or does not exist).</summary>
    public async Task<Guid?> FindSharedOwnerAsync(Guid id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select user_id from conversations where conversation_id = $1 and shared");
        cmd.Parameters.AddWithValue(id);
        return await cmd.ExecuteScalarAsync(ct) is Guid g ? g : null;
    }

    /// <summary>The owner of a conversation the caller may read: their own, or a shared one.</summary>
    public async Task<Guid?> FindReadableOwnerAsync(Guid callerId, Guid id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "select user_id from conversations where conversation_id = $1 and (user_id = $2 or shared) order by user_id = $2 desc limit 1");
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(callerId);
        var owner = await cmd.ExecuteScalarAsync(ct);
        return owner is Guid g ? g : null;
    }


    // Message pages and prepared statements: after a few executions PostgreSQL may switch a
    // prepared statement to a generic plan, which cannot know how long this conversation is; on
    // the partitioned messages table it then reads every matching row of every partition and sorts
    // them (measured: ~200 ms per page at 110,000 messages, docs/benchmarks.md). seq is gap-free
    // per conversation (the batcher assigns it under the row lock), so the page is a seq range of
    // `limit` values: bounding the range keeps the work at `limit` rows under any plan. Where the
    // range comes back short without reaching the end (gaps: retention dropped old months), the
    // open-ended query answers; it only reads the few rows that are left on that side.

    /// <summary>Newest-first page of messages with seq below <paramref name="beforeSeq"/>.</summary>
    public async Task<List<Message>> MessagesBeforeAsync(Guid owner, Guid id, long beforeSeq, int limit, CancellationToken ct)
    {
        var page = await ReadMessagesAsync(
            $"""
            select {Message.Columns} from messages
            where user_id = $1 and conversation_id = $2 and seq < $3
              and seq >= least($3, (select c.last_seq + 1 from conversations c where c.user_id = $1 and c.conversation_id = $2)) - $4
            order by seq desc limit $4
            """,
            owner, id, beforeSeq, limit, ct);
        if (page.Count == limit || (page.Count > 0 && page[^1].Seq <= 1)) return page;
        return await ReadMessagesAsync(
            $"select {Message.Columns} from messages where user_id = $1 and conversation_id = $2 and seq < $3 order by seq desc limit $4",
            owner, id, beforeSeq, limit, ct);
    }

    /// <summary>Oldest-first messages with seq above <paramref name="afterSeq"/> (resume).</summary>
    public async Task<List<Message>> MessagesAfterAsync(Guid owner, Guid id, long afterSeq, int limit, CancellationToken ct)
    {
        if (afterSeq <= long.MaxValue - limit)
        {
            var page = await ReadMessagesAsync(
                $"select {Message.Columns} from messages where user_id = $1 and conversation_id = $2 and seq > $3 and seq <= $3 + $4 order by seq limit $4",
                owner, id, afterSeq, limit, ct);
            if (page.Count == limit) return page;
            // Short: the end of the conversation (the open-ended query then finds nothing more, cheaply) or a gap.
            var from = page.Count > 0 ? page[^1].Seq : afterSeq;
            var rest = await ReadMessagesAsync(
                $"select {Message.Columns} from messages where user_id = $1 and conversation_id = $2 and seq > $3 order by seq limit $4",
                owner, id, from, limit - page.Count, ct);
            page.AddRange(rest);
            return page;
        }
        return await ReadMessagesAsync(
            $"select {Message.Columns} from messages where user_id = $1 and conversation_id = $2 and seq > $3 order by seq limit $4",
            owner, id, afterSeq, limit, ct);
    }

    private async Task<List<Message>> ReadMessagesAsync(string sql, Guid owner, Guid id, long seq, int limit, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(sql);
        cmd.Parameters.AddWithValue(owner);
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(seq);
        cmd.Parameters.AddWithValue(limit);
        var list = new List<Message>(Math.Min(limit, 64));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) list.Add(Message.Read(r));
        return list;
    }

    /// <summary>The caller's own messages whose text contains the ILIKE <paramref name="pattern"/>, newest first (<see cref="MessageSearch"/>).</summary>
    public async Task<List<Message>> SearchAsync(Guid userId, string pattern, int limit, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(MessageSearch.Sql);
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(pattern);
        cmd.Parameters.AddWithValue(limit);
        var items = new List<Message>(Math.Min(limit, 32));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) items.Add(Message.Read(r));
        return items;
    }
}
