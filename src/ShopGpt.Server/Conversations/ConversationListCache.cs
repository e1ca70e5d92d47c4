using ShopGpt.Server.Caching;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Conversations;

/// <summary>
/// The first page of a user's conversation list, cached per (user, archived) as the largest
/// page (100); a first page of any smaller limit is its prefix. Writes that can move a
/// conversation between the lists (create, patch, delete) invalidate both entries of the owner;
/// a stored message invalidates only the list its conversation is in.
/// </summary>
public sealed class ConversationListCache(ShopCache cache, CachePolicies policies, ConversationStore store, Data.ReplicaReads replicas) : IBatchCommitted
{
    public const int CachedPageSize = 100;

    private static string Key(Guid userId, bool archived) => $"conv:list:{userId:N}:{(archived ? 'a' : 'o')}";

    public async Task<List<Conversation>> FirstPageAsync(Guid userId, bool archived, int limit, CancellationToken ct)
    {
        var page = await cache.GetOrSetAsync(Key(userId, archived), t => replicas.ForUserAsync(userId, ds => store.On(ds).ListAsync(userId, archived, null, CachedPageSize, t)),
            policies.ConversationList, ct);
        // A copy: the cached list is shared by every reader in this instance.
        return page.GetRange(0, Math.Min(limit, page.Count));
    }

    // Both entries, for create, patch and delete (the conversation may have changed lists), and
    // at once: the request answers only after this, so two Redis round trips one after the other
    // were two waits. The same moment records the write for read-your-writes (a refill of the
    // page, or any read of this user's, must not come from a standby that has not replayed it).
    public Task InvalidateAsync(Guid userId, CancellationToken ct = default) =>
        Task.WhenAll(cache.InvalidateAsync(Key(userId, archived: false), ct).AsTask(), cache.InvalidateAsync(Key(userId, archived: true), ct).AsTask(),
            replicas.WroteAsync([userId]));

    /// <summary>
    /// A stored message moves its conversation to the top of the owner's list: drop only the list
    /// it is in, which the batcher read under the conversation's row lock, once per batch (each
    /// invalidation is a Redis DEL + backplane message now and a late removal later). A PATCH that
    /// archives concurrently waits for that lock and invalidates both lists itself after its commit.
    /// </summary>
    public Task OnCommittedAsync(CommittedBatch batch) =>
        Task.WhenAll(batch.Lists.Select(l => cache.InvalidateAsync(Key(l.OwnerId, l.Archived)).AsTask())
            .Append(replicas.WroteAsync(batch.Lists.Select(l => l.OwnerId).Distinct().ToArray())));
}
