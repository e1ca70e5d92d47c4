using System.Security.Cryptography;
using System.Text;

namespace ShopGpt.Server.Http;

/// <summary>
/// The one check for admin endpoints: the X-Admin-Token header against Admin:Token, compared
/// in constant time (hashes of equal length). No configured token means the endpoint does not exist.
/// </summary>
public static class AdminToken
{
    public const string Header = "X-Admin-Token";

    /// <summary>null when the request may proceed; otherwise the 404 or 403 to answer with.</summary>
    public static IResult? Reject(HttpContext ctx, string? configured)
    {
        if (string.IsNullOrEmpty(configured)) return ApiProblem.NotFound("endpoint");
        var given = ctx.Request.Headers[Header].ToString();
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(configured)))
            ? null
            : ApiProblem.Create(403, "forbidden", $"A valid {Header} header is required.");
    }
}
