namespace ShopGpt.Tests.Shopper;

internal static class Problems
{
    /// <summary>The answer is an RFC 7807 problem with this status and API.md's stable code.</summary>
    public static async Task AssertAsync(HttpResponseMessage res, HttpStatusCode status, string code)
    {
        Assert.Equal(status, res.StatusCode);
        Assert.Equal("application/problem+json", res.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, (await res.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }
}
