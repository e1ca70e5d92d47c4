using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace ShopGpt.Server.Accounts;

/// <summary>Resolves <c>Authorization: Bearer &lt;token&gt;</c> to a user through the sessions table.</summary>
public sealed class BearerAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    SessionStore sessions,
    AccountMetrics metrics,
    Observability.BusinessMetrics business)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";
    internal const string TokenHashItem = "shopgpt.tokenHash";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return AuthenticateResult.NoResult();
        if (!SessionToken.TryParse(header["Bearer ".Length..].Trim(), out var userId, out var hash))
        {
            metrics.AuthFailed("malformed");
            return AuthenticateResult.Fail("malformed token");
        }

        var session = await sessions.FindAsync(userId, hash, Context.RequestAborted);
        if (session is null)
        {
            metrics.AuthFailed("unknown");
            return AuthenticateResult.Fail("unknown or expired token");
        }
        await sessions.TouchAsync(session, hash, Context.RequestAborted);

        business.UserActive(userId);
        Context.Items[TokenHashItem] = hash;
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, userId.ToString())], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await Http.ApiProblem.Create(401, "unauthorized", "A valid bearer token is required.").ExecuteAsync(Context);
    }
}

public static class CurrentUser
{
    /// <summary>The signed-in user's id; only called behind RequireAuthorization.</summary>
    public static Guid UserId(this ClaimsPrincipal user) => Guid.Parse(user.FindFirstValue(ClaimTypes.NameIdentifier)!);
}
