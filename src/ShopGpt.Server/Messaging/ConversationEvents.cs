namespace ShopGpt.Server.Messaging;

/// <summary>Something followers of a conversation should see, on every instance.</summary>
public abstract record ConversationEvent(Guid OwnerId, Guid ConversationId);

/// <summary>A committed message (user or assistant): the <c>msg</c> frame.</summary>
public sealed record MessageStored(Guid OwnerId, Message Message) : ConversationEvent(OwnerId, Message.ConversationId);

/// <summary>The next chunk of an assistant answer that is not stored yet: the <c>delta</c> frame.</summary>
public sealed record AssistantDelta(Guid OwnerId, Guid ConversationId, Guid MessageId, string Text) : ConversationEvent(OwnerId, ConversationId);

/// <summary>An assistant answer was stored with its final status: the <c>done</c> frame.</summary>
public sealed record AssistantDone(Guid OwnerId, Guid ConversationId, Guid MessageId, long Seq, string Status) : ConversationEvent(OwnerId, ConversationId);

/// <summary>
/// Fan-out of conversation events to followers on all instances. Implementations must not
/// block the caller (they enqueue); delivery is best-effort live traffic, and followers that
/// miss something catch up from the database with <c>afterSeq</c>.
/// </summary>
public interface IConversationEvents
{
    void Publish(ConversationEvent e);
}

/// <summary>Starts and stops assistant turns; the Assistant feature provides the real one.</summary>
public interface IAssistantTurns
{
    /// <summary>Begins the assistant's answer to a stored user message (returns at once).</summary>
    void Start(Guid ownerId, Message userMessage);

    /// <summary>Stops the answer in progress in a conversation; false when there is none.</summary>
    bool Stop(Guid ownerId, Guid conversationId);
}
