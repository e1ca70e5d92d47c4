using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace ShopGpt.Server.Caching;

/// <summary>
/// Cached product reads for the catalog: search results keyed by a hash of the canonical query
/// and filters (so "  iPhone " and "iphone" share an entry), and products by id. The catalog passes
/// its own loader; the cache decides when it runs.
/// </summary>
public sealed class ProductCache(ShopCache cache, CachePolicies policies)
{
    public ValueTask<T> SearchAsync<T>(string query, IEnumerable<KeyValuePair<string, string?>>? filters,
        Func<CancellationToken, Task<T>> search, CancellationToken ct = default, Func<T, TimeSpan?>? durationFor = null) =>
        cache.GetOrSetAsync(SearchKey(query, filters), search, policies.ProductSearch, ct, durationFor);

    public ValueTask<T> ByIdAsync<T>(string productId, Func<CancellationToken, Task<T>> load, CancellationToken ct = default,
        Func<T, TimeSpan?>? durationFor = null) =>
        cache.GetOrSetAsync(ByIdKey(productId), load, policies.Product, ct, durationFor);

    public ValueTask RemoveByIdAsync(string productId, CancellationToken ct = default) => cache.RemoveAsync(ByIdKey(productId), ct);

    /// <summary>The id comes from the URL (any text up to 200 characters): hashed like search keys.</summary>
    public static string ByIdKey(string productId) => "product:" + Hash(productId);

    /// <summary>
    /// products:search:&lt;base64url SHA-256 of the canonical request&gt;. The canonical form is
    /// unambiguous (every part length-prefixed, so no query or filter text can spell another
    /// request's key: issue 15, finding 4, where "q=charger|brand=apple" filled the entry of
    /// q=charger&amp;brand=Apple) and hashed, so the search text never appears in a cache key,
    /// a Redis key name or a cache log line (finding 3).
    /// </summary>
    public static string SearchKey(string query, IEnumerable<KeyValuePair<string, string?>>? filters) =>
        "products:search:" + Hash(Canonical(query, filters));

    /// <summary>
    /// The request as the search reads it, one line per part: <c>q:&lt;len&gt;:&lt;text&gt;</c>, then each
    /// filter with a value, sorted by name, as <c>&lt;len&gt;:&lt;name&gt;&lt;len&gt;:&lt;value&gt;</c>. Only what the
    /// search itself ignores is folded: case everywhere (QueryParser and the brand and category
    /// filters lower-case with the invariant culture), whitespace runs in the query, surrounding
    /// whitespace of a filter value, and filters without a value (the endpoint drops them).
    /// </summary>
    internal static string Canonical(string query, IEnumerable<KeyValuePair<string, string?>>? filters)
    {
        var sb = new StringBuilder();
        Part(sb.Append('q'), NormalizeText(query));
        if (filters is not null)
            foreach (var (k, v) in filters.Where(f => !string.IsNullOrWhiteSpace(f.Value))
                         .Select(f => (f.Key, f.Value!.Trim().ToLowerInvariant())).OrderBy(f => f.Key, StringComparer.Ordinal))
                Part(Part(sb, k), v);
        return sb.ToString();

        static StringBuilder Part(StringBuilder sb, string s) => sb.Append(s.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(s);
    }

    private static string Hash(string canonical) => Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));

    /// <summary>Lower-cased (invariant, as QueryParser does), whitespace runs collapsed to one space, trimmed.</summary>
    public static string NormalizeText(string text)
    {
        var s = text.ToLowerInvariant();
        var sb = new StringBuilder(s.Length);
        var space = false;
        foreach (var c in s)
        {
            if (char.IsWhiteSpace(c)) { space = sb.Length > 0; continue; }
            if (space) sb.Append(' ');
            space = false;
            sb.Append(c);
        }
        return sb.ToString();
    }
}
