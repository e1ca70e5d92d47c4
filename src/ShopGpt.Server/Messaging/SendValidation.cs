using ShopGpt.Server.Shared;

namespace ShopGpt.Server.Messaging;

public sealed record SendProblem(string Code, string Message);

/// <summary>The checks a user send passes before the write path, shared by REST and the WebSocket.</summary>
public static class SendValidation
{
    public static SendProblem? Check(string? text, string? clientId, MessagingOptions o)
    {
        if (string.IsNullOrWhiteSpace(text)) return new("bad_text", "text is required.");
        if (text.Length > o.MaxTextLength) return new("too_large", $"text must be at most {o.MaxTextLength} characters.");
        if (!TextRules.IsStorable(text)) return new("bad_text", "text must be valid Unicode without NUL characters.");
        if (string.IsNullOrWhiteSpace(clientId)) return new("bad_client_id", "clientId is required (it makes resends safe).");
        if (clientId.Length > o.MaxClientIdLength || clientId.Any(char.IsControl))
            return new("bad_client_id", $"clientId must be at most {o.MaxClientIdLength} printable characters.");
        if (ClientIds.IsReserved(clientId))
            return new("bad_client_id", $"clientId must not start with \"{ClientIds.ServerPrefix}\" (reserved for the server).");
        return null;
    }
}
