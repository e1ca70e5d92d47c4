namespace ShopGpt.Server.Messaging;

/// <summary>
/// A user's send, shared by REST and the WebSocket: the one store path (<see cref="MessageWriter"/>),
/// then — for a new message, not a resend — the activity metrics and the assistant's turn.
/// </summary>
public sealed class MessageService(MessageWriter writer, IAssistantTurns assistant, Observability.BusinessMetrics business)
{
    public async Task<SendOutcome> SendUserMessageAsync(Guid userId, Guid conversationId, string text, string clientId, CancellationToken ct)
    {
        var outcome = await writer.StoreAsync(new NewMessage(userId, conversationId, MessageRoles.User, text, clientId), ct);
        if (outcome is { Found: true, Duplicate: false })
        {
            business.UserActive(userId);
            business.ConversationActive(conversationId);
            assistant.Start(userId, outcome.Message!);
        }
        return outcome;
    }
}
