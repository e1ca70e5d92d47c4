namespace ShopGpt.Server.Messaging;

public sealed record SendProblem(string Code, string Message);

/// <summary>The checks a user send passes before the write path, shared by REST and the WebSocket.</summary>
public static class SendValidation
{
    public static SendProblem? Check(string? text, string? clientId, MessagingOptions o)
    {
        if (string.IsNullOrWhiteSpace(text)) return new("bad_text", "text is required.");
        if (text.Length > o.MaxTextLength) return new("too_large", $"text must be at most {o.MaxTextLength} characters.");
        if (!IsStorableText(text)) return new("bad_text", "text must be valid Unicode without NUL characters.");
        if (string.IsNullOrWhiteSpace(clientId)) return new("bad_client_id", "clientId is required (it makes resends safe).");
        if (clientId.Length > o.MaxClientIdLength || clientId.Any(char.IsControl))
            return new("bad_client_id", $"clientId must be at most {o.MaxClientIdLength} printable characters.");
        if (ClientIds.IsReserved(clientId))
            return new("bad_client_id", $"clientId must not start with \"{ClientIds.ServerPrefix}\" (reserved for the server).");
        return null;
    }

    /// <summary>PostgreSQL text rejects NUL, and lone UTF-16 surrogates (legal in JSON escapes) cannot be encoded as UTF-8.</summary>
    public static bool IsStorableText(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '\0') return false;
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1])) return false;
                i++;
            }
            else if (char.IsLowSurrogate(c))
            {
                return false;
            }
        }
        return true;
    }
}
