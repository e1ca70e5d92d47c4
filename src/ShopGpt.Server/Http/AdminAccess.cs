using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Caching;

namespace ShopGpt.Server.Http;

/// <summary>
/// The one check every operator endpoint (<c>/api/admin/*</c>) makes: the <c>X-Admin-Token</c>
/// header must equal <c>Admin:Token</c> (compared in constant time). Without a configured token
/// the endpoints do not exist (404), so a default deployment exposes nothing.
/// </summary>
public static class AdminAccess
{
    /// <summary>The refusal to return, or null when the caller is the operator.</summary>
    public static IResult? Refusal(HttpContext ctx)
    {
        var token = ctx.RequestServices.GetRequiredService<IOptions<AdminOptions>>().Value.Token;
        if (string.IsNullOrEmpty(token)) return ApiProblem.NotFound("endpoint");
        var given = ctx.Request.Headers["X-Admin-Token"].ToString();
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(token))))
            return ApiProblem.Create(403, "forbidden", "A valid X-Admin-Token header is required.");
        return null;
    }
}
