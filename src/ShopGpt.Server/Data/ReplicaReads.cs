using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace ShopGpt.Server.Data;

/// <summary>The streaming standby (issue 16 part 3); without <c>ConnectionStrings:PostgresStandby</c> every read goes to the primary.</summary>
public sealed class ReplicaOptions
{
    /// <summary>How often the standby's replay position and lag are sampled (they drive routing and the lag metric).</summary>
    [Range(20, 60_000)] public int PollMilliseconds { get; set; } = 200;

    /// <summary>A standby further behind than this takes no reads at all (docs/operations.md#shopgptreadreplicalaghigh).</summary>
    [Range(1, 3600)] public int MaxLagSeconds { get; set; } = 30;

    /// <summary>
    /// How long a user's last write position is kept. Longer than <see cref="MaxLagSeconds"/>, so
    /// when it expires the standby is known to have replayed that write (or takes no reads).
    /// </summary>
    [Range(2, 7200)] public int ReadYourWritesSeconds { get; set; } = 90;
}

/// <summary>One sample of the standby: whether it answers, how far it has replayed, how far behind it is.</summary>
public sealed record StandbyState(bool Up, ulong ReplayLsn, double LagSeconds, long LagBytes, DateTimeOffset SampledAt)
{
    public static readonly StandbyState Unknown = new(false, 0, double.PositiveInfinity, -1, DateTimeOffset.MinValue);
}

/// <summary>
/// Decides where a read goes (docs/operations.md "Read replica"). Reads that tolerate lag
/// (product search, the popular view, shared conversations) go to the standby through an Npgsql
/// multi-host data source with <c>Target Session Attributes=prefer-standby</c>, which falls back to
/// the primary when the standby does not answer. A user's own list and messages go there too,
/// except while the standby has not yet replayed that user's last write: read-your-writes by
/// commit LSN. After every committed write the writer records the primary's WAL position (taken
/// after the commit, so at or past its commit record) for each user it wrote for, in Redis (so
/// every instance sees it; max-wins, expiring after <see cref="ReplicaOptions.ReadYourWritesSeconds"/>);
/// a read compares it with the standby's replay position sampled every
/// <see cref="ReplicaOptions.PollMilliseconds"/> — a lower bound, as replay only moves forward —
/// and reads from the primary when the write may not be there yet. Anything uncertain (Redis
/// unreachable, no recent sample, lag over <see cref="ReplicaOptions.MaxLagSeconds"/>) reads from
/// the primary. A read that fails on the standby (it just died) is retried once on the primary.
/// </summary>
public sealed partial class ReplicaReads : BackgroundService
{
    // KEYS[1] the user's mark; ARGV: LSN as 16 hex digits (string order = numeric order), ttl ms.
    // Max-wins: two writers finishing out of order never move a user's mark backwards.
    private const string MarkScript =
        """
        local cur = redis.call('GET', KEYS[1])
        if (not cur) or cur < ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 1
        """;

    private readonly NpgsqlDataSource primary;
    private readonly NpgsqlMultiHostDataSource? hosts;
    private readonly NpgsqlDataSource? preferStandby;
    private readonly NpgsqlDataSource? standbyOnly;
    private readonly IConnectionMultiplexer? redis;
    private readonly RedisNames names;
    private readonly ReplicaOptions options;
    private readonly DatabaseMetrics metrics;
    private readonly TimeProvider clock;
    private readonly ILogger<ReplicaReads> log;
    // Marks this instance wrote (and the only store without Redis, or when Redis refused a mark):
    // also checked on reads, so a mark Redis lost never lets this instance read around a write.
    private readonly ConcurrentDictionary<Guid, (ulong Lsn, long Until)> localMarks = new();
    private StandbyState state = StandbyState.Unknown;

    public ReplicaReads(NpgsqlDataSource primary, IOptions<ReplicaOptions> options, DatabaseMetrics metrics, TimeProvider clock,
        ILogger<ReplicaReads> log, RedisNames names, NpgsqlMultiHostDataSource? hosts = null, IConnectionMultiplexer? redis = null)
    {
        this.names = names;
        this.primary = primary;
        this.hosts = hosts;
        this.options = options.Value;
        this.metrics = metrics;
        this.clock = clock;
        this.log = log;
        this.redis = redis;
        if (hosts is not null)
        {
            preferStandby = hosts.WithTargetSession(TargetSessionAttributes.PreferStandby);
            standbyOnly = hosts.WithTargetSession(TargetSessionAttributes.Standby);
        }
        metrics.ObserveReplica(() => Volatile.Read(ref state), hosts is not null);
    }

