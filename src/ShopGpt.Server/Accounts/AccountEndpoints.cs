using System.ComponentModel.DataAnnotations;
using System.Net.Mail;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Npgsql;
using ShopGpt.Server.Http;

namespace ShopGpt.Server.Accounts;

public sealed class AccountsOptions
{
    [Range(1, 365)] public int SessionDays { get; set; } = 30;

    /// <summary>PBKDF2 iterations (ASP.NET Core Identity's default is 100,000; tests lower it).</summary>
    [Range(1000, 10_000_000)] public int PasswordIterations { get; set; } = 100_000;

    public TimeSpan LastSeenThrottle { get; set; } = TimeSpan.FromMinutes(5);
}

public sealed record RegisterRequest(string? Email, string? Password, string? DisplayName);
public sealed record LoginRequest(string? Email, string? Password);
public sealed record AuthResponse(Guid UserId, string Token, DateTimeOffset ExpiresAt);

/// <summary>Marker type for PasswordHasher&lt;T&gt;; hashes are not tied to a user type here.</summary>
public sealed class AccountUser;

public static class AccountEndpoints
{
    public static void AddAccounts(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<AccountsOptions>().BindConfiguration("Accounts").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<SessionStore>();
        builder.Services.AddSingleton<AccountMetrics>();
        builder.Services.AddSingleton<IPasswordHasher<AccountUser>>(sp =>
            new PasswordHasher<AccountUser>(Microsoft.Extensions.Options.Options.Create(new PasswordHasherOptions
            {
                IterationCount = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<AccountsOptions>>().Value.PasswordIterations,
            })));
        builder.Services.AddAuthentication(BearerAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, BearerAuthenticationHandler>(BearerAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization();
    }

    public static void MapAccounts(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/api/auth").RequireRateLimiting(Http.RateLimiting.AuthPolicy);
        auth.MapPost("/register", RegisterAsync);
        auth.MapPost("/login", LoginAsync);
        auth.MapPost("/guest", GuestAsync);
        auth.MapPost("/logout", LogoutAsync).RequireAuthorization();
    }

    internal static string? NormalizeEmail(string? email)
    {
        var e = email?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(e) || e.Length > 254 || !MailAddress.TryCreate(e, out var parsed) || parsed.Address != e) return null;
        return e;
    }

    private static async Task<IResult> RegisterAsync(HttpContext ctx, RegisterRequest? body, NpgsqlDataSource db, SessionStore sessions,
        IPasswordHasher<AccountUser> hasher, CancellationToken ct)
    {
        var email = NormalizeEmail(body?.Email);
        if (email is null) return ApiProblem.BadRequest("bad_email", "A valid email address is required.");
        if (body!.Password is not { Length: >= 8 and <= 256 })
            return ApiProblem.BadRequest("bad_password", "The password must be 8 to 256 characters long.");
        var displayName = string.IsNullOrWhiteSpace(body.DisplayName) ? email.Split('@')[0] : body.DisplayName.Trim();
        if (displayName.Length > 100 || displayName.Any(char.IsControl))
            return ApiProblem.BadRequest("bad_display_name", "The display name must be at most 100 printable characters.");

        var hash = hasher.HashPassword(new AccountUser(), body.Password);
        // Sent with a guest's bearer token: that guest becomes the account (issue 19).
        if (ctx.User.Identity?.IsAuthenticated == true
            && await GuestUpgrade.TryAsync(db, sessions, ctx.User.UserId(), email, hash, displayName, ct) is { } upgraded)
            return upgraded;

        var userId = Guid.CreateVersion7();
        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            await using var batch = new NpgsqlBatch(conn, tx)
            {
                BatchCommands =
                {
                    new("insert into users (user_id, display_name) values ($1, $2)") { Parameters = { new() { Value = userId }, new() { Value = displayName } } },
                    new("insert into credentials (email, user_id, password_hash) values ($1, $2, $3) on conflict (email) do nothing")
                    {
                        Parameters = { new() { Value = email }, new() { Value = userId }, new() { Value = hash } },
                    },
                },
            };
            await batch.ExecuteNonQueryAsync(ct);
            if (batch.BatchCommands[1].RecordsAffected == 0)
            {
                await tx.RollbackAsync(ct);
                return ApiProblem.Create(409, "email_taken", "An account with this email already exists.");
            }
            await tx.CommitAsync(ct);
        }
        var (token, expires) = await sessions.CreateAsync(userId, ct);
        return TypedResults.Created((string?)null, new AuthResponse(userId, token, expires));
    }

    // A well-formed hash of a random password: verifying against it when the email is unknown
    // costs the same as a real check, so response time does not reveal which emails exist.
    private static string? dummyHash;

    private static async Task<IResult> LoginAsync(LoginRequest? body, NpgsqlDataSource db, SessionStore sessions,
        IPasswordHasher<AccountUser> hasher, AccountMetrics metrics, CancellationToken ct)
    {
        var email = NormalizeEmail(body?.Email);
        var password = body?.Password ?? "";
        Guid? userId = null;
        string? stored = null;
        if (email is not null)
        {
            await using var cmd = db.CreateCommand("select user_id, password_hash from credentials where email = $1");
            cmd.Parameters.AddWithValue(email);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (await r.ReadAsync(ct)) (userId, stored) = (r.GetGuid(0), r.GetString(1));
        }
        dummyHash ??= hasher.HashPassword(new AccountUser(), Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)));
        var result = hasher.VerifyHashedPassword(new AccountUser(), stored ?? dummyHash, password.Length > 256 ? "" : password);
        if (userId is null || result == PasswordVerificationResult.Failed)
        {
            metrics.LoginFailed();
            return ApiProblem.Create(401, "bad_credentials", "Email or password is wrong.");
        }
        var (token, expires) = await sessions.CreateAsync(userId.Value, ct);
        return TypedResults.Ok(new AuthResponse(userId.Value, token, expires));
    }

    private static async Task<IResult> GuestAsync(NpgsqlDataSource db, SessionStore sessions, CancellationToken ct)
    {
        var userId = Guid.CreateVersion7();
        await using (var cmd = db.CreateCommand("insert into users (user_id, display_name, is_guest) values ($1, 'Guest', true)"))
        {
            cmd.Parameters.AddWithValue(userId);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        var (token, expires) = await sessions.CreateAsync(userId, ct);
        return TypedResults.Created((string?)null, new AuthResponse(userId, token, expires));
    }

    private static async Task<IResult> LogoutAsync(HttpContext ctx, SessionStore sessions, CancellationToken ct)
    {
        var hash = (byte[])ctx.Items[BearerAuthenticationHandler.TokenHashItem]!;
        await sessions.RevokeAsync(ctx.User.UserId(), hash, ct);
        return TypedResults.NoContent();
    }
}
