using ShopGpt.Server.Caching;

namespace ShopGpt.Server.Conversations;

/// <summary>
/// The first page of a user's conversation list, cached per (user, archived) as the largest
/// page (100); a first page of any smaller limit is its prefix. Every write that can change
/// the list (create, patch, delete, a stored message) invalidates both entries of the owner.
/// </summary>
public sealed class ConversationListCache(ShopCache cache, CachePolicies policies, ConversationStore store)
{
    public const int CachedPageSize = 100;

    private static string Key(Guid userId, bool archived) => $"conv:list:{userId:N}:{(archived ? 'a' : 'o')}";

    public async Task<List<Conversation>> FirstPageAsync(Guid userId, bool archived, int limit, CancellationToken ct)
    {
        var page = await cache.GetOrSetAsync(Key(userId, archived), t => store.ListAsync(userId, archived, null, CachedPageSize, t),
            policies.ConversationList, ct);
        // A copy: the cached list is shared by every reader in this instance.
        return page.GetRange(0, Math.Min(limit, page.Count));
    }

    // Both entries at once: the send path acknowledges (and fans out) only after this, so two
    // Redis round trips one after the other were two waits on every stored message.
    public Task InvalidateAsync(Guid userId, CancellationToken ct = default) =>
        Task.WhenAll(cache.InvalidateAsync(Key(userId, archived: false), ct).AsTask(), cache.InvalidateAsync(Key(userId, archived: true), ct).AsTask());
}
