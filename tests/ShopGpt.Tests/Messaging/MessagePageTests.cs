using ShopGpt.Server.Messaging;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Messaging;

/// <summary>
/// Message pages read a bounded seq range (gap-free seq), falling back to the open-ended query
/// when the range comes back short: pages stay exact when seqs are missing (retention dropped
/// old months), and every seq is returned once, in order, both directions.
/// </summary>
public sealed class MessagePageTests
{
    [Fact]
    public async Task PagesAreExactWithAndWithoutGapsInSeq()
    {
        await using var s = await ScratchDatabase.CreateAsync();
        Guid user = Guid.NewGuid(), conv = Guid.NewGuid();
        await s.ExecAsync("insert into users (user_id, display_name) values ($1, 'u')", user);
        await s.ExecAsync("insert into conversations (user_id, conversation_id, title, last_seq) values ($1, $2, 't', 95)", user, conv);
        await s.ExecAsync(
            "insert into messages (user_id, conversation_id, seq, message_id, role, text) select $1, $2, i, gen_random_uuid(), 'user', 'm' || i from generate_series(1, 95) i",
            user, conv);
        var store = new MessageReader(s.Db);

        async Task<List<long>> WalkBackAsync()
        {
            var seqs = new List<long>();
            var before = long.MaxValue;
            while (true)
            {
                var page = await store.MessagesBeforeAsync(user, conv, before, 10, CancellationToken.None);
                seqs.AddRange(page.Select(m => m.Seq));
                if (page.Count < 10 || page[^1].Seq <= 1) return seqs;
                before = page[^1].Seq;
            }
        }

        async Task<List<long>> WalkForwardAsync()
        {
            var seqs = new List<long>();
            long after = 0;
            while (true)
            {
                var page = await store.MessagesAfterAsync(user, conv, after, 10, CancellationToken.None);
                seqs.AddRange(page.Select(m => m.Seq));
                if (page.Count < 10) return seqs;
                after = page[^1].Seq;
            }
        }

        // Several walks: prepared statements (and PostgreSQL's generic plans) come into play.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(Enumerable.Range(1, 95).Reverse().Select(x => (long)x), await WalkBackAsync());
            Assert.Equal(Enumerable.Range(1, 95).Select(x => (long)x), await WalkForwardAsync());
        }

        // Gaps: the first 30 seqs gone (retention) and a hole in the middle.
        await s.ExecAsync("delete from messages where seq <= 30 or seq between 50 and 64");
        var expected = Enumerable.Range(1, 95).Where(x => x > 30 && (x < 50 || x > 64)).Select(x => (long)x).ToList();
        Assert.Equal(Enumerable.Reverse(expected), await WalkBackAsync());
        Assert.Equal(expected, await WalkForwardAsync());
        Assert.Equal(expected.TakeLast(5).Reverse(), (await store.MessagesBeforeAsync(user, conv, long.MaxValue, 5, CancellationToken.None)).Select(m => m.Seq));
        Assert.Equal([91L, 92, 93, 94, 95], (await store.MessagesAfterAsync(user, conv, 90, 500, CancellationToken.None)).Select(m => m.Seq));
        Assert.Empty(await store.MessagesAfterAsync(user, conv, long.MaxValue, 500, CancellationToken.None));
    }
}
