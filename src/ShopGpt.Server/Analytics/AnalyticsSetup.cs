namespace ShopGpt.Server.Analytics;

public static class AnalyticsSetup
{
    public static void AddAnalytics(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<AnalyticsOptions>().BindConfiguration("Analytics").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(AnalyticsApiJsonContext.Default));
        builder.Services.AddSingleton<AnalyticsMetrics>();
        builder.Services.AddSingleton<IEventLog, JetStreamEventLog>();
        builder.Services.AddSingleton<ChangeCapture>();
        builder.Services.AddSingleton<RollupConsumer>();
        builder.Services.AddSingleton<IRollup, EngagementRollup>();
        builder.Services.AddSingleton<IRollup, ShoppingRollup>();
        builder.Services.AddSingleton<RollupReplay>();
        // Off: the worker is not even registered, so nothing connects to NATS or reads the slot.
        if (builder.Configuration.GetValue("Analytics:Enabled", true))
            builder.Services.AddHostedService<AnalyticsWorker>();
    }
}
