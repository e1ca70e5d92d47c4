using ShopGpt.Server.Catalog;

namespace ShopGpt.Tests.Catalog;

public sealed class HybridRankingTests
{
    private const string Cases = "cell phones & accessories > cases, holsters & clips > cases";
    private const string Chargers = "cell phones & accessories > chargers > car chargers";
    private const string Headphones = "electronics > headphones";

    private static HybridRanking.Candidate C(string id, float? cosine, string path = Cases) => new(id, cosine, path);

    [Fact]
    public void ALexicalOnlyCandidateIsRankedByItsExactCosineNotTreatedAsAbsentFromTheSemanticList()
    {
        // "b" is lexical #2 and, by its exact cosine, semantically best: with both rankings over the
        // same union it beats "a" (lexical #1, semantically worst). Plain RRF over partial lists
        // would have left "b" without a semantic rank.
        var ranked = HybridRanking.Rank(["a", "b", "c"], [C("a", 0.1f), C("b", 0.9f), C("c", 0.5f)], semanticWeight: 1, categoryWeight: 0);
        Assert.Equal(["b", "a", "c"], ranked);
    }

    [Fact]
    public void WithoutACategoryVoteItIsReciprocalRankFusionWithTheSemanticWeight()
    {
        var candidates = new[] { C("a", 0.2f), C("b", 0.8f), C("s", 0.9f) };
        double Rrf(int lexRank, int semRank, double w) => 1.0 / (60 + lexRank + 1) + w / (60 + semRank + 1);
        // lexical: a, b; "s" is semantic-only and shares the last lexical rank (2).
        var expected = new[] { ("a", Rrf(0, 2, 0.5)), ("b", Rrf(1, 1, 0.5)), ("s", Rrf(2, 0, 0.5)) }
            .OrderByDescending(x => x.Item2).Select(x => x.Item1);
        Assert.Equal(expected, HybridRanking.Rank(["a", "b"], candidates, semanticWeight: 0.5, categoryWeight: 0));
    }

    [Fact]
    public void TheCategoryMostOfTheFusedHeadAgreesOnLiftsItsProductsAboveAnOddOneOut()
    {
        // "x" (a charger) is lexically first, but the rest of the head are cases: the vote moves it down.
        var lexical = new List<string> { "x", "c1", "c2", "c3", "c4" };
        var candidates = new[] { C("x", 0.6f, Chargers), C("c1", 0.7f), C("c2", 0.65f), C("c3", 0.5f), C("c4", 0.4f) };
        Assert.Equal("x", HybridRanking.Rank(lexical, candidates, 0.5, categoryWeight: 0)[0]);
        var voted = HybridRanking.Rank(lexical, candidates, 0.5, categoryWeight: 2);
        Assert.Equal("c1", voted[0]);
        Assert.True(voted.IndexOf("x") > voted.IndexOf("c2"));
        Assert.Equal(candidates.Select(c => c.Id).Order(), voted.Order()); // nothing added or lost
    }

    [Fact]
    public void AProductWithoutAVectorRanksLastSemanticallyAndTiesBreakByIdDeterministically()
    {
        var ranked = HybridRanking.Rank([], [C("n", null, Headphones), C("b", 0.3f, Headphones), C("a", 0.3f, Headphones)], 1, 2);
        Assert.Equal(["a", "b", "n"], ranked);
        Assert.Empty(HybridRanking.Rank([], [], 0.5, 2));
    }

    [Theory]
    [InlineData("a > b > c", "a > b")]
    [InlineData("a > b", "a > b")]
    [InlineData("a", "a")]
    public void TheVoteIsOnTheTopTwoCategoryLevels(string path, string top) => Assert.Equal(top, HybridRanking.TopCategories(path));
}
