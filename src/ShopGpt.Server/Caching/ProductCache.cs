using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace ShopGpt.Server.Caching;

/// <summary>
/// Cached product reads for the catalog: search results keyed by the normalised query and
/// filters (so "  iPhone " and "iphone" share an entry), and products by id. The catalog passes
/// its own loader; the cache decides when it runs.
/// </summary>
public sealed class ProductCache(ShopCache cache, CachePolicies policies)
{
    private const int MaxKeyText = 160;

    public ValueTask<T> SearchAsync<T>(string query, IEnumerable<KeyValuePair<string, string?>>? filters,
        Func<CancellationToken, Task<T>> search, CancellationToken ct = default, Func<T, TimeSpan?>? durationFor = null) =>
        cache.GetOrSetAsync(SearchKey(query, filters), search, policies.ProductSearch, ct, durationFor);

    public ValueTask<T> ByIdAsync<T>(string productId, Func<CancellationToken, Task<T>> load, CancellationToken ct = default,
        Func<T, TimeSpan?>? durationFor = null) =>
        cache.GetOrSetAsync(ByIdKey(productId), load, policies.Product, ct, durationFor);

    public ValueTask RemoveByIdAsync(string productId, CancellationToken ct = default) => cache.RemoveAsync(ByIdKey(productId), ct);

    public static string ByIdKey(string productId) => "product:" + productId;

    /// <summary>products:search:&lt;query&gt;|k=v|k=v with the query case-folded, NFKC-normalised and whitespace-collapsed, filters sorted.</summary>
    public static string SearchKey(string query, IEnumerable<KeyValuePair<string, string?>>? filters)
    {
        var sb = new StringBuilder("products:search:");
        sb.Append(NormalizeText(query));
        if (filters is not null)
            foreach (var (k, v) in filters.Where(f => !string.IsNullOrWhiteSpace(f.Value))
                         .Select(f => (NormalizeText(f.Key), NormalizeText(f.Value!))).OrderBy(f => f.Item1, StringComparer.Ordinal))
                sb.Append('|').Append(k).Append('=').Append(v);
        var key = sb.ToString();
        // Long keys are hashed: bounded key size in L1 and Redis whatever the user typed.
        return key.Length <= MaxKeyText ? key
            : string.Concat(key.AsSpan(0, MaxKeyText - 44), "#", Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(key))));
    }

    public static string NormalizeText(string text)
    {
        var s = text.Normalize(NormalizationForm.FormKC).ToLower(CultureInfo.InvariantCulture);
        var sb = new StringBuilder(s.Length);
        var space = false;
        foreach (var c in s)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c)) { space = sb.Length > 0; continue; }
            if (space) sb.Append(' ');
            space = false;
            sb.Append(c);
        }
        return sb.ToString();
    }
}
