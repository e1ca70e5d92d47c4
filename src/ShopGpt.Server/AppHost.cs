using ShopGpt.Server.Accounts;
using ShopGpt.Server.Caching;
using ShopGpt.Server.Assistant;
using ShopGpt.Server.Catalog;
using ShopGpt.Server.Conversations;
using ShopGpt.Server.Data;
using ShopGpt.Server.Http;
using ShopGpt.Server.Messaging;
using ShopGpt.Server.Observability;
using ShopGpt.Server.Realtime;
using ShopGpt.Server.Shortlist;
using ShopGpt.Server.Feedback;

namespace ShopGpt.Server;

/// <summary>Builds the one web app: each feature adds its services and maps its endpoints.</summary>
public static class AppHost
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null, Action<IServiceCollection>? overrides = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);

        builder.Services.ConfigureHttpJsonOptions(o =>
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, Http.ApiJsonContext.Default));

        builder.AddHttpBasics();
        builder.AddRateLimits();
        builder.AddData();
        builder.AddCaching();
        builder.AddAccounts();
        builder.AddConversations();
        builder.AddMessaging();
        builder.AddRealtime();
        builder.AddCatalog();
        builder.AddAssistant();
        builder.AddShortlist();
        builder.AddFeedback();
        builder.AddHealth();
        builder.AddMetrics();

        // Tests replace seams (a recording IConversationEvents, a scripted IChatClient) after every feature registered its own.
        overrides?.Invoke(builder.Services);
        var app = builder.Build();

        app.UseForwardedHeaders();
        app.UseSecurityHeaders();
        app.UseHttpBasics();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimits();

        app.MapHealth();
        app.MapMetrics();
        app.MapAccounts();
        app.MapConversations();
        app.MapRealtime();
        app.MapMessages();
        app.MapCaching();
        app.MapCatalog();
        app.MapComparison();
        app.MapShortlist();
        app.MapFeedback();
        app.MapConversationExport();
        return app;
    }

    /// <summary>Work that must finish before the instance serves: schema migrations, catalog seed and index.</summary>
    public static async Task PrepareAsync(WebApplication app, CancellationToken ct = default)
    {
        await app.Services.GetRequiredService<MigrationRunner>().RunAsync(ct);
        await app.PrepareCatalogAsync(ct);
    }
}
