using System.Text;

namespace ShopGpt.Server.Catalog;

/// <summary>
/// Words of the catalog (names, brands, categories) with a trigram inverted index, so a query
/// word the catalog does not contain ("samsng") is corrected to the catalog word with the most
/// trigrams in common ("samsung"), the same measure as pg_trgm's similarity().
/// </summary>
public sealed class Vocabulary
{
    public static readonly Vocabulary Empty = new([], [], new Dictionary<string, int>(), new Dictionary<string, int[]>());

    private readonly string[] words;
    private readonly int[] counts;
    private readonly Dictionary<string, int> ids;
    private readonly Dictionary<string, int[]> postings;

    private Vocabulary(string[] words, int[] counts, Dictionary<string, int> ids, Dictionary<string, int[]> postings)
    {
        this.words = words;
        this.counts = counts;
        this.ids = ids;
        this.postings = postings;
    }

    public bool Contains(string word) => ids.ContainsKey(word);

    /// <summary>The catalog word closest to <paramref name="word"/> (similarity ≥ threshold), or null.</summary>
    public string? Correct(string word, double threshold = 0.4)
    {
        if (ids.ContainsKey(word)) return word;
        var grams = Trigrams(word);
        if (grams.Count == 0) return null;
        var shared = new Dictionary<int, int>();
        foreach (var g in grams)
            if (postings.TryGetValue(g, out var list))
                foreach (var id in list) shared[id] = shared.GetValueOrDefault(id) + 1;
        string? best = null;
        double bestScore = threshold;
        var bestCount = 0;
        foreach (var (id, n) in shared)
        {
            var other = Trigrams(words[id]).Count;
            var sim = (double)n / (grams.Count + other - n);
            if (sim > bestScore || (sim == bestScore && counts[id] > bestCount))
            {
                best = words[id];
                bestScore = sim;
                bestCount = counts[id];
            }
        }
        return best;
    }

    public static IEnumerable<string> Tokens(string text)
    {
        var sb = new StringBuilder();
        foreach (var ch in text)
        {
            if (char.IsLetterOrDigit(ch)) sb.Append(char.ToLowerInvariant(ch));
            else if (sb.Length > 0)
            {
                yield return sb.ToString();
                sb.Clear();
            }
        }
        if (sb.Length > 0) yield return sb.ToString();
    }

    // pg_trgm style: the word padded with two spaces in front and one behind.
    private static HashSet<string> Trigrams(string word)
    {
        var padded = "  " + word + " ";
        var set = new HashSet<string>();
        for (var i = 0; i + 3 <= padded.Length; i++) set.Add(padded.Substring(i, 3));
        return set;
    }

    public sealed class Builder
    {
        private readonly Dictionary<string, int> counts = new();

        public void Add(string? text)
        {
            if (text is null) return;
            foreach (var t in Tokens(text))
                if (t.Length >= 2) counts[t] = counts.GetValueOrDefault(t) + 1;
        }

        public Vocabulary Build()
        {
            var words = counts.Keys.ToArray();
            var ids = new Dictionary<string, int>(words.Length);
            var postings = new Dictionary<string, List<int>>();
            for (var i = 0; i < words.Length; i++)
            {
                ids[words[i]] = i;
                foreach (var g in Trigrams(words[i]))
                {
                    if (!postings.TryGetValue(g, out var l)) postings[g] = l = [];
                    l.Add(i);
                }
            }
            return new Vocabulary(words, words.Select(w => counts[w]).ToArray(), ids, postings.ToDictionary(p => p.Key, p => p.Value.ToArray()));
        }
    }
}
