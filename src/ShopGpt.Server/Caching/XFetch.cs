namespace ShopGpt.Server.Caching;

/// <summary>
/// Probabilistic early expiration ("XFetch", Vattani, Chierichetti, Lowenstein, VLDB 2015):
/// refresh when <c>now − δ·β·ln(r) ≥ expiry</c>, r uniform in (0, 1], δ the time the value took
/// to compute. The chance grows as exp(−(expiry − now)/(δβ)) towards expiry, so callers of one
/// key refresh at spread-out moments instead of all at the expiry instant.
/// </summary>
public static class XFetch
{
    /// <param name="random">A uniform draw in (0, 1]; 0 is treated as the smallest positive double.</param>
    public static bool ShouldRefresh(long nowMs, long expiresAtMs, double deltaMs, double beta, double random)
    {
        if (nowMs >= expiresAtMs) return true;
        if (deltaMs <= 0 || beta <= 0) return false;
        var r = random <= 0 ? double.Epsilon : Math.Min(random, 1.0);
        return nowMs - deltaMs * beta * Math.Log(r) >= expiresAtMs;
    }

    /// <summary>The probability that <see cref="ShouldRefresh"/> says yes (for tests and docs).</summary>
    public static double Probability(long nowMs, long expiresAtMs, double deltaMs, double beta) =>
        nowMs >= expiresAtMs ? 1.0 : deltaMs <= 0 || beta <= 0 ? 0.0 : Math.Exp(-(expiresAtMs - nowMs) / (deltaMs * beta));
}
