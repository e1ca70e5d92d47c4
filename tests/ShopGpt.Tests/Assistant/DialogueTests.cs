using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;
using ShopGpt.Server.Assistant;
using ShopGpt.Server.Catalog;
using ShopGpt.Server.Messaging;
using ShopGpt.Tests.Catalog;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Assistant;

/// <summary>
/// Issue 14, the assistant's side: the conversation's need is stored per conversation (a turn
/// understands only its new message), and what a turn executes against PostgreSQL stays bounded
/// whatever the shopper types.
/// </summary>
[Collection(CatalogCollection.Name)]
public sealed class DialogueTests(CatalogFixture fx)
{
    private async Task<Message> AskAsync(TestUser user, Guid cid, string text)
    {
        var res = await user.SendAsync(cid, text);
        Assert.Equal(HttpStatusCode.Created, res.StatusCode);
        var id = (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var stored = await fx.Events.WaitAsync<MessageStored>(m => m.Message.ClientId == "assistant:" + id);
        await fx.Events.WaitAsync<AssistantDone>(d => d.MessageId == stored.Message.Id);
        return stored.Message;
    }

    private static List<JsonElement> Products(Message m) => m.Products is { ValueKind: JsonValueKind.Array } p ? p.EnumerateArray().ToList() : [];

    [Fact]
    public async Task AFollowUpRefinesTheStoredNeedNotAReadingOfTheHistory()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var first = await AskAsync(user, cid, "protective case for a galaxy s7");
        Assert.NotEmpty(Products(first));

        var db = fx.App.Services.GetRequiredService<NpgsqlDataSource>();
        var store = fx.App.Services.GetRequiredService<DialogueStore>();
        var state = await store.LoadAsync(user.Id, cid, CancellationToken.None);
        Assert.NotNull(state?.Need);
        Assert.Equal(Products(first).Select(p => p.GetProperty("id").GetString()), state.Shown.Select(s => s.Id));

        // Swap the stored need for another one: the follow-up must refine what is stored (the
        // history still says galaxy s7 everywhere).
        await store.SaveAsync(user.Id, cid, first.Seq, state with { Need = new SearchState("iphone 6 case") }, CancellationToken.None);
        var refined = await AskAsync(user, cid, "only otterbox");
        var names = Products(refined).Select(p => p.GetProperty("name").GetString()!).ToList();
        Assert.NotEmpty(names);
        Assert.All(Products(refined), p => Assert.Equal("OtterBox", p.GetProperty("brand").GetString()));
        Assert.Contains(names, n => n.Contains("iPhone", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(names, n => n.Contains("Galaxy S7", StringComparison.OrdinalIgnoreCase));

        // Another user can never read this conversation's state.
        using var other = await fx.App.GuestAsync();
        Assert.Null(await store.LoadAsync(other.Id, cid, CancellationToken.None));
        await using var count = db.CreateCommand("select count(*) from assistant_dialogue where conversation_id = $1");
        count.Parameters.AddWithValue(cid);
        Assert.Equal(1L, await count.ExecuteScalarAsync());
    }

    [Fact]
    public async Task AnOlderTurnsStateNeverOverwritesANewerOne()
    {
        using var user = await fx.App.GuestAsync();
        var cid = await user.CreateConversationAsync();
        var store = fx.App.Services.GetRequiredService<DialogueStore>();
        await store.SaveAsync(user.Id, cid, 5, new DialogueState(new SearchState("newer"), []), CancellationToken.None);
        await store.SaveAsync(user.Id, cid, 3, new DialogueState(new SearchState("older"), []), CancellationToken.None);
        Assert.Equal("newer", (await store.LoadAsync(user.Id, cid, CancellationToken.None))!.Need!.Query);
        // A conversation that does not exist (or is not this user's) gets no state.
        await store.SaveAsync(user.Id, Guid.NewGuid(), 1, new DialogueState(new SearchState("x"), []), CancellationToken.None);
    }

    private sealed record Executed(string Sql, NpgsqlParameter[] Parameters);

    [Fact]
    public async Task AFourThousandCharacterMessageRunsFewShortCheapStatements()
    {
        // Every statement the planner runs, with its parameters, through Npgsql's tracing hook on
        // a data source of its own (the listener is process-wide; the hook is on this source only).
        var executed = new ConcurrentQueue<Executed>();
        var builder = new NpgsqlDataSourceBuilder(TestEnvironment.Postgres);
        builder.ConfigureTracing(t => t.ConfigureCommandEnrichmentCallback((_, cmd) =>
            executed.Enqueue(new Executed(cmd.CommandText, cmd.Parameters.Select(p => p.Clone()).ToArray()))));
        await using var db = builder.Build();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
        };
        ActivitySource.AddActivityListener(listener);

        var sp = fx.App.Services;
        var index = sp.GetRequiredService<CatalogIndex>();
        var search = new ProductSearch(db, index, sp.GetRequiredService<QueryEncoder>(), sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<CatalogOptions>>(), cache: null);
        var planner = new TurnPlanner(search, index, new DialogueStore(db));

        async Task<(List<Executed> Statements, double MaxCost)> Run(string text)
        {
            executed.Clear();
            await planner.PlanAsync(DialogueState.Empty, text, CancellationToken.None);
            var statements = executed.ToList();
            double max = 0;
            foreach (var s in statements)
            {
                await using var explain = db.CreateCommand("explain (format json) " + s.Sql);
                foreach (var p in s.Parameters) explain.Parameters.Add(p.Clone());
                var plan = JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
                max = Math.Max(max, plan.RootElement[0].GetProperty("Plan").GetProperty("Total Cost").GetDouble());
            }
            return (statements, max);
        }

        var (shortStatements, shortCost) = await Run("waterproof case for an iphone 6s");
        Assert.NotEmpty(shortStatements);

        var rnd = new Random(14);
        var words = new List<string>();
        while (words.Sum(w => w.Length + 1) < 4000)
            words.Add(new string(Enumerable.Range(0, rnd.Next(3, 10)).Select(_ => (char)('a' + rnd.Next(26))).ToArray()));
        var longText = string.Join(' ', words)[..4000];
        var (longStatements, longCost) = await Run(longText);

        Assert.InRange(longStatements.Count, 0, 3);
        foreach (var s in longStatements)
        {
            Assert.True(s.Sql.Length < 4000, "the statement's text does not grow with the message");
            foreach (var p in s.Parameters)
                if (p.Value is string v) Assert.True(v.Length <= 200, $"a {v.Length}-character search parameter");
        }
        // What PostgreSQL plans for it stays within a few times a normal request's plan.
        Assert.True(longCost <= Math.Max(4 * shortCost, shortCost + 2000), $"EXPLAIN cost {longCost:F0} against {shortCost:F0} for a short request");
    }
}
