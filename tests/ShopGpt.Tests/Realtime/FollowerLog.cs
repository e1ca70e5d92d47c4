namespace ShopGpt.Tests.Realtime;

/// <summary>
/// Reads a follower's received frames the way a resuming client keeps them: per conversation,
/// the highest seq it has seen with no gap below (what it resubscribes with), and the counts
/// the fault tests assert on (delivered, duplicated).
/// </summary>
public static class FollowerLog
{
    /// <summary>Seqs of <c>msg</c> frames for <paramref name="cid"/>, in arrival order, from frame index <paramref name="from"/>.</summary>
    public static List<long> Seqs(JsonElement[] frames, Guid cid, int from = 0) =>
        frames.Skip(from)
            .Where(f => WsClient.Type(f) == "msg" && f.GetProperty("cid").GetGuid() == cid)
            .Select(f => f.GetProperty("seq").GetInt64())
            .ToList();

    /// <summary>The highest seq n such that 1..n all arrived: a gap-aware client resumes after it.</summary>
    public static long Contiguous(IEnumerable<long> seqs)
    {
        var seen = seqs.ToHashSet();
        long n = 0;
        while (seen.Contains(n + 1)) n++;
        return n;
    }

    /// <summary>How many arrivals repeat a seq already received (must be 0).</summary>
    public static int Duplicates(IEnumerable<long> seqs)
    {
        var list = seqs.ToList();
        return list.Count - list.Distinct().Count();
    }

    /// <summary>Index of the last <c>subscribed</c> frame for <paramref name="cid"/> (where a resume went live).</summary>
    public static int LastSubscribed(JsonElement[] frames, Guid cid) =>
        Array.FindLastIndex(frames, f => WsClient.Type(f) == "subscribed" && f.GetProperty("cid").GetGuid() == cid);
}
