namespace ShopGpt.Tests.Caching;

/// <summary>
/// A clock the test moves by hand. Timers still run on real time (the base TimeProvider's);
/// readers on other threads (the cache's late-removal loop) see whole values, never a torn one.
/// </summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long utcTicks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref utcTicks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref utcTicks, by.Ticks);
}
