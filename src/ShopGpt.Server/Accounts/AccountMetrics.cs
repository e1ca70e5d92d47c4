using System.Diagnostics.Metrics;

namespace ShopGpt.Server.Accounts;

/// <summary>Auth failure counters: the signal behind the credential-stuffing alert.</summary>
public sealed class AccountMetrics
{
    private readonly Counter<long> loginFailures;
    private readonly Counter<long> authFailures;

    public AccountMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("ShopGpt.Accounts");
        loginFailures = meter.CreateCounter<long>("shopgpt.accounts.login_failures", "{attempt}", "Logins refused (unknown email or wrong password)");
        authFailures = meter.CreateCounter<long>("shopgpt.accounts.auth_failures", "{request}", "Bearer tokens refused");
    }

    public void LoginFailed() => loginFailures.Add(1);

    /// <summary><paramref name="reason"/> is one of: malformed, unknown.</summary>
    public void AuthFailed(string reason) => authFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
