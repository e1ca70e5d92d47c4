using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Data;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Data;

/// <summary>
/// The trigram index's pending list is merged by the cleaner, off the send path (why:
/// GinPendingListCleaner). pgstattuple's pgstatginindex shows the pending pages.
/// </summary>
public sealed class GinPendingListCleanerTests
{
    [Fact]
    public async Task InsertsFillThePendingListAndTheCleanerEmptiesItWhileAnotherInstanceCleaningIsSkipped()
    {
        await using var s = await ScratchDatabase.CreateAsync();
        await s.ExecAsync("create extension if not exists pgstattuple");
        await s.Partitions().RunAsync(DateTime.UtcNow, CancellationToken.None);
        var partition = PartitionMaintenance.PartitionName(DateTime.UtcNow);
        var index = await s.ScalarAsync<string>(
            "select c.relname::text from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam " +
            "where i.indrelid = $1::regclass and a.amname = 'gin'", partition);
        // No autovacuum behind the test's back: it would merge the list too.
        await s.ExecAsync($"alter table {partition} set (autovacuum_enabled = false)");
        await s.ExecAsync(
            """
            insert into messages (user_id, conversation_id, seq, message_id, role, text, created_at)
            select gen_random_uuid(), gen_random_uuid(), g, gen_random_uuid(), 'user', 'message number ' || g || ' about ' || md5(g::text), now()
            from generate_series(1, 2000) g
            """);
        var pending = $"select pending_pages::bigint from pgstatginindex('{index}'::regclass)";
        Assert.True(await s.ScalarAsync<long>(pending) > 0);

        var cleaner = new GinPendingListCleaner(s.Db, Options.Create(new DatabaseOptions()), NullLogger<GinPendingListCleaner>.Instance);
        // While another instance holds the cleaning lock, this one skips rather than waits.
        await using (var other = await s.Db.OpenConnectionAsync())
        await using (var tx = await other.BeginTransactionAsync())
        {
            await using var lockCmd = new Npgsql.NpgsqlCommand("select pg_advisory_xact_lock(hashtext('shopgpt.gin_pending_list_clean'))", other, tx);
            await lockCmd.ExecuteNonQueryAsync();
            Assert.Equal(-1, await cleaner.CleanAsync(CancellationToken.None));
            Assert.True(await s.ScalarAsync<long>(pending) > 0);
        }
        Assert.True(await cleaner.CleanAsync(CancellationToken.None) > 0);
        Assert.Equal(0L, await s.ScalarAsync<long>(pending));
        Assert.Equal(1L, await s.ScalarAsync<long>("select count(*) from messages where text like '%number 1234 about%'"));
    }
}
