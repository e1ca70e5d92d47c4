using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Accounts;

[Collection(AppCollection.Name)]
public sealed class AccountTests(AppFixture fx)
{
    private static string NewEmail() => $"u{Guid.NewGuid():N}@example.test";

    [Fact]
    public async Task RegisterLoginAndLogoutRevokesTheTokenAtOnce()
    {
        using var anon = fx.App.Client();
        var email = NewEmail();
        var reg = await anon.PostAsJsonAsync("/api/auth/register", new { email, password = "correct horse", displayName = "Ann" });
        Assert.Equal(HttpStatusCode.Created, reg.StatusCode);
        var regBody = await reg.Content.ReadFromJsonAsync<JsonElement>();

        var login = await anon.PostAsJsonAsync("/api/auth/login", new { email = email.ToUpperInvariant(), password = "correct horse" });
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var body = await login.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(regBody.GetProperty("userId").GetGuid(), body.GetProperty("userId").GetGuid());
        var token = body.GetProperty("token").GetString()!;

        using var client = fx.App.Client(token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/conversations")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.PostAsync("/api/auth/logout", null)).StatusCode);
        var after = await client.GetAsync("/api/conversations");
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        Assert.Equal("unauthorized", (await after.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        // The registration token is a different session and still works.
        using var first = fx.App.Client(regBody.GetProperty("token").GetString());
        Assert.Equal(HttpStatusCode.OK, (await first.GetAsync("/api/conversations")).StatusCode);
    }

    [Fact]
    public async Task DuplicateEmailIsConflict()
    {
        using var anon = fx.App.Client();
        var email = NewEmail();
        Assert.Equal(HttpStatusCode.Created, (await anon.PostAsJsonAsync("/api/auth/register", new { email, password = "12345678" })).StatusCode);
        var again = await anon.PostAsJsonAsync("/api/auth/register", new { email, password = "87654321" });
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("email_taken", (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task UnknownEmailAndWrongPasswordGetTheSameAnswer()
    {
        using var anon = fx.App.Client();
        var email = NewEmail();
        (await anon.PostAsJsonAsync("/api/auth/register", new { email, password = "right password" })).EnsureSuccessStatusCode();
        var wrong = await anon.PostAsJsonAsync("/api/auth/login", new { email, password = "wrong password" });
        var unknown = await anon.PostAsJsonAsync("/api/auth/login", new { email = NewEmail(), password = "right password" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Equal(await wrong.Content.ReadAsStringAsync(), await unknown.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("not-an-email", "12345678", "bad_email")]
    [InlineData("a@b.test", "short", "bad_password")]
    [InlineData("", "12345678", "bad_email")]
    public async Task BadRegistrationsAreRejectedWithACode(string email, string password, string code)
    {
        using var anon = fx.App.Client();
        var res = await anon.PostAsJsonAsync("/api/auth/register", new { email, password });
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal(code, (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer nonsense")]
    [InlineData("Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task MissingOrForgedTokensAreUnauthorized(string? header)
    {
        using var client = fx.App.Client();
        if (header is not null) client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", header);
        var res = await client.GetAsync("/api/conversations");
        Assert.Equal(HttpStatusCode.Unauthorized, res.StatusCode);
    }
}
