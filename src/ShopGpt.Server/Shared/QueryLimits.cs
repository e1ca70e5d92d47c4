using System.Globalization;
using ShopGpt.Server.Http;

namespace ShopGpt.Server.Shared;

/// <summary>The <c>limit</c> query parameter, parsed the same way by every listing.</summary>
public static class QueryLimits
{
    /// <summary>Parses <c>limit</c>: absent gives the default, anything outside 1..max is a 400.</summary>
    public static bool TryParse(string? raw, int fallback, int max, out int limit, out IResult? error)
    {
        error = null;
        limit = fallback;
        if (raw is null) return true;
        if (int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit >= 1 && limit <= max) return true;
        error = ApiProblem.BadRequest("bad_limit", $"limit must be an integer from 1 to {max}.");
        return false;
    }
}
