namespace ShopGpt.Bench;

/// <summary>
/// Bench servers serve /metrics on a loopback management port, their public port + 1000
/// (./shopgpt bench_server); the public port never does (issue 15, finding 9).
/// </summary>
public static class ManagementPort
{
    public static Uri MetricsUri(HttpClient publicClient) =>
        new UriBuilder(publicClient.BaseAddress!) { Port = publicClient.BaseAddress!.Port + 1000, Path = "/metrics" }.Uri;
}
