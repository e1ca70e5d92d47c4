namespace ShopGpt.Server.Shared;

/// <summary>What text the database can store, checked before any write or query that carries user text.</summary>
public static class TextRules
{
    /// <summary>PostgreSQL text rejects NUL, and lone UTF-16 surrogates (legal in JSON escapes) cannot be encoded as UTF-8.</summary>
    public static bool IsStorable(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '\0') return false;
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1])) return false;
                i++;
            }
            else if (char.IsLowSurrogate(c))
            {
                return false;
            }
        }
        return true;
    }
}
