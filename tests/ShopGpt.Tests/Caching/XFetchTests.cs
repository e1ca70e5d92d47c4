using ShopGpt.Server.Caching;

namespace ShopGpt.Tests.Caching;

public sealed class XFetchTests
{
    [Theory]
    [InlineData(100, 50, 1.0)]   // 2 δ before expiry: e^-2 ≈ 13.5 %
    [InlineData(50, 50, 1.0)]    // δ before expiry: e^-1 ≈ 36.8 %
    [InlineData(10, 50, 1.0)]    // close to expiry: e^-0.2 ≈ 81.9 %
    [InlineData(100, 50, 2.0)]   // β = 2 doubles the horizon: e^-1
    [InlineData(400, 50, 1.0)]   // far from expiry: e^-8 ≈ 0.03 %
    public void RefreshFrequencyMatchesTheFormulaForASeededRandomSource(long gapMs, double deltaMs, double beta)
    {
        var random = new Random(12345);
        const int trials = 200_000;
        const long expires = 1_000_000;
        var yes = 0;
        for (var i = 0; i < trials; i++)
            if (XFetch.ShouldRefresh(expires - gapMs, expires, deltaMs, beta, 1.0 - random.NextDouble())) yes++;

        var expected = Math.Exp(-gapMs / (deltaMs * beta));
        Assert.Equal(expected, XFetch.Probability(expires - gapMs, expires, deltaMs, beta), 12);
        // Binomial standard deviation is at most 0.0012 for 200k trials: 5 σ.
        Assert.InRange((double)yes / trials, expected - 0.006, expected + 0.006);
    }

    [Fact]
    public void DecisionIsExactlyTheInequalityNowMinusDeltaBetaLnRandAtLeastExpiry()
    {
        // r = e^-1: now − δβ·ln r = now + δβ. With δβ = 100 it reaches expiry 100 ms before it
        // (one millisecond either side of the boundary, clear of floating-point rounding).
        var r = Math.Exp(-1);
        Assert.True(XFetch.ShouldRefresh(901, 1000, 100, 1.0, r));
        Assert.False(XFetch.ShouldRefresh(899, 1000, 100, 1.0, r));
        Assert.True(XFetch.ShouldRefresh(901, 1000, 50, 2.0, r));
        Assert.False(XFetch.ShouldRefresh(899, 1000, 50, 2.0, r));
    }

    [Fact]
    public void ExpiredAlwaysRefreshesAndZeroDeltaNeverRefreshesEarly()
    {
        Assert.True(XFetch.ShouldRefresh(1000, 1000, 0, 1.0, 0.5));
        Assert.True(XFetch.ShouldRefresh(2000, 1000, 10, 1.0, 1.0));
        Assert.False(XFetch.ShouldRefresh(999, 1000, 0, 1.0, 1e-300));
        Assert.False(XFetch.ShouldRefresh(999, 1000, 10, 0.0, 1e-300));
        // r = 1 means ln r = 0: never early.
        Assert.False(XFetch.ShouldRefresh(999, 1000, 10_000, 1.0, 1.0));
    }
}
