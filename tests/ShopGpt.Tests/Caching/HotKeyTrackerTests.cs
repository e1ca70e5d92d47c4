using ShopGpt.Server.Caching;

namespace ShopGpt.Tests.Caching;

[Collection(Infrastructure.SoloCollection.Name)]
public sealed class HotKeyTrackerTests
{
    /// <summary>Zipf(s) sampler over ranks 1..n by inverse CDF.</summary>
    private sealed class Zipf
    {
        private readonly double[] cdf;
        private readonly Random random;

        public Zipf(int n, double s, int seed)
        {
            cdf = new double[n];
            double sum = 0;
            for (var i = 0; i < n; i++) cdf[i] = sum += 1.0 / Math.Pow(i + 1, s);
            for (var i = 0; i < n; i++) cdf[i] /= sum;
            random = new Random(seed);
        }

        public int Next()
        {
            var i = Array.BinarySearch(cdf, random.NextDouble());
            return i >= 0 ? i : Math.Min(~i, cdf.Length - 1);
        }
    }

    [Fact]
    public void FindsTheTrueTopKeysOfAZipfStreamWithinTheSpaceSavingErrorBound()
    {
        const int capacity = 256;
        const int events = 1_000_000;
        var sketch = new SpaceSaving(capacity);
        var truth = new Dictionary<string, long>();
        var zipf = new Zipf(1_000_000, 1.1, seed: 7);
        for (var i = 0; i < events; i++)
        {
            var key = "k" + zipf.Next();
            sketch.Add(key);
            truth[key] = truth.GetValueOrDefault(key) + 1;
        }

        var bound = events / capacity;
        var trueTop = truth.OrderByDescending(e => e.Value).Take(20).ToList();
        var reported = sketch.Entries().OrderByDescending(e => e.Count).Take(20).Select(e => e.Key).ToHashSet();
        foreach (var (key, count) in trueTop)
        {
            var (estimate, error) = sketch.Estimate(key);
            // Never under the truth, over it by at most the recorded error, and the error within N / capacity.
            Assert.InRange(estimate, count, count + error);
            Assert.InRange(error, 0, bound);
        }
        // Every key more frequent than N / capacity is guaranteed to be tracked; the true top 10 are reported as top 20.
        Assert.All(truth.Where(e => e.Value > bound), e => Assert.NotEqual(0, sketch.Estimate(e.Key).Count));
        Assert.All(trueTop.Take(10), e => Assert.Contains(e.Key, reported));
    }

    [Fact]
    public void UsesFixedMemoryForAMillionDistinctKeys()
    {
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var tracker = new HotKeyTracker(capacity: 512, TimeSpan.FromMinutes(1), threshold: 100, clock);
        for (var i = 0; i < 1000; i++) tracker.Record("warm" + (i % 10));
        var slots = tracker.IndexCapacity;

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < 1_000_000; i++)
        {
            tracker.Record("distinct:" + i);
            if (i % 100 == 0) tracker.Record("hot");
        }
        var after = GC.GetTotalMemory(forceFullCollection: true);

        Assert.InRange(tracker.TrackedCount, 1, 2 * tracker.Capacity);
        // The index never grew: it was sized for the capacity up front.
        Assert.Equal(slots, tracker.IndexCapacity);
        // Process-wide (other tests run alongside), so loose: a million retained keys would be ~100 MB.
        Assert.InRange(after - before, long.MinValue, 32 * 1024 * 1024);
        Assert.Contains(tracker.Top(5), k => k.Key == "hot" && k.Hot);
        GC.KeepAlive(tracker);
    }

    [Fact]
    public void KeysFallOutOfTheWindowAndThresholdDecidesHotness()
    {
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var tracker = new HotKeyTracker(capacity: 64, TimeSpan.FromSeconds(60), threshold: 10, clock);
        for (var i = 0; i < 10; i++) Assert.False(tracker.Record("a"));
        Assert.True(tracker.Record("a"));
        Assert.Equal(1, tracker.HotCount());

        // Half a window later the counts are in the previous half and still count.
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.True(tracker.IsHot("a"));
        // A full window after the last access, the key is gone.
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.False(tracker.IsHot("a"));
        Assert.Equal(0, tracker.HotCount());
        Assert.Empty(tracker.Top(10));
    }
}
