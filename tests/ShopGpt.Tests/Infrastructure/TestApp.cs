using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using ShopGpt.Server;

namespace ShopGpt.Tests.Infrastructure;

/// <summary>
/// A real server instance (Kestrel on a free loopback port) over the real test PostgreSQL and
/// Redis. Several can run in one test to play several instances behind a load balancer.
/// </summary>
public sealed class TestApp : IAsyncDisposable
{
    private TestApp(WebApplication app, Uri baseAddress)
    {
        App = app;
        BaseAddress = baseAddress;
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>
    /// The configuration every test instance runs with (in-process or as a child process),
    /// overlaid with <paramref name="overrides"/>.
    /// </summary>
    public static Dictionary<string, string?> Settings(IDictionary<string, string?>? overrides = null, int maxPoolSize = 40)
    {
        var config = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = TestEnvironment.Postgres,
            ["ConnectionStrings:Redis"] = TestEnvironment.Redis,
            ["Database:MinPoolSize"] = "0",
            ["Database:MaxPoolSize"] = maxPoolSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Accounts:PasswordIterations"] = "1000",
            ["Logging:LogLevel:Default"] = "Warning",
            // Features other than the assistant count a conversation's messages exactly; the
            // assistant and catalog tests switch it on (CatalogFixture.Settings).
            ["Assistant:Enabled"] = "false",
            // Tests create many users from one IP; the rate-limit tests set their own low limits.
            ["RateLimits:AuthPerIpPerMinute"] = "1000000",
            ["RateLimits:PerUserPerSecond"] = "1000000",
            ["RateLimits:PerUserBurst"] = "1000000",
            // /metrics is served on this loopback management port only (issue 15, finding 9).
            ["Metrics:ManagementPort"] = PrivatePostgres.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (overrides is not null)
            foreach (var (k, v) in overrides) config[k] = v;
        return config;
    }

    public static async Task<TestApp> StartAsync(IDictionary<string, string?>? settings = null, Action<IServiceCollection>? overrides = null)
    {
        var config = Settings(settings);

        var app = AppHost.Build([], b =>
        {
            b.Configuration.AddInMemoryCollection(config);
            b.WebHost.UseUrls("http://127.0.0.1:0");
        }, overrides);
        await AppHost.PrepareAsync(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestApp(app, new Uri(address));
    }

    /// <summary>An HTTP client for this instance, optionally signed in.</summary>
    public HttpClient Client(string? token = null)
    {
        var c = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null) c.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return c;
    }

    /// <summary>A client for the management listener, the only one that serves /metrics.</summary>
    public HttpClient MetricsClient() => new()
    {
        BaseAddress = new Uri(Server.Observability.MetricsSetup.ManagementUrl(
            Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Server.Observability.MetricsOptions>>().Value.ManagementPort)),
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>A new guest user with a client that carries its token.</summary>
    public async Task<TestUser> GuestAsync()
    {
        using var anon = Client();
        var res = await anon.PostAsync("/api/auth/guest", null);
        res.EnsureSuccessStatusCode();
        var body = await res.Content.ReadFromJsonAsync<JsonElement>();
        var token = body.GetProperty("token").GetString()!;
        return new TestUser(body.GetProperty("userId").GetGuid(), token, Client(token));
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

public sealed record TestUser(Guid Id, string Token, HttpClient Http) : IDisposable
{
    public async Task<Guid> CreateConversationAsync(string? title = null)
    {
        var res = await Http.PostAsJsonAsync("/api/conversations", new { title });
        res.EnsureSuccessStatusCode();
        return (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
    }

    public Task<HttpResponseMessage> SendAsync(Guid conversationId, string text, string? clientId = null) =>
        Http.PostAsJsonAsync($"/api/conversations/{conversationId}/messages", new { text, clientId = clientId ?? Guid.NewGuid().ToString() });

    public void Dispose() => Http.Dispose();
}

/// <summary>One shared instance for tests that only need "a server"; each test makes its own users.</summary>
public sealed class AppFixture : IAsyncLifetime
{
    public TestApp App { get; private set; } = null!;

    public async Task InitializeAsync() => App = await TestApp.StartAsync();

    public async Task DisposeAsync() => await App.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class AppCollection : ICollectionFixture<AppFixture>
{
    public const string Name = "app";
}

/// <summary>
/// Tests that measure the whole process — metrics (OpenTelemetry's meter listener is
/// process-wide, so every in-process instance's meters reach every exporter) and memory —
/// run in this collection, which xunit runs alone after the parallel ones.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolatedCollection : ICollectionFixture<AppFixture>
{
    public const string Name = "isolated";
}

/// <summary>
/// Like <see cref="IsolatedCollection"/>, but with no shared instance: for tests that measure the
/// process while running instances of their own (one live instance at a time keeps the
/// process-wide metric listener unambiguous).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SoloCollection
{
    public const string Name = "solo";
}
