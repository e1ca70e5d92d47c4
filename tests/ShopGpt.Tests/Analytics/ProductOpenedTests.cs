using ShopGpt.Server.Analytics;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Analytics;

[Collection(AppCollection.Name)]
public sealed class ProductOpenedTests(AppFixture fx)
{
    [Theory]
    [InlineData("{}")]
    [InlineData("{\"productId\":\"\"}")]
    [InlineData("{\"productId\":\"a\\u0000b\"}")]
    public async Task BadProductIdIsA400(string body)
    {
        using var u = await fx.App.GuestAsync();
        var res = await u.Http.PostAsync("/api/analytics/product-opened", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
    }

    [Fact]
    public async Task UnknownProductIsA404AndNothingIsStored()
    {
        using var u = await fx.App.GuestAsync();
        var id = "no-such-" + Guid.NewGuid().ToString("N");
        var res = await u.Http.PostAsJsonAsync("/api/analytics/product-opened", new { productId = id });
        Assert.Equal(HttpStatusCode.NotFound, res.StatusCode);
        var db = fx.App.Services.GetRequiredService<Npgsql.NpgsqlDataSource>();
        await using var cmd = db.CreateCommand("select count(*) from product_opens where product_id = $1");
        cmd.Parameters.AddWithValue(id);
        Assert.Equal(0L, await cmd.ExecuteScalarAsync());
    }

    [Fact]
    public async Task ReportNeedsASignedInUser()
    {
        using var anon = fx.App.Client();
        var res = await anon.PostAsJsonAsync("/api/analytics/product-opened", new { productId = "x" });
        Assert.Equal(HttpStatusCode.Unauthorized, res.StatusCode);
    }

    [Fact]
    public void PartitionOfAUserIsStableAndSpreadsUsers()
    {
        var id = Guid.Parse("0193a1b2-0000-7000-8000-000000000001");
        Assert.Equal(EventPartitioner.PartitionOf(id, 8), EventPartitioner.PartitionOf(id, 8));
        // Time-ordered (v7) ids of users signing up in the same millisecond still spread over partitions.
        var used = Enumerable.Range(0, 200).Select(_ => EventPartitioner.PartitionOf(Guid.CreateVersion7(), 8)).Distinct().Count();
        Assert.Equal(8, used);
    }

    [Fact]
    public void QueriesThatDifferOnlyInCaseAndSpacingAreOne() =>
        Assert.Equal(ShoppingRollup.Normalise("waterproof hiking boots"), ShoppingRollup.Normalise("  Waterproof \t Hiking   BOOTS "));
}
