using CsCheck;
using ShopGpt.Server.Caching;

namespace ShopGpt.Tests.Caching;

/// <summary>
/// Issue 15, finding 4: product search cache keys joined the query and the filters with '|' and '='
/// unescaped, so a query could spell another request's key. Two requests share a key exactly when
/// the search reads them the same way: same query up to case and whitespace runs, same filter
/// values up to case and surrounding whitespace, filters without a value absent.
/// </summary>
public sealed class CacheKeyPropertyTests
{
    private static readonly string[] Names = ["min", "max", "brand", "category", "limit", "mode", "cheapest", "catalog"];

    // Mostly the characters an encoding would use as separators, so collisions are likely if possible at all.
    private static readonly Gen<string> Text = Gen.String[Gen.Char["|=&:;,#%0123456789 \tAaBbq"], 0, 12];

    // Short strings over characters that some normalisation could merge (compatibility forms,
    // no-break space, control characters, case), on few filters: pairs often mean the same, and a
    // key shared by two different meanings shows up.
    private static readonly string[] FewNames = ["brand", "category", "min"];
    private static readonly Gen<string> Short = Gen.String[Gen.Char["aAfi\uFB01\u2460 1\u00A0\u0001|="], 0, 3];

    private static readonly Gen<(string Query, KeyValuePair<string, string?>[] Filters)> Close =
        Gen.Select(Short, Gen.Int[0, 7], Short.Array[FewNames.Length], (q, mask, values) =>
            (q, FewNames.Select((n, i) => new KeyValuePair<string, string?>(n, (mask >> i & 1) == 1 ? values[i] : null)).ToArray()));

    private static readonly Gen<(string Query, KeyValuePair<string, string?>[] Filters)> Request =
        Gen.Select(Text, Gen.Int[0, 255], Text.Array[Names.Length], (q, mask, values) =>
            (q, Names.Select((n, i) => new KeyValuePair<string, string?>(n, (mask >> i & 1) == 1 ? values[i] : null)).ToArray()));

    /// <summary>What the search reads: the request with only what it ignores folded away.</summary>
    private static string Meaning((string Query, KeyValuePair<string, string?>[] Filters) r) =>
        JsonSerializer.Serialize(new
        {
            q = string.Join(' ', r.Query.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)),
            f = r.Filters.Where(f => !string.IsNullOrWhiteSpace(f.Value)).OrderBy(f => f.Key, StringComparer.Ordinal)
                .Select(f => new[] { f.Key, f.Value!.Trim().ToLowerInvariant() }),
        });

    [Fact]
    public void AQueryCannotSpellTheKeyOfAFilteredSearch()
    {
        // The attack pass's example: this query filled the entry q=charger&brand=Apple then read.
        Assert.NotEqual(ProductCache.SearchKey("charger|brand=apple", null), ProductCache.SearchKey("charger", [new("brand", "Apple")]));
        Gen.Select(Text, Gen.Int[0, Names.Length - 1].Select(i => Names[i]), Text).Sample((q, name, value) =>
        {
            if (string.IsNullOrWhiteSpace(value)) return;
            var filtered = ProductCache.SearchKey(q, [new(name, value)]);
            foreach (var spelled in new[] { $"{q}|{name}={value}", $"{q}&{name}={value}", $"{q}:{name}:{value}", $"{q}{name}{value}" })
                Assert.NotEqual(filtered, ProductCache.SearchKey(spelled, null));
        }, iter: 20_000);
    }

    [Fact]
    public void NoTwoDistinctRequestsShareAKey()
    {
        Gen.Select(Request, Request).Sample((a, b) =>
            Assert.Equal(Meaning(a) == Meaning(b), ProductCache.SearchKey(a.Query, a.Filters) == ProductCache.SearchKey(b.Query, b.Filters)),
            iter: 50_000);
        Gen.Select(Close, Close).Sample((a, b) =>
            Assert.Equal(Meaning(a) == Meaning(b), ProductCache.SearchKey(a.Query, a.Filters) == ProductCache.SearchKey(b.Query, b.Filters)),
            iter: 50_000);
        // Many at once: every key belongs to one meaning only.
        Request.Array[2000].Sample(batch =>
        {
            foreach (var group in batch.GroupBy(r => ProductCache.SearchKey(r.Query, r.Filters)))
                Assert.Single(group.Select(Meaning).Distinct());
        }, iter: 20);
    }

    [Fact]
    public void KeysAreBoundedAndCarryNoSearchText()
    {
        Gen.Select(Gen.String[1, 300], Gen.String[1, 120]).Sample((q, brand) =>
        {
            var key = ProductCache.SearchKey(q, [new("brand", brand)]);
            Assert.InRange(key.Length, 1, 80);
            Assert.StartsWith("products:search:", key);
            // Base64url of a SHA-256 after the prefix: nothing the user typed survives.
            Assert.Matches("^products:search:[A-Za-z0-9_-]{43}$", key);
        }, iter: 5_000);
        Assert.Matches("^product:[A-Za-z0-9_-]{43}$", ProductCache.ByIdKey("any text <script> | = :"));
    }
}
