using Npgsql;

namespace ShopGpt.Server.Analytics;

/// <summary>
/// A consumer's rollup: applies a batch of events inside the transaction that also moves the
/// consumer's position (<see cref="RollupConsumer"/>), so a batch counts fully or not at all.
/// </summary>
public interface IRollup
{
    /// <summary>The consumer name in analytics_positions and the metrics' <c>consumer</c> tag.</summary>
    string Name { get; }

    /// <summary>Every table the rollup writes; a replay empties them before reading the log from its start.</summary>
    IReadOnlyList<string> Tables { get; }

    /// <summary>Applies <paramref name="events"/> (in log order, none applied before) within <paramref name="tx"/>.</summary>
    Task ApplyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<ChangeEvent> events, CancellationToken ct);
}
