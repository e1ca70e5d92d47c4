namespace ShopGpt.Server.Caching;

/// <summary>
/// Space-Saving top-K (Metwally, Agrawal, El Abbadi, ICDT 2005): at most <c>capacity</c>
/// counters whatever the number of distinct keys. A key not tracked replaces the smallest
/// counter and inherits its count as error, so each estimate is at most N / capacity above the
/// true count (N = accesses seen) and every key with more than N / capacity accesses is tracked.
/// Counters live in an indexed min-heap: O(log capacity) per access. Not thread-safe.
/// </summary>
public sealed class SpaceSaving
{
    private readonly string?[] keys;
    private readonly long[] counts;
    private readonly long[] errors;
    private readonly Dictionary<string, int> slot;
    private int size;

    public SpaceSaving(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        keys = new string?[capacity];
        counts = new long[capacity];
        errors = new long[capacity];
        slot = new Dictionary<string, int>(capacity, StringComparer.Ordinal);
    }

    public int Capacity => keys.Length;
    public int Count => size;
    public long Total { get; private set; }

    public void Add(string key)
    {
        Total++;
        if (slot.TryGetValue(key, out var i))
        {
            counts[i]++;
            SiftDown(i);
            return;
        }
        if (size < keys.Length)
        {
            i = size++;
            keys[i] = key;
            counts[i] = 1;
            errors[i] = 0;
            slot[key] = i;
            SiftUp(i);
            return;
        }
        // Replace the minimum (the heap root): the newcomer may have been counted up to min times before.
        slot.Remove(keys[0]!);
        var min = counts[0];
        keys[0] = key;
        counts[0] = min + 1;
        errors[0] = min;
        slot[key] = 0;
        SiftDown(0);
    }

    /// <summary>Estimated count (an upper bound on the true one) and its error; 0 when not tracked.</summary>
    public (long Count, long Error) Estimate(string key) =>
        slot.TryGetValue(key, out var i) ? (counts[i], errors[i]) : (0, 0);

    /// <summary>The smallest tracked count: any key not tracked has at most this many accesses.</summary>
    public long Floor => size < keys.Length ? 0 : counts[0];

    public IEnumerable<(string Key, long Count, long Error)> Entries()
    {
        for (var i = 0; i < size; i++) yield return (keys[i]!, counts[i], errors[i]);
    }

    /// <summary>Slots allocated by the key index (it never grows past the capacity it was made with).</summary>
    internal int IndexCapacity => slot.EnsureCapacity(0);

    public void Clear()
    {
        Array.Clear(keys);
        slot.Clear();
        size = 0;
        Total = 0;
    }

    private void SiftUp(int i)
    {
        while (i > 0)
        {
            var parent = (i - 1) / 2;
            if (counts[parent] <= counts[i]) return;
            Swap(i, parent);
            i = parent;
        }
    }

    private void SiftDown(int i)
    {
        while (true)
        {
            var l = 2 * i + 1;
            if (l >= size) return;
            var smallest = l + 1 < size && counts[l + 1] < counts[l] ? l + 1 : l;
            if (counts[i] <= counts[smallest]) return;
            Swap(i, smallest);
            i = smallest;
        }
    }

    private void Swap(int a, int b)
    {
        (keys[a], keys[b]) = (keys[b], keys[a]);
        (counts[a], counts[b]) = (counts[b], counts[a]);
        (errors[a], errors[b]) = (errors[b], errors[a]);
        slot[keys[a]!] = a;
        slot[keys[b]!] = b;
    }
}
