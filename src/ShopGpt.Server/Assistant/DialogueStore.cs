using System.Text.Json;
using Npgsql;

namespace ShopGpt.Server.Assistant;

/// <summary>What a conversation's next turn starts from: the need so far and what the last answer showed, in order.</summary>
public sealed record DialogueState(SearchState? Need, IReadOnlyList<ShownRef> Shown)
{
    public static readonly DialogueState Empty = new(null, []);
}

/// <summary>A product an answer showed, as far as follow-ups need it ("the second", "cheaper than these").</summary>
public sealed record ShownRef(string Id, decimal? Price);

/// <summary>
/// One row per conversation (migration 0850): read at the start of a turn, written once its plan
/// is made. A turn therefore parses only its own message, whatever the conversation's length.
/// Every statement names the owner: a turn can only ever read its own conversation's state.
/// </summary>
public sealed class DialogueStore(NpgsqlDataSource db)
{
    public async Task<DialogueState?> LoadAsync(Guid owner, Guid conversationId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select state::text from assistant_dialogue where user_id = $1 and conversation_id = $2");
        cmd.Parameters.AddWithValue(owner);
        cmd.Parameters.AddWithValue(conversationId);
        return await cmd.ExecuteScalarAsync(ct) is string json ? JsonSerializer.Deserialize(json, AssistantJsonContext.Default.DialogueState) : null;
    }

    /// <summary>
    /// Stores the state after the user message <paramref name="seq"/>; a state from an older
    /// message never overwrites a newer one (two quick messages may be answered in parallel).
    /// A conversation deleted meanwhile stores nothing (the foreign key; the row would be orphaned).
    /// </summary>
    public async Task SaveAsync(Guid owner, Guid conversationId, long seq, DialogueState state, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            """
            insert into assistant_dialogue (user_id, conversation_id, answered_seq, state)
            select $1, $2, $3, $4::jsonb where exists (select 1 from conversations where user_id = $1 and conversation_id = $2)
            on conflict (user_id, conversation_id) do update
              set answered_seq = excluded.answered_seq, state = excluded.state, updated_at = now()
              where assistant_dialogue.answered_seq <= excluded.answered_seq
            """);
        cmd.Parameters.AddWithValue(owner);
        cmd.Parameters.AddWithValue(conversationId);
        cmd.Parameters.AddWithValue(seq);
        cmd.Parameters.AddWithValue(JsonSerializer.Serialize(state, AssistantJsonContext.Default.DialogueState));
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
