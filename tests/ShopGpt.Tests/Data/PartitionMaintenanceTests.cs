using ShopGpt.Server.Data;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Data;

public sealed class PartitionMaintenanceTests
{
    private static async Task<Guid> InsertMessageAsync(ScratchDatabase s, Guid user, Guid conv, long seq, DateTime at)
    {
        var id = Guid.NewGuid();
        await s.ExecAsync(
            "insert into messages (user_id, conversation_id, seq, message_id, role, text, created_at) values ($1, $2, $3, $4, 'user', 'hello', $5)",
            user, conv, seq, id, at);
        return id;
    }

    private static Task<string> PartitionOfAsync(ScratchDatabase s, Guid messageId) =>
        s.ScalarAsync<string>("select tableoid::regclass::text from messages where message_id = $1", messageId);

    [Fact]
    public async Task MessagesDatedInPastCurrentAndFutureMonthsLandInTheirMonthsPartition()
    {
        await using var s = await ScratchDatabase.CreateAsync();
        var now = DateTime.UtcNow;
        var maintenance = s.Partitions();
        await maintenance.RunAsync(now, CancellationToken.None);
        Guid user = Guid.NewGuid(), conv = Guid.NewGuid();

        var past = now.AddMonths(-14);
        var farFuture = now.AddMonths(9);
        var pastId = await InsertMessageAsync(s, user, conv, 1, past);
        var currentId = await InsertMessageAsync(s, user, conv, 2, now);
        var nearFutureId = await InsertMessageAsync(s, user, conv, 3, now.AddMonths(2));
        var farFutureId = await InsertMessageAsync(s, user, conv, 4, farFuture);

        Assert.Equal(PartitionMaintenance.PartitionName(now), await PartitionOfAsync(s, currentId));
        Assert.Equal(PartitionMaintenance.PartitionName(now.AddMonths(2)), await PartitionOfAsync(s, nearFutureId));
        // No partition yet for these months: the default partition is the safety net ...
        Assert.Equal("messages_default", await PartitionOfAsync(s, pastId));
        Assert.Equal("messages_default", await PartitionOfAsync(s, farFutureId));

        // ... and the next maintenance run creates their months and moves them there.
        var run = await maintenance.RunAsync(now, CancellationToken.None);
        Assert.True(run.Ran);
        Assert.Equal(2, run.RowsMoved);
        Assert.Equal(0, run.DefaultRows);
        Assert.Equal(PartitionMaintenance.PartitionName(past), await PartitionOfAsync(s, pastId));
        Assert.Equal(PartitionMaintenance.PartitionName(farFuture), await PartitionOfAsync(s, farFutureId));
        Assert.Equal(0L, await s.ScalarAsync<long>("select count(*) from messages_default"));
        Assert.Equal(4L, await s.ScalarAsync<long>("select count(*) from messages where user_id = $1", user));
        // The moved-into partition got every one of the parent's indexes (attach creates them), trigram one included.
        Assert.Equal(
            await s.ScalarAsync<long>("select count(*) from pg_indexes where tablename = 'messages'"),
            await s.ScalarAsync<long>("select count(*) from pg_indexes where tablename = $1", PartitionMaintenance.PartitionName(past)));
        Assert.Equal(1L, await s.ScalarAsync<long>(
            "select count(*) from pg_indexes where tablename = $1 and indexdef like '%gin_trgm_ops%'", PartitionMaintenance.PartitionName(past)));
    }

    [Fact]
    public async Task MaintenanceFromTwoInstancesAtOnceIsIdempotentAndErrorFree()
    {
        await using var s = await ScratchDatabase.CreateAsync();
        await using var secondPool = Npgsql.NpgsqlDataSource.Create(s.ConnectionString);
        var a = s.Partitions();
        var b = s.Partitions(db: secondPool);
        var future = DateTime.UtcNow.AddMonths(20);

        for (var round = 0; round < 5; round++)
        {
            var at = future.AddMonths(round);
            var runs = await Task.WhenAll(a.RunAsync(at, CancellationToken.None), b.RunAsync(at, CancellationToken.None));
            Assert.Contains(runs, r => r.Ran);
        }
        for (var i = 0; i <= PartitionMaintenance.MonthsAhead + 4; i++)
            Assert.Equal(1L, await s.ScalarAsync<long>("select count(*) from pg_class where relname = $1", PartitionMaintenance.PartitionName(future.AddMonths(i))));
        // Everything exists: a further run changes nothing.
        Assert.Equal(0, (await a.RunAsync(future.AddMonths(4), CancellationToken.None)).Created);
    }

    [Fact]
    public async Task RetentionDetachesAndDropsMonthsOlderThanTheLimitAndIsOffByDefault()
    {
        await using var s = await ScratchDatabase.CreateAsync();
        var now = DateTime.UtcNow;
        await s.Partitions().RunAsync(now.AddMonths(-6), CancellationToken.None);   // months -6 .. -3
        var old = PartitionMaintenance.PartitionName(now.AddMonths(-6));
        await InsertMessageAsync(s, Guid.NewGuid(), Guid.NewGuid(), 1, now.AddMonths(-6));

        await s.Partitions().RunAsync(now, CancellationToken.None);   // default: keep everything
        Assert.Equal(1L, await s.ScalarAsync<long>("select count(*) from pg_class where relname = $1", old));

        var run = await s.Partitions(new DatabaseOptions { RetentionMonths = 2 }).RunAsync(now, CancellationToken.None);
        Assert.Equal(4, run.Dropped);   // -6, -5, -4, -3
        Assert.Equal(0L, await s.ScalarAsync<long>("select count(*) from pg_class where relname = $1", old));
        Assert.Equal(0L, await s.ScalarAsync<long>("select count(*) from messages"));
        Assert.Equal(1L, await s.ScalarAsync<long>("select count(*) from pg_class where relname = $1", PartitionMaintenance.PartitionName(now)));
    }
}
