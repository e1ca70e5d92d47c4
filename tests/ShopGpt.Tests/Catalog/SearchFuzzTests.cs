using CsCheck;
using ShopGpt.Tests.Realtime;

namespace ShopGpt.Tests.Catalog;

/// <summary>
/// HTTP-level fuzz (issue 9): arbitrary query strings against GET /api/products/search on the
/// seeded catalog, and arbitrary text frames against a live WebSocket, never get a 5xx / never
/// break the connection.
/// </summary>
[Collection(CatalogCollection.Name)]
public sealed class SearchFuzzTests(CatalogFixture catalog)
{
    private static readonly Gen<string> Value = Gen.OneOf(
        Gen.String[0, 300],
        Gen.OneOf("under $100", "between 50 and 10", "$20-$40", "over 99999999999999999999999999999", "cheapest samsng galxy", "only apple",
            "-1", "1e309", "NaN", "0x10", "%", "%ZZ", "%00", "'; drop table products; --", "\\", "\u0000", "\ud800", "🙂", new string('a', 600)),
        Gen.Char.Array[0, 40].Select(c => new string(c)));

    private static readonly Gen<string> Query = Gen.Select(
        Gen.OneOf("q", "minPrice", "maxPrice", "brand", "category", "limit", "mode", "x", "q[]", "").Array[1, 6],
        Value.Array[6],
        Gen.Bool).Select((names, values, escape) =>
            string.Join('&', names.Select((n, i) => $"{n}={(escape ? Uri.EscapeDataString(values[i]) : values[i].Replace("&", "", StringComparison.Ordinal).Replace("#", "", StringComparison.Ordinal))}")));

    [Fact]
    public async Task ArbitrarySearchQueryStringsNeverGetA5xx()
    {
        using var user = await catalog.App.GuestAsync();
        await Query.SampleAsync(async q =>
        {
            var res = await user.Http.GetAsync("/api/products/search?" + q);
            Assert.True((int)res.StatusCode < 500, $"{(int)res.StatusCode} for ?{q}");
            if (!res.IsSuccessStatusCode) Assert.Equal("application/problem+json", res.Content.Headers.ContentType?.MediaType);
        }, iter: 400, threads: 1);
    }

    [Fact]
    public async Task ArbitraryTextFramesAreAnsweredAndNeverCloseTheConnection()
    {
        using var user = await catalog.App.GuestAsync();
        await using var ws = await WsClient.ConnectAsync(catalog.App, user);
        var frames = Gen.OneOf(Gen.String[0, 500], Gen.OneOf("{\"t\":\"sub\",\"cid\":\"x\"}", "{\"t\":\"send\"}", "[]", "null", "{\"t\":1}", "{\"t\":\"ping\",\"ts\":[[[[[]]]]]}"))
            .Array[15].Single();
        // Stay under the rate limit (burst 20): each batch is answered, then the next goes out.
        foreach (var f in frames) await ws.SendRawAsync(f);
        await ws.SendAsync(new { t = "ping", ts = "after-fuzz" });
        await ws.WaitForAsync(f => WsClient.Type(f) == "pong" && f.TryGetProperty("ts", out var ts) && ts.ValueKind == JsonValueKind.String && ts.GetString() == "after-fuzz");
        Assert.Equal(0, ws.Count(f => WsClient.Type(f) == "err" && f.GetProperty("code").GetString() == "internal"));
    }
}
