using System.Diagnostics.Metrics;

namespace ShopGpt.Server.Observability;

/// <summary>
/// Engagement gauges (scaling report section 6): approximate distinct users and conversations
/// active in the last window, in fixed memory. Two HyperLogLogs per series alternate: the gauge
/// reports the union of the current and previous window, so the value covers 5–10 minutes and
/// never drops to zero at a window boundary.
/// </summary>
public sealed class BusinessMetrics
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(5);
    private readonly TimeProvider clock;
    private readonly Lock gate = new();
    private readonly RotatingSketch users = new();
    private readonly RotatingSketch conversations = new();
    private DateTimeOffset windowStart;

    public BusinessMetrics(IMeterFactory meters, TimeProvider clock)
    {
        this.clock = clock;
        windowStart = clock.GetUtcNow();
        var meter = meters.Create("ShopGpt.Business");
        meter.CreateObservableGauge("shopgpt.business.active_users", () => { Rotate(); return users.Estimate(); }, "{user}",
            "Distinct users active in the last 5-10 minutes (approximate)");
        meter.CreateObservableGauge("shopgpt.business.active_conversations", () => { Rotate(); return conversations.Estimate(); }, "{conversation}",
            "Distinct conversations with messages in the last 5-10 minutes (approximate)");
    }

    public void UserActive(Guid userId)
    {
        Rotate();
        users.Add(userId);
    }

    public void ConversationActive(Guid conversationId)
    {
        Rotate();
        conversations.Add(conversationId);
    }

    private void Rotate()
    {
        var now = clock.GetUtcNow();
        if (now - windowStart < Window) return;
        lock (gate)
        {
            if (now - windowStart < Window) return;
            users.Rotate();
            conversations.Rotate();
            windowStart = now;
        }
    }

    private sealed class RotatingSketch
    {
        private HyperLogLog current = new();
        private HyperLogLog previous = new();

        public void Add(Guid id) => current.Add(id);

        public void Rotate()
        {
            (previous, current) = (current, previous);
            current.Clear();
        }

        public double Estimate() => Math.Round(HyperLogLog.Union(current, previous).Estimate());
    }
}
