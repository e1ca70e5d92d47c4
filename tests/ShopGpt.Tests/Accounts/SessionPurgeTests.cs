using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Data;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Accounts;

public sealed class SessionPurgeTests
{
    [Fact]
    public async Task ExpiredSessionsArePurgedInBatchesAndLiveOnesStay()
    {
        await using var s = await ScratchDatabase.CreateAsync();
        var user = Guid.NewGuid();
        await s.ExecAsync("insert into users (user_id, display_name) values ($1, 'u')", user);
        await s.ExecAsync(
            """
            insert into sessions (user_id, token_hash, expires_at)
            select $1, sha256(i::text::bytea), now() - interval '1 hour' from generate_series(1, 2500) i
            union all
            select $1, sha256(('live' || i)::text::bytea), now() + interval '1 day' from generate_series(1, 3) i
            """, user);

        var purge = new SessionPurge(s.Db, Options.Create(new DatabaseOptions { SessionPurgeBatch = 1000 }), NullLogger<SessionPurge>.Instance);
        Assert.Equal(2500, await purge.PurgeAsync(CancellationToken.None));
        Assert.Equal(3L, await s.ScalarAsync<long>("select count(*) from sessions"));
        Assert.Equal(0L, await s.ScalarAsync<long>("select count(*) from sessions where expires_at < now()"));
        Assert.Equal(0, await purge.PurgeAsync(CancellationToken.None));
        Assert.Equal(2500L, await s.ScalarAsync<long>("select rows from maintenance_runs where job = 'session_purge' order by started_at limit 1"));
    }
}
