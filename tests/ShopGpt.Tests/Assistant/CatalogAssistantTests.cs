using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;
using ShopGpt.Server.Messaging;
using ShopGpt.Tests.Catalog;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Assistant;

/// <summary>The built-in <c>catalog</c> provider end to end: REST send → turn → deltas → stored answer.</summary>
[Collection(CatalogCollection.Name)]
public sealed partial class CatalogAssistantTests(CatalogFixture fx)
{
    private async Task<(Message Answer, string Streamed)> AskAsync(TestUser user, Guid cid, string text)
    {
        var res = await user.SendAsync(cid, text);
        Assert.Equal(HttpStatusCode.Created, res.StatusCode);
        var userMessageId = (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var stored = await fx.Events.WaitAsync<MessageStored>(m => m.Message.ClientId == "assistant:" + userMessageId);
        var done = await fx.Events.WaitAsync<AssistantDone>(d => d.MessageId == stored.Message.Id);
        Assert.Equal("complete", done.Status);
        var streamed = string.Concat(fx.Events.For(cid).OfType<AssistantDelta>().Where(d => d.MessageId == stored.Message.Id).Select(d => d.Text));
        return (stored.Message, streamed);
    }

    private static List<JsonElement> Products(Message m) =>
        m.Products is { ValueKind: JsonValueKind.Array } p ? p.EnumerateArray().ToList() : [];

    [Fact]
    public async Task EveryProductNamedInACatalogAnswerExistsInTheCatalogWithThatPrice()
    {
        // Real shopper queries (the popularity list, not the relevance dev set), plus follow-ups.
        var queries = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(CatalogFixture.CatalogPath, "..", "queries", "query-popularity.json")))
            .RootElement.EnumerateArray().Select(q => q.GetProperty("query").GetString()!).Where((_, i) => i % 53 == 0).Take(36).ToList();
        queries.AddRange(["kitchen knife set under $40", "cheapest phone", "compare otterbox and lifeproof cases", "hello", "baby bottle between 10 and 30"]);
        var db = fx.App.Services.GetRequiredService<NpgsqlDataSource>();
        using var user = await fx.App.GuestAsync();
        var checkedNames = 0;

        await Parallel.ForEachAsync(queries, new ParallelOptions { MaxDegreeOfParallelism = 6 }, async (q, _) =>
        {
            var cid = await user.CreateConversationAsync();
            foreach (var text in new[] { q, "cheaper ones?", "compare the first two" })
            {
                var (answer, streamed) = await AskAsync(user, cid, text);
                Assert.Equal(answer.Text, streamed);
                var products = Products(answer);
                var prices = new HashSet<decimal>();
                var names = new HashSet<string>();
                foreach (var p in products)
                {
                    await using var cmd = db.CreateCommand("select name, price from products where product_id = $1");
                    cmd.Parameters.AddWithValue(p.GetProperty("id").GetString()!);
                    await using var r = await cmd.ExecuteReaderAsync();
                    Assert.True(await r.ReadAsync(), $"unknown product {p.GetProperty("id")}");
                    Assert.Equal(r.GetString(0), p.GetProperty("name").GetString());
                    decimal? price = r.IsDBNull(1) ? null : r.GetDecimal(1);
                    Assert.Equal(price, p.GetProperty("price").ValueKind == JsonValueKind.Null ? null : p.GetProperty("price").GetDecimal());
                    if (price is not null) prices.Add(price.Value);
                    names.Add(r.GetString(0).Replace("*", "", StringComparison.Ordinal));
                }
                foreach (Match m in Bold().Matches(answer.Text))
                {
                    // A name inside a table cell has its pipes escaped ("\|": markdown.js reads it as "|").
                    Assert.Contains(m.Groups[1].Value.Replace("\\|", "|", StringComparison.Ordinal), names);
                    Interlocked.Increment(ref checkedNames);
                }
                var allowed = Numbers().Matches(text).Select(n => decimal.Parse(n.Value, CultureInfo.InvariantCulture)).ToHashSet();
                foreach (Match m in Dollars().Matches(answer.Text))
                {
                    var amount = decimal.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                    Assert.True(prices.Contains(amount) || allowed.Contains(amount), $"${amount} in an answer to \"{text}\" is no listed product's price");
                }
            }
        });
        Assert.True(checkedNames > 100, $"only {checkedNames} product names were checked");
    }

    [Fact]
    public async Task FollowUpsRefineThePreviousAnswer()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();

        var (first, _) = await AskAsync(user, cid, "case for samsung galaxy s7");
        var firstProducts = Products(first);
        Assert.True(firstProducts.Count >= 3);
        var median = firstProducts.Select(p => p.GetProperty("price").GetDecimal()).Order().ElementAt(firstProducts.Count / 2);

        var (cheaper, _) = await AskAsync(user, cid, "cheaper ones?");
        Assert.NotEmpty(Products(cheaper));
        Assert.All(Products(cheaper), p => Assert.True(p.GetProperty("price").GetDecimal() < median));

        var (samsung, _) = await AskAsync(user, cid, "only Samsung");
        Assert.NotEmpty(Products(samsung));
        Assert.All(Products(samsung), p => Assert.Equal("Samsung", p.GetProperty("brand").GetString()));
        var shown = Products(samsung).Select(p => p.GetProperty("id").GetString()).ToList();

        var (compare, _) = await AskAsync(user, cid, "compare the first two");
        Assert.Equal(shown.Take(2), Products(compare).Select(p => p.GetProperty("id").GetString()));
        Assert.Contains("|---|", compare.Text);

        var (details, _) = await AskAsync(user, cid, "tell me more about the second");
        var second = Assert.Single(Products(details));
        Assert.Equal(shown[1], second.GetProperty("id").GetString());
        Assert.StartsWith("**" + second.GetProperty("name").GetString(), details.Text);
    }

    [Fact]
    public async Task EachStepOfATurnBeforeItsFirstChunkIsTimedInMetrics()
    {
        // A MeterListener, not a /metrics scrape: OpenTelemetry's exporters are process-wide and
        // other instances in this test process share them.
        var stages = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "shopgpt.assistant.turn_stage_duration") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "stage" && value >= 0) stages.AddOrUpdate((string)tag.Value!, 1, (_, n) => n + 1);
        });
        listener.Start();

        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        await AskAsync(user, cid, "case for galaxy s7");
        Assert.All(new[] { "queue", "context", "plan", "provider" }, stage => Assert.True(stages.ContainsKey(stage), $"no {stage} timing"));
    }

    [Fact]
    public async Task ABroadRequestGetsAClarifyingQuestion()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var (answer, _) = await AskAsync(user, cid, "I need a phone");
        Assert.Contains("budget", answer.Text);
        Assert.Contains("?", answer.Text);
        Assert.Equal("assistant", answer.Role);
    }

    [GeneratedRegex(@"\*\*(.+?)\*\*")]
    private static partial Regex Bold();

    [GeneratedRegex(@"\$(\d+(?:\.\d+)?)")]
    private static partial Regex Dollars();

    [GeneratedRegex(@"\d+(?:\.\d+)?")]
    private static partial Regex Numbers();
}
