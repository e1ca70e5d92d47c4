using System.Text;

namespace ShopGpt.Server.Messaging;

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
}