    /// <summary>True when a standby is configured.</summary>
    public bool HasStandby => hosts is not null;

    public StandbyState Standby => Volatile.Read(ref state);

    /// <summary>For reads that tolerate the standby's lag: the standby when usable, else the primary.</summary>
    public NpgsqlDataSource LagTolerant => Usable(Standby) ? preferStandby! : primary;

    /// <summary>Runs a read that tolerates lag; retried on the primary if the standby fails under it.</summary>
    public Task<T> LagTolerantAsync<T>(Func<NpgsqlDataSource, Task<T>> read) => RunAsync(LagTolerant, read);

    /// <summary>Runs a read of <paramref name="userId"/>'s own data: never misses that user's committed writes.</summary>
    public async Task<T> ForUserAsync<T>(Guid userId, Func<NpgsqlDataSource, Task<T>> read) =>
        await RunAsync(await SourceForUserAsync(userId), read);

    /// <summary>
    /// Reads from the primary, or from the standby when the primary cannot be reached: for lookups
    /// that must be fresh while both are up (sessions) but should not stop the standby from serving
    /// while the primary is down.
    /// </summary>
    public async Task<T> PrimaryElseStandbyAsync<T>(Func<NpgsqlDataSource, Task<T>> read)
    {
        try
        {
            return await read(primary);
        }
        catch (Exception e) when (standbyOnly is not null && Http.HttpBasics.IsUnavailable(e) && Standby.Up)
        {
            metrics.ReplicaRead("standby_primary_down");
            return await read(standbyOnly);
        }
    }

    /// <summary>Where a read of this user's own data may go now.</summary>
    public async ValueTask<NpgsqlDataSource> SourceForUserAsync(Guid userId)
    {
        var s = Standby;
        if (!Usable(s)) return primary;
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (localMarks.TryGetValue(userId, out var local) && local.Until > now && local.Lsn > s.ReplayLsn) return OwnWrite();
        if (redis is null) return preferStandby!;
        try
        {
            var mark = await redis.GetDatabase().StringGetAsync(MarkKey(userId));
            if (mark.HasValue && ParseLsn(mark.ToString()) > s.ReplayLsn) return OwnWrite();
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e))
        {
            // Unknown whether this user wrote lately: the primary always has it.
            metrics.ReplicaRead("primary_uncertain");
            return primary;
        }
        return preferStandby!;

