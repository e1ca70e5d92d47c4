using System.Globalization;
using System.Text;
using CsCheck;
using ShopGpt.Server.Catalog;
using ShopGpt.Server.Realtime;

namespace ShopGpt.Tests.Realtime;

/// <summary>
/// Property-based checks (CsCheck) of the parsers that read untrusted text (issue 9): the
/// WebSocket frame parser and the search query / price-phrase parser. Arbitrary input never
/// throws past the boundary; what is understood is consistent and round-trips.
/// </summary>
public sealed class ParserPropertyTests
{
    private static readonly CatalogIndex.Snapshot Catalog = BuildCatalog();

    /// <summary>Strings that look like frames: JSON-ish fragments and frame field names, shuffled and truncated.</summary>
    private static readonly Gen<string> FrameLike = Gen.OneOf(
        Gen.String,
        Gen.Char.AlphaNumeric.Array[0, 40].Select(c => new string(c)),
        Gen.OneOf("{", "}", "[", "]", "\"t\"", ":", ",", "\"sub\"", "\"send\"", "\"ping\"", "\"cid\"", "\"afterSeq\"", "\"ref\"", "\"text\"", "\"ts\"",
                "null", "true", "1e309", "-1", "99999999999999999999999", "\"00000000-0000-0000-0000-000000000000\"", "\"not-a-guid\"", "\"\\ud800\"", "\\u0000", " ")
            .Array[0, 30].Select(parts => string.Concat(parts)));

    [Fact]
    public void FrameParserNeverThrowsOnArbitraryBytes()
    {
        Gen.Byte.Array[0, 300].Sample(bytes => { _ = ClientFrames.Parse(bytes); }, iter: 20_000);
    }

    [Fact]
    public void FrameParserNeverThrowsOnArbitraryFrameLikeText()
    {
        FrameLike.Sample(s => { _ = ClientFrames.Parse(Encoding.UTF8.GetBytes(s)); }, iter: 20_000);
    }

    [Fact]
    public void DeeplyNestedFramesAreRefusedNotThrown()
    {
        Gen.Int[1, 5000].Sample(depth =>
        {
            var s = "{\"t\":\"ping\",\"ts\":" + new string('[', depth) + new string(']', depth) + "}";
            var f = ClientFrames.Parse(Encoding.UTF8.GetBytes(s));
            if (depth <= 60) Assert.Equal("ping", f?.T);
        }, iter: 500);
    }

    [Fact]
    public void EveryWellFormedClientFrameRoundTrips()
    {
        var frames = Gen.Select(Gen.OneOf("sub", "unsub", "send", "stop", "ping"), Gen.Guid, Gen.Long, Gen.String[0, 120], Gen.String[0, 500])
            .Select((t, cid, after, reference, text) => new ClientFrame(t, cid, after, reference, text, null));
        frames.Sample(f =>
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(f, RealtimeJsonContext.Default.ClientFrame);
            Assert.Equal(f, ClientFrames.Parse(json));
        }, iter: 5_000);
    }

    [Fact]
    public void QueryParserNeverThrowsAndPriceBoundsAreConsistent()
    {
        var words = Gen.OneOf("under", "over", "between", "and", "to", "from", "below", "above", "at least", "at most", "less than", "more than",
            "$", "-", ",", ".", "cheapest", "only", "by", "samsung", "apple", "otterbox", "case", "phone", "100", "5", "1,000", "19.99", "0",
            "99999999999999999999999999999999", "$1e9", "usd", "bucks", " ", "’", "ß", "İ", "\u0000");
        var queries = Gen.OneOf(Gen.String, words.Array[0, 16].Select(w => string.Join(' ', w)), words.Array[0, 16].Select(w => string.Concat(w)));
        queries.Sample(q =>
        {
            var p = QueryParser.Parse(q, Catalog);
            Assert.NotNull(p.Text);
            Assert.True(p.MinPrice is null or >= 0, $"min {p.MinPrice} for '{q}'");
            Assert.True(p.MaxPrice is null or >= 0, $"max {p.MaxPrice} for '{q}'");
            if (p.MinPrice is { } min && p.MaxPrice is { } max) Assert.True(min <= max, $"min {min} > max {max} for '{q}'");
        }, iter: 20_000);
    }

    [Fact]
    public void PricePhrasesRoundTrip()
    {
        var amount = Gen.Int[0, 10_000_000].Select(cents => decimal.Round(cents / 100m, 2));
        static string Say(decimal d) => d.ToString(d == decimal.Truncate(d) ? "0" : "0.00", CultureInfo.InvariantCulture);

        Gen.Select(amount, Gen.OneOf("under", "below", "less than", "at most", "up to")).Sample((n, word) =>
        {
            var p = QueryParser.Parse($"phone case {word} ${Say(n)}", Catalog);
            Assert.Equal(((decimal?)null, (decimal?)n), (p.MinPrice, p.MaxPrice));
            Assert.DoesNotContain(Say(n), p.Text, StringComparison.Ordinal);
        }, iter: 3_000);
        Gen.Select(amount, Gen.OneOf("over", "above", "more than", "at least")).Sample((n, word) =>
        {
            var p = QueryParser.Parse($"{word} {Say(n)} dollars headphones", Catalog);
            Assert.Equal(((decimal?)n, (decimal?)null), (p.MinPrice, p.MaxPrice));
        }, iter: 3_000);
        Gen.Select(amount, amount).Sample((a, b) =>
        {
            var p = QueryParser.Parse($"laptop between {Say(a)} and {Say(b)}", Catalog);
            Assert.Equal((Math.Min(a, b), Math.Max(a, b)), (p.MinPrice!.Value, p.MaxPrice!.Value));
            var dash = QueryParser.Parse($"laptop ${Say(a)}-${Say(b)}", Catalog);
            Assert.Equal((Math.Min(a, b), Math.Max(a, b)), (dash.MinPrice!.Value, dash.MaxPrice!.Value));
        }, iter: 3_000);
    }

    [Fact]
    public void BrandRestrictionRoundTripsForEveryCatalogBrand()
    {
        Gen.Select(Gen.OneOf("samsung", "apple", "otterbox", "anker"), Gen.OneOf("only", "by", "from", "made by")).Sample((brand, word) =>
        {
            var p = QueryParser.Parse($"phone case {word} {brand}", Catalog);
            Assert.Equal(Catalog.Brands[brand], p.Brand);
        }, iter: 500);
    }

    private static CatalogIndex.Snapshot BuildCatalog()
    {
        var brands = new Dictionary<string, string> { ["samsung"] = "Samsung", ["apple"] = "Apple", ["otterbox"] = "OtterBox", ["anker"] = "Anker" };
        var vocabulary = new Vocabulary.Builder();
        foreach (var name in new[] { "Samsung Galaxy S24 case", "Apple iPhone charger", "OtterBox Defender phone case", "Anker USB-C cable", "wireless headphones laptop backpack" })
            vocabulary.Add(name.ToLowerInvariant());
        return new CatalogIndex.Snapshot([], [], [], [], [], [], [], brands, vocabulary.Build(), (0, DateTime.MinValue));
    }
}
