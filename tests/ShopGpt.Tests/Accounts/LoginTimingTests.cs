using Microsoft.AspNetCore.Identity;
using ShopGpt.Server.Accounts;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Accounts;

/// <summary>
/// Login must not reveal whether an email exists (issue 9). Wall-clock comparisons are too noisy
/// for a test, so this checks the cause instead: the expensive step (one PBKDF2 verification)
/// happens exactly once whether the email is unknown, known with a wrong password, or right.
/// </summary>
public sealed class LoginTimingTests
{
    private sealed class CountingHasher(IPasswordHasher<AccountUser> inner) : IPasswordHasher<AccountUser>
    {
        public int Verifications;

        public string HashPassword(AccountUser user, string password) => inner.HashPassword(user, password);

        public PasswordVerificationResult VerifyHashedPassword(AccountUser user, string hashedPassword, string providedPassword)
        {
            Interlocked.Increment(ref Verifications);
            return inner.VerifyHashedPassword(user, hashedPassword, providedPassword);
        }
    }

    [Fact]
    public async Task UnknownEmailCostsTheSamePasswordVerificationAsAKnownOne()
    {
        var hasher = new CountingHasher(new PasswordHasher<AccountUser>(Microsoft.Extensions.Options.Options.Create(new PasswordHasherOptions { IterationCount = 1000 })));
        await using var app = await TestApp.StartAsync(overrides: s => s.AddSingleton<IPasswordHasher<AccountUser>>(hasher));
        using var anon = app.Client();
        var email = $"timing{Guid.NewGuid():N}@example.test";
        (await anon.PostAsJsonAsync("/api/auth/register", new { email, password = "right password" })).EnsureSuccessStatusCode();

        foreach (var (who, password, expected) in new[]
        {
            ($"nobody{Guid.NewGuid():N}@example.test", "right password", HttpStatusCode.Unauthorized),
            (email, "wrong password", HttpStatusCode.Unauthorized),
            (email, "right password", HttpStatusCode.OK),
            ("not-an-email", "right password", HttpStatusCode.Unauthorized),
        })
        {
            var before = hasher.Verifications;
            var res = await anon.PostAsJsonAsync("/api/auth/login", new { email = who, password });
            Assert.Equal(expected, res.StatusCode);
            Assert.Equal(before + 1, hasher.Verifications);
        }
    }
}