        NpgsqlDataSource OwnWrite()
        {
            metrics.ReplicaRead("primary_own_write");
            return primary;
        }
    }

    /// <summary>
    /// After a commit: remembers the primary's WAL position for every user written for, so their
    /// own reads wait for it. Call before acknowledging. Never fails the (committed) write.
    /// </summary>
    public async Task WroteAsync(IReadOnlyCollection<Guid> userIds)
    {
        if (hosts is null || userIds.Count == 0) return;
        ulong lsn;
        try
        {
            await using var cmd = primary.CreateCommand("select pg_current_wal_lsn()::text");
            lsn = ParseLsn((string)(await cmd.ExecuteScalarAsync())!);
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e))
        {
            // The commit went through but its position is unknown: mark at the maximum, so this
            // instance reads these users from the primary until the mark expires.
            lsn = ulong.MaxValue;
        }
        var until = clock.GetUtcNow().ToUnixTimeMilliseconds() + options.ReadYourWritesSeconds * 1000L;
        foreach (var u in userIds) localMarks.AddOrUpdate(u, (lsn, until), (_, old) => (Math.Max(old.Lsn, lsn), until));
        if (redis is null) return;
        try
        {
            var db = redis.GetDatabase();
            var text = lsn.ToString("X16", CultureInfo.InvariantCulture);
            await Task.WhenAll(userIds.Select(u => db.ScriptEvaluateAsync(MarkScript, [MarkKey(u)], [text, options.ReadYourWritesSeconds * 1000L])));
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e) || e is RedisServerException)
        {
            // Other instances then read these users from wherever their own rules say; this one has
            // the local mark. Reads elsewhere also go to the primary while Redis is unreachable.
            LogMarkFailed(log, e.GetType().Name);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (hosts is null) return;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.PollMilliseconds));
        do
        {
            await SampleAsync(stoppingToken);
            PruneLocalMarks();
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Samples the standby now (the loop calls it every PollMilliseconds; tests call it to skip the wait).</summary>
    public async Task<StandbyState> SampleAsync(CancellationToken ct = default)
    {
        if (standbyOnly is null) return Standby;
        StandbyState next;
        // The primary's head first, then the standby: a commit between the two then counts as
        // replayed rather than making a quiet system look minutes behind. Without the primary
        // (down) nothing new can be missing: the standby is as fresh as it gets.
        ulong? head = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(1));
            await using var cmd = primary.CreateCommand("select pg_current_wal_lsn()::text");
            head = ParseLsn((string)(await cmd.ExecuteScalarAsync(timeout.Token))!);
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e) || e is NpgsqlException || e is OperationCanceledException && !ct.IsCancellationRequested)
        {
        }
        try
        {
            ulong replay;
            double idleLag;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                timeout.CancelAfter(TimeSpan.FromSeconds(2));
                await using var cmd = standbyOnly.CreateCommand(
                    """
                    select pg_last_wal_replay_lsn()::text,
                           coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0)::float8
                    """);
                await using var r = await cmd.ExecuteReaderAsync(timeout.Token);
                await r.ReadAsync(timeout.Token);
                replay = r.IsDBNull(0) ? 0 : ParseLsn(r.GetString(0));
                idleLag = r.GetDouble(1);
            }
            // Lag is "how old is the newest replayed commit" only while the primary has WAL the
            // standby has not replayed; with nothing outstanding it is 0 however idle both are.
            var bytes = head is { } h && h > replay ? (long)(h - replay) : 0;
            next = new StandbyState(true, replay, bytes > 0 ? idleLag : 0, bytes, clock.GetUtcNow());
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e) || e is NpgsqlException || e is OperationCanceledException && !ct.IsCancellationRequested)
        {
            if (Standby.Up) LogStandbyDown(log, e.GetType().Name);
            next = StandbyState.Unknown with { SampledAt = clock.GetUtcNow() };
        }
        Volatile.Write(ref state, next);
        return next;
    }

    private bool Usable(StandbyState s) =>
        s.Up && s.LagSeconds <= options.MaxLagSeconds
        && clock.GetUtcNow() - s.SampledAt < TimeSpan.FromMilliseconds(Math.Max(2000, options.PollMilliseconds * 5));

    private async Task<T> RunAsync<T>(NpgsqlDataSource source, Func<NpgsqlDataSource, Task<T>> read)
    {
        if (ReferenceEquals(source, primary))
        {
            if (hosts is not null) metrics.ReplicaRead("primary");
            return await read(primary);
        }
        try
        {
            var result = await read(source);
            metrics.ReplicaRead("standby");
            return result;
        }
        catch (Exception e) when (Http.HttpBasics.IsUnavailable(e))
        {
            // The standby went away under this read (pooled connection broken): the primary has
            // everything the standby had. The sampler takes it out of rotation within a poll.
            metrics.ReplicaRead("primary_standby_failed");
            return await read(primary);
        }
    }

    private void PruneLocalMarks()
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var (k, v) in localMarks)
            if (v.Until <= now) localMarks.TryRemove(new KeyValuePair<Guid, (ulong, long)>(k, v));
    }

    private RedisKey MarkKey(Guid userId) => names.ReadYourWrites(userId);

    /// <summary>PostgreSQL's <c>X/Y</c> text form of an LSN (two hex halves) as a number.</summary>
    internal static ulong ParseLsn(string text)
    {
        if (text.Length == 16 && !text.Contains('/', StringComparison.Ordinal)) return ulong.Parse(text, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        return (ulong.Parse(text.AsSpan(0, slash), NumberStyles.HexNumber, CultureInfo.InvariantCulture) << 32)
               | ulong.Parse(text.AsSpan(slash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The standby does not answer ({ExceptionType}); reading from the primary until it does")]
    private static partial void LogStandbyDown(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording a write position in Redis failed ({ExceptionType}); this instance still routes those users' reads to the primary")]
    private static partial void LogMarkFailed(ILogger logger, string exceptionType);
}
