namespace ShopGpt.Server.Messaging;

/// <summary>
/// The one store path for every message, the user's and the assistant's: commit through the
/// batcher (the ack point), then tell followers. Publishing runs after the commit, so a lost
/// publication is repaired by resume, never by an unstored ack; the caller hears back only
/// after both.
/// </summary>
public sealed class MessageWriter(MessageBatcher batcher, IConversationEvents events)
{
    public async Task<SendOutcome> StoreAsync(NewMessage message, CancellationToken ct)
    {
        var outcome = await batcher.SendAsync(message, ct);
        if (outcome.Message is not { } stored) return outcome;
        if (message.Role == MessageRoles.Assistant)
        {
            // Also for a resend (same "assistant:<user message id>" client id): the answer's
            // followers are waiting for its done, whichever store got it in.
            events.Publish(new MessageStored(message.UserId, stored));
            events.Publish(new AssistantDone(message.UserId, stored.ConversationId, stored.Id, stored.Seq, stored.Status));
        }
        else if (!outcome.Duplicate)
        {
            events.Publish(new MessageStored(message.UserId, stored));
        }
        return outcome;
    }
}

public static class MessageRoles
{
    public const string User = "user";
    public const string Assistant = "assistant";
}
