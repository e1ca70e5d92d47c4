using Npgsql;
using ShopGpt.Server.Catalog;

namespace ShopGpt.Tests.Catalog;

[Collection(CatalogCollection.Name)]
public sealed class ImportTests(CatalogFixture fx)
{
    private NpgsqlDataSource Db => fx.App.Services.GetRequiredService<NpgsqlDataSource>();

    private async Task<long> CountAsync(string sql)
    {
        await using var cmd = Db.CreateCommand(sql);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task BothCatalogFilesGiveTheExpectedCounts()
    {
        Assert.Equal(3291, await CountAsync("select count(*) from products where product_id like 'bb-%' and source = 'bestbuy'"));
        Assert.Equal(1000, await CountAsync("select count(*) from products where product_id like 'amz-%' and source = 'amazon'"));
        // Unknown stays unknown: no stored zero prices or ratings; the Amazon sample has 135 records without a price.
        Assert.Equal(0, await CountAsync("select count(*) from products where price <= 0 or rating <= 0"));
        Assert.Equal(135, await CountAsync("select count(*) from products where source = 'amazon' and price is null"));
        Assert.Equal(0, await CountAsync("select count(*) from products where source = 'bestbuy' and rating is not null"));
        Assert.Equal(0, await CountAsync("select count(*) from products where description like '%|%'"));
        Assert.Equal(0, await CountAsync("select count(*) from products where (product_id like 'bb-%' or product_id like 'amz-%') and embedding is null"));
    }

    [Fact]
    public async Task ReimportingTheSameFilesChangesNothing()
    {
        await using var before = Db.CreateCommand("select max(updated_at) from products where source in ('bestbuy', 'amazon')");
        var stamp = await before.ExecuteScalarAsync();

        var r = await fx.App.Services.GetRequiredService<CatalogImporter>().ImportAsync(CatalogFixture.CatalogPath, null, CancellationToken.None);

        Assert.Equal(4291, r.Read);
        Assert.Equal(0, r.Inserted);
        Assert.Equal(0, r.Updated);
        Assert.Equal(0, r.Embedded);
        Assert.Equal(4291, r.Unchanged);
        await using var after = Db.CreateCommand("select max(updated_at) from products where source in ('bestbuy', 'amazon')");
        Assert.Equal(stamp, await after.ExecuteScalarAsync());
    }

    [Fact]
    public async Task MissingOrZeroPriceIsStoredAsUnknownAndAChangedRecordIsUpdatedAlone()
    {
        var id = "test-" + Guid.NewGuid().ToString("N");
        var file = Path.Combine(Path.GetTempPath(), id + ".jsonl");
        await File.WriteAllLinesAsync(file,
        [
            $$"""{"id":"{{id}}-a","name":"Test Widget Without Price","brand":"Acme","categories":["Gadgets","Widgets"]}""",
            $$"""{"id":"{{id}}-b","name":"Test Widget Zero Price","price":0,"rating":0,"reviewCount":3,"description":"First part. | | Second part |"}""",
            "not json at all",
        ]);
        try
        {
            var importer = fx.App.Services.GetRequiredService<CatalogImporter>();
            var first = await importer.ImportAsync(file, null, CancellationToken.None);
            Assert.Equal((2, 1, 0), (first.Inserted, first.Skipped, first.Updated));

            var search = fx.App.Services.GetRequiredService<ProductSearch>();
            var a = await search.GetAsync(id + "-a", CancellationToken.None);
            var b = await search.GetAsync(id + "-b", CancellationToken.None);
            Assert.NotNull(a);
            Assert.Null(a.Price);
            Assert.Null(a.Rating);
            Assert.Equal(["Gadgets", "Widgets"], a.Categories);
            Assert.NotNull(b);
            Assert.Null(b.Price);
            Assert.Null(b.Rating);
            Assert.Equal(3, b.ReviewCount);
            Assert.Equal("First part. Second part.", b.Description);

            await File.WriteAllLinesAsync(file,
            [
                $$"""{"id":"{{id}}-a","name":"Test Widget Without Price","brand":"Acme","categories":["Gadgets","Widgets"]}""",
                $$"""{"id":"{{id}}-b","name":"Test Widget Now Priced","price":12.5,"reviewCount":3}""",
            ]);
            var second = await importer.ImportAsync(file, null, CancellationToken.None);
            Assert.Equal((0, 1, 1, 1), (second.Inserted, second.Updated, second.Unchanged, second.Embedded));
            Assert.Equal(12.5m, (await search.GetAsync(id + "-b", CancellationToken.None))!.Price);
        }
        finally
        {
            File.Delete(file);
            await using var cmd = Db.CreateCommand("delete from products where product_id like $1");
            cmd.Parameters.AddWithValue(id + "%");
            await cmd.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public void BothShapesNormaliseToStableIds()
    {
        using var bb = JsonDocument.Parse("""{"name":"X Case","description":"d","brand":"Insignia™","categories":["Cell Phones","Cases"],"price":9.99,"image":"https://cdn.example/bestbuy/4984700_sb.jpg","popularity":7}""");
        using var amz = JsonDocument.Parse("""{"id":"abc123","title":"Pie Server","description":"| Great. | | Shiny |","url":"https://www.amazon.com/dp/B0","images":["https://img/1.jpg"],"category":"Home & Kitchen","brand":"Kitchenex","price":0,"rating":4.7,"reviews_count":7}""");
        var a = CatalogReader.Normalise(bb.RootElement)!;
        var b = CatalogReader.Normalise(amz.RootElement)!;
        Assert.Equal(("bb-4984700", "Insignia", 9.99m, 7), (a.Id, a.Brand, a.Price!.Value, a.Popularity!.Value));
        Assert.Equal(("amz-abc123", "Great. Shiny.", (decimal?)null, 4.7f, 7), (b.Id, b.Description, b.Price, b.Rating!.Value, b.ReviewCount!.Value));
        Assert.Equal(["Home & Kitchen"], b.Categories);
    }
}
