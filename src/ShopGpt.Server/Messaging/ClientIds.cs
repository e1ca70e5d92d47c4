namespace ShopGpt.Server.Messaging;

/// <summary>
/// Client ids are the idempotency keys of stored messages, per user. The server stores its own
/// messages (the assistant's answers) under ids it makes; users' ids must never be able to take
/// one of those (issue 15, finding 10: a user who sent clientId "assistant:&lt;its message id&gt;"
/// turned the answer into a duplicate of that send, so the answer was never stored). The two
/// namespaces are disjoint: every server id starts with <see cref="ServerPrefix"/>, which a user's may not.
/// </summary>
public static class ClientIds
{
    public const string ServerPrefix = "assistant:";

    /// <summary>The id of the assistant's answer to <paramref name="userMessageId"/> (one answer per message).</summary>
    public static string AnswerTo(Guid userMessageId) => ServerPrefix + userMessageId;

    public static bool IsReserved(string clientId) => clientId.StartsWith(ServerPrefix, StringComparison.Ordinal);
}
