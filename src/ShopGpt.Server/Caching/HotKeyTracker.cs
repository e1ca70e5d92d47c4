using Microsoft.Extensions.Options;

namespace ShopGpt.Server.Caching;

public sealed record HotKey(string Key, long Count, long Error, bool Hot);

/// <summary>
/// Per-instance hot keys over a sliding window: two Space-Saving summaries, each covering half
/// the window; every half-window the older one is cleared and becomes the current one, so a
/// key's estimate spans the last ½–1 window. Memory is 2 × capacity counters, whatever the
/// number of distinct keys.
/// </summary>
public sealed class HotKeyTracker
{
    private readonly Lock gate = new();
    private readonly TimeProvider clock;
    private readonly long halfTicks;
    private SpaceSaving current;
    private SpaceSaving previous;
    private long rotateAt;

    public HotKeyTracker(IOptions<CacheOptions> options, TimeProvider clock)
        : this(options.Value.HotKeyCapacity, options.Value.HotKeyWindow, options.Value.HotKeyThreshold, clock)
    {
    }

    public HotKeyTracker(int capacity, TimeSpan window, long threshold, TimeProvider clock)
    {
        this.clock = clock;
        Threshold = threshold;
        Window = window;
        halfTicks = Math.Max(1, window.Ticks / 2);
        current = new SpaceSaving(capacity);
        previous = new SpaceSaving(capacity);
        rotateAt = clock.GetUtcNow().UtcTicks + halfTicks;
    }

    public long Threshold { get; }
    public TimeSpan Window { get; }
    public int Capacity => current.Capacity;

    /// <summary>Counters held right now (never more than 2 × capacity).</summary>
    public int TrackedCount
    {
        get { lock (gate) return current.Count + previous.Count; }
    }

    /// <summary>Counts one access and says whether the key is now hot.</summary>
    /// <summary>Slots allocated by both halves' key indexes.</summary>
    internal int IndexCapacity
    {
        get { lock (gate) return current.IndexCapacity + previous.IndexCapacity; }
    }

    public bool Record(string key)
    {
        lock (gate)
        {
            RotateIfDue();
            current.Add(key);
            return current.Estimate(key).Count + previous.Estimate(key).Count > Threshold;
        }
    }

    public bool IsHot(string key)
    {
        lock (gate)
        {
            RotateIfDue();
            return current.Estimate(key).Count + previous.Estimate(key).Count > Threshold;
        }
    }

    /// <summary>The top <paramref name="k"/> keys of the window, highest estimate first.</summary>
    public IReadOnlyList<HotKey> Top(int k)
    {
        lock (gate)
        {
            RotateIfDue();
            var merged = new Dictionary<string, (long Count, long Error)>(StringComparer.Ordinal);
            foreach (var (key, count, error) in current.Entries()) merged[key] = (count, error);
            foreach (var (key, count, error) in previous.Entries())
                merged[key] = merged.TryGetValue(key, out var c) ? (c.Count + count, c.Error + error) : (count, error);
            return merged.OrderByDescending(e => e.Value.Count).Take(k)
                .Select(e => new HotKey(e.Key, e.Value.Count, e.Value.Error, e.Value.Count > Threshold)).ToList();
        }
    }

    public int HotCount()
    {
        lock (gate)
        {
            RotateIfDue();
            var n = 0;
            foreach (var (key, count, _) in current.Entries())
                if (count + previous.Estimate(key).Count > Threshold) n++;
            foreach (var (key, count, _) in previous.Entries())
                if (current.Estimate(key).Count == 0 && count > Threshold) n++;
            return n;
        }
    }

    private void RotateIfDue()
    {
        var now = clock.GetUtcNow().UtcTicks;
        if (now < rotateAt) return;
        // More than a whole window idle: both halves are out of date.
        if (now >= rotateAt + halfTicks) current.Clear();
        (previous, current) = (current, previous);
        current.Clear();
        rotateAt = now + halfTicks;
    }
}
