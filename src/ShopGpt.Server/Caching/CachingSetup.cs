using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Conversations;
using ShopGpt.Server.Data;
using ShopGpt.Server.Http;
using ShopGpt.Server.Shared;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Internals.Distributed;
using ZiggyCreatures.Caching.Fusion.Locking.Distributed.Redis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace ShopGpt.Server.Caching;

public sealed record HotKeysResponse(int Capacity, double WindowSeconds, long Threshold, int HotCount, IReadOnlyList<HotKey> Keys);

/// <summary>Source-generated JSON for the admin endpoint.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(HotKeysResponse))]
public sealed partial class CachingApiJsonContext : JsonSerializerContext;

/// <summary>
/// Source-generated JSON for the values the app itself caches (the L2 wire format). Other
/// features add theirs by registering an <see cref="IJsonTypeInfoResolver"/> (their context);
/// anything else falls back to reflection.
/// </summary>
[JsonSerializable(typeof(FusionCacheDistributedEntry<Cached<SessionInfo?>>))]
[JsonSerializable(typeof(FusionCacheDistributedEntry<Cached<List<Conversation>>>))]
[JsonSerializable(typeof(FusionCacheDistributedEntry<Cached<Catalog.SearchOutcome>>))]
[JsonSerializable(typeof(FusionCacheDistributedEntry<Cached<Catalog.Product?>>))]
public sealed partial class CacheJsonContext : JsonSerializerContext;

public static class CachingSetup
{
    public static void AddCaching(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<CacheOptions>().BindConfiguration("Cache").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<AdminOptions>().BindConfiguration("Admin");
        builder.Services.TryAddSingleton(TimeProvider.System);
        var hasRedis = !string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("Redis"));
        builder.Services.AddSingleton(sp => new CacheTopology(hasRedis ? sp.GetRequiredService<IConnectionMultiplexer>() : null, sp.GetRequiredService<RedisNames>()));
        builder.Services.AddSingleton(sp => new HotKeyTracker(sp.GetRequiredService<IOptions<CacheOptions>>(), sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<CacheMetrics>();
        builder.Services.AddSingleton<CachePolicies>();
        builder.Services.AddSingleton<ShopCache>();
        builder.Services.AddHostedService<DelayedRemovalService>();
        builder.Services.AddSingleton<ProductCache>();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(CachingApiJsonContext.Default));

        var fusion = builder.Services.AddFusionCache()
            .WithOptions((sp, o) =>
            {
                var c = sp.GetRequiredService<IOptions<CacheOptions>>().Value;
                // While Redis is failing, skip it for a moment instead of timing out on every request;
                // auto-recovery replays the removals and writes that could not reach it.
                o.DistributedCacheCircuitBreakerDuration = c.CircuitBreakerDuration;
                o.BackplaneCircuitBreakerDuration = c.CircuitBreakerDuration;
                o.EnableAutoRecovery = true;
                // A new instance is subscribed before it serves, so it never misses an invalidation.
                o.WaitForInitialBackplaneSubscribe = true;
                // Keys and the backplane channel under the app's Redis prefix (the Redis instance is shared with other features).
                var names = sp.GetRequiredService<RedisNames>();
                o.CacheKeyPrefix = names.CacheKeyPrefix;
                o.BackplaneChannelPrefix = names.CacheBackplanePrefix;
            })
            .WithSerializer(sp => new FusionCacheSystemTextJsonSerializer(SerializerOptions(sp)));
        if (!hasRedis) return;

        // Every Redis part reuses the one multiplexer from DataSetup (no extra connections).
        static Func<Task<IConnectionMultiplexer>> Shared(IServiceProvider sp) =>
            () => Task.FromResult(sp.GetRequiredService<IConnectionMultiplexer>());
        fusion
            .WithDistributedCache(sp => new RedisCache(Options.Create(new RedisCacheOptions { ConnectionMultiplexerFactory = Shared(sp) })))
            .WithBackplane(sp => new RedisBackplane(
                Options.Create(new RedisBackplaneOptions { ConnectionMultiplexerFactory = Shared(sp) }),
                sp.GetRequiredService<ILogger<RedisBackplane>>()))
            .WithDistributedLocker(sp => new RedisDistributedLocker(
                Options.Create(new RedisDistributedLockerOptions { ConnectionMultiplexerFactory = Shared(sp) }),
                sp.GetRequiredService<ILogger<RedisDistributedLocker>>()));
    }

    private static JsonSerializerOptions SerializerOptions(IServiceProvider sp)
    {
        var resolvers = new List<IJsonTypeInfoResolver> { CacheJsonContext.Default };
        resolvers.AddRange(sp.GetServices<IJsonTypeInfoResolver>());
        resolvers.Add(new DefaultJsonTypeInfoResolver());
        // IncludeFields: FusionCache's wire format has value tuples, which System.Text.Json only writes with fields on.
        return new JsonSerializerOptions { TypeInfoResolver = JsonTypeInfoResolver.Combine([.. resolvers]), IncludeFields = true };
    }

    public static void MapCaching(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/admin/cache/hot-keys", (HttpContext ctx, HotKeyTracker hot, string? limit) =>
        {
            if (AdminAccess.Refusal(ctx) is { } refusal) return refusal;
            if (!QueryLimits.TryParse(limit, 50, 1000, out var n, out var error)) return error!;
            return TypedResults.Ok(new HotKeysResponse(hot.Capacity, hot.Window.TotalSeconds, hot.Threshold, hot.HotCount(), hot.Top(n)));
        }).RequireRateLimiting(RateLimiting.AuthPolicy); // guarded by a secret: guesses are limited per IP like logins
    }
}
