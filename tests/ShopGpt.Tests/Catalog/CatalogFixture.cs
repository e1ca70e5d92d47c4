using System.Collections.Concurrent;
using ShopGpt.Server.Messaging;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Catalog;

/// <summary>
/// One instance seeded with the real catalog (../shared/data/catalog): the import, with its
/// MiniLM embeddings, runs once per test database, so every catalog and assistant test shares it.
/// Its conversation events are recorded so tests await deltas and answers instead of polling.
/// </summary>
public sealed class CatalogFixture : IAsyncLifetime
{
    public TestApp App { get; private set; } = null!;

    public RecordingEvents Events { get; } = new();

    public static string Root
    {
        get
        {
            if (Environment.GetEnvironmentVariable("SHOPGPT_ROOT") is { Length: > 0 } root) return root;
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ShopGpt.slnx"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (ShopGpt.slnx).");
        }
    }

    public static string CatalogPath =>
        Environment.GetEnvironmentVariable("SHOPGPT_CATALOG") is { Length: > 0 } p ? p : Path.GetFullPath(Path.Combine(Root, "..", "shared", "data", "catalog"));

    public static Dictionary<string, string?> Settings(params (string Key, string? Value)[] extra)
    {
        var s = new Dictionary<string, string?>
        {
            ["Catalog:SeedPath"] = CatalogPath,
            ["Assistant:Enabled"] = "true",
            ["Assistant:CatalogChunkDelayMs"] = "0",
        };
        foreach (var (k, v) in extra) s[k] = v;
        return s;
    }

    public async Task InitializeAsync()
    {
        Assert.True(Directory.Exists(CatalogPath), $"The catalog data is missing at {CatalogPath}");
        App = await TestApp.StartAsync(Settings(), services => services.AddSingleton<IConversationEvents>(Events));
    }

    public async Task DisposeAsync() => await App.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class CatalogCollection : ICollectionFixture<CatalogFixture>
{
    public const string Name = "catalog";
}

/// <summary>A stand-in for the realtime hub: records every event and lets a test await one.</summary>
public sealed class RecordingEvents : IConversationEvents
{
    private readonly ConcurrentQueue<ConversationEvent> all = new();
    private readonly List<(Func<ConversationEvent, bool> Match, TaskCompletionSource<ConversationEvent> Done)> waiters = [];
    private readonly Lock gate = new();

    public void Publish(ConversationEvent e)
    {
        lock (gate)
        {
            all.Enqueue(e);
            for (var i = waiters.Count - 1; i >= 0; i--)
            {
                if (!waiters[i].Match(e)) continue;
                waiters[i].Done.TrySetResult(e);
                waiters.RemoveAt(i);
            }
        }
    }

    public List<ConversationEvent> For(Guid conversationId) => all.Where(e => e.ConversationId == conversationId).ToList();

    public async Task<T> WaitAsync<T>(Func<T, bool> match, int timeoutSeconds = 60) where T : ConversationEvent
    {
        TaskCompletionSource<ConversationEvent> tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (gate)
        {
            if (all.OfType<T>().FirstOrDefault(match) is { } seen) return seen;
            waiters.Add((e => e is T t && match(t), tcs));
        }
        return (T)await tcs.Task.WaitAsync(TimeSpan.FromSeconds(timeoutSeconds));
    }

    public Task<AssistantDone> DoneAsync(Guid conversationId, int timeoutSeconds = 60) =>
        WaitAsync<AssistantDone>(d => d.ConversationId == conversationId, timeoutSeconds);
}
