using Npgsql;
using StackExchange.Redis;

namespace ShopGpt.Server.Observability;

public sealed record ReadyReport(string Status, IReadOnlyList<string> Failing);

public static class HealthEndpoints
{
    public static void AddHealth(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<BusinessMetrics>();
    }

    public static void MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => TypedResults.Text("ok"));
        app.MapGet("/readyz", ReadyAsync);
    }

    // Readiness names what is down so an operator (or nginx health check) sees why at a glance.
    private static async Task<IResult> ReadyAsync(NpgsqlDataSource db, IServiceProvider sp, CancellationToken ct)
    {
        var failing = new List<string>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await using var cmd = db.CreateCommand("select 1");
            await cmd.ExecuteScalarAsync(timeout.Token);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            failing.Add("postgres");
        }
        if (sp.GetService<IConnectionMultiplexer>() is { } redis)
        {
            try
            {
                await redis.GetDatabase().PingAsync().WaitAsync(timeout.Token);
            }
            catch (Exception e) when (e is RedisException or OperationCanceledException or TimeoutException)
            {
                failing.Add("redis");
            }
        }
        var report = new ReadyReport(failing.Count == 0 ? "ready" : "unavailable", failing);
        return failing.Count == 0 ? TypedResults.Ok(report) : TypedResults.Json(report, statusCode: 503);
    }
}
