namespace ShopGpt.Server.Catalog;

/// <summary>
/// How hybrid search orders its candidates (the union of the lexical top 50 and the semantic top 50).
/// <para>
/// 1. Reciprocal Rank Fusion (Cormack et al. 2009), score = Σ w / (k + rank), k = 60. Why RRF and not
/// a weighted sum of scores: ts_rank_cd + word similarity and cosine live on unrelated scales whose
/// spread changes per query, and RRF needs no calibration between them (a min-max-normalised weighted
/// sum was measured worse on the dev queries, see docs/benchmarks.md). Unlike plain RRF over two
/// partial top-50 lists, both rankings here cover the same union: the in-memory index has a vector for
/// every product, so a lexical-only candidate gets its exact cosine rank instead of "absent"; a
/// semantic-only candidate shares the last lexical rank (it matched no indexed word or trigram).
/// </para>
/// <para>
/// 2. Category vote (pseudo-relevance feedback): the fused top 20 vote, each weighted like its RRF
/// share, for their top two category levels ("Cell Phones &amp; Accessories &gt; Cases"); a candidate's
/// score gains <c>categoryWeight</c> × (its category's share of the vote) / (k + 1). Why: a query
/// usually wants one kind of product, and agreement between the two lists about the kind is a
/// stronger signal than either list's rank of a single product (a charger that happens to mention
/// "galaxy s7 case" drops below the cases).
/// </para>
/// Weights: semantic 0.5, category 2, chosen by 5-fold cross-validation on the dev queries over a
/// small fixed grid (docs/benchmarks.md reports the out-of-fold numbers); k = 60 and the head of 20
/// (twice the default page) were fixed beforehand.
/// </summary>
public static class HybridRanking
{
    public const int RrfK = 60;
    public const int VoteHead = 20;

    /// <param name="Cosine">Null when the product has no stored vector (ranked after every product that has one).</param>
    /// <param name="CategoryPath">Lower-case "a &gt; b &gt; c".</param>
    public readonly record struct Candidate(string Id, float? Cosine, string CategoryPath);

    /// <summary>The candidates' ids, best first. <paramref name="lexical"/> is the lexical order (best first).</summary>
    public static List<string> Rank(IReadOnlyList<string> lexical, IEnumerable<Candidate> candidates, double semanticWeight, double categoryWeight)
    {
        var all = candidates.ToList();
        var lexicalRank = new Dictionary<string, int>(lexical.Count, StringComparer.Ordinal);
        for (var r = 0; r < lexical.Count; r++) lexicalRank.TryAdd(lexical[r], r);

        var score = new Dictionary<string, double>(all.Count, StringComparer.Ordinal);
        foreach (var c in all) score[c.Id] = 1.0 / (RrfK + lexicalRank.GetValueOrDefault(c.Id, lexical.Count) + 1);
        var bySemantic = all.OrderByDescending(c => c.Cosine ?? float.NegativeInfinity).ThenBy(c => c.Id, StringComparer.Ordinal).ToList();
        for (var r = 0; r < bySemantic.Count; r++) score[bySemantic[r].Id] += semanticWeight / (RrfK + r + 1);

        var fused = all.OrderByDescending(c => score[c.Id]).ThenBy(c => c.Id, StringComparer.Ordinal).ToList();
        if (categoryWeight <= 0) return fused.Select(c => c.Id).ToList();

        var votes = new Dictionary<string, double>(StringComparer.Ordinal);
        var total = 0.0;
        for (var r = 0; r < Math.Min(VoteHead, fused.Count); r++)
        {
            var v = 1.0 / (RrfK + r + 1);
            var kind = TopCategories(fused[r].CategoryPath);
            votes[kind] = votes.GetValueOrDefault(kind) + v;
            total += v;
        }
        double Final(Candidate c) => score[c.Id] + categoryWeight * votes.GetValueOrDefault(TopCategories(c.CategoryPath)) / total / (RrfK + 1);
        return all.Select(c => (c.Id, Score: Final(c))).OrderByDescending(x => x.Score).ThenBy(x => x.Id, StringComparer.Ordinal).Select(x => x.Id).ToList();
    }

    /// <summary>The first two levels of a "a &gt; b &gt; c" path.</summary>
    public static string TopCategories(string path)
    {
        var first = path.IndexOf(" > ", StringComparison.Ordinal);
        if (first < 0) return path;
        var second = path.IndexOf(" > ", first + 3, StringComparison.Ordinal);
        return second < 0 ? path : path[..second];
    }
}
