using System.ClientModel;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OllamaSharp;
using ShopGpt.Server.Messaging;

namespace ShopGpt.Server.Assistant;

public static class AssistantSetup
{
    public static void AddAssistant(this WebApplicationBuilder builder)
    {
        // GET /api/products/compare answers whether or not turns run here.
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(AssistantJsonContext.Default));
        // Assistant:Enabled=false leaves user messages unanswered (the no-op IAssistantTurns from
        // Messaging stays): for instances that only relay, and for tests of other features that
        // count a conversation's messages exactly.
        if (!builder.Configuration.GetValue("Assistant:Enabled", true)) return;
        builder.Services.AddOptions<AssistantOptions>().BindConfiguration("Assistant").ValidateDataAnnotations()
            .Validate(o => o.Provider == "catalog" || Uri.TryCreate(o.Endpoint, UriKind.Absolute, out _), "Assistant:Endpoint must be an absolute URL for the openai and ollama providers.")
            .ValidateOnStart();
        builder.Services.TryAddSingleton(sp => CreateChatClient(sp.GetRequiredService<IOptions<AssistantOptions>>().Value));
        builder.Services.AddSingleton<DialogueStore>();
        builder.Services.AddSingleton<TurnPlanner>();
        builder.Services.AddSingleton<AssistantOrchestrator>();
        builder.Services.AddSingleton<IAssistantTurns>(sp => sp.GetRequiredService<AssistantOrchestrator>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AssistantOrchestrator>());
    }

    /// <summary>The provider named by Assistant:Provider. Model providers get automatic tool invocation (search_products).</summary>
    public static IChatClient CreateChatClient(AssistantOptions o) => o.Provider switch
    {
        "openai" => new OpenAI.Chat.ChatClient(o.Model, new ApiKeyCredential(string.IsNullOrEmpty(o.ApiKey) ? "none" : o.ApiKey),
                new OpenAI.OpenAIClientOptions { Endpoint = new Uri(o.Endpoint!) })
            .AsIChatClient().AsBuilder().UseFunctionInvocation().Build(),
        "ollama" => new ChatClientBuilder(new OllamaApiClient(new Uri(o.Endpoint!), o.Model)).UseFunctionInvocation().Build(),
        _ => new CatalogResponder(TimeSpan.FromMilliseconds(o.CatalogChunkDelayMs)),
    };
}
