namespace ShopGpt.Server.Messaging;

/// <summary>
/// The write path for a user's message, shared by REST and the WebSocket: commit through the
/// batcher (the ack point), then tell followers and start the assistant. Publishing and the
/// assistant run after the commit, so a lost publication is repaired by resume, never by
/// an unstored ack.
/// </summary>
public sealed class MessageService(MessageBatcher batcher, IConversationEvents events, IAssistantTurns assistant, Observability.BusinessMetrics business)
{
    public async Task<SendOutcome> SendUserMessageAsync(Guid userId, Guid conversationId, string text, string clientId, CancellationToken ct)
    {
        var outcome = await batcher.SendAsync(new NewMessage(userId, conversationId, "user", text, clientId), ct);
        if (outcome is { Found: true, Duplicate: false })
        {
            business.UserActive(userId);
            business.ConversationActive(conversationId);
            events.Publish(new MessageStored(userId, outcome.Message!));
            assistant.Start(userId, outcome.Message!);
        }
        return outcome;
    }
}
