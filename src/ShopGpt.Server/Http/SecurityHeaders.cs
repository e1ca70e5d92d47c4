namespace ShopGpt.Server.Http;

/// <summary>
/// Browser security headers (issue 7/9): a CSP with no inline script or style, no framing,
/// no MIME sniffing. Product images come from the shops' own CDNs, hence https: for img-src.
/// </summary>
public static class SecurityHeaders
{
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; " +
        "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

    public static void UseSecurityHeaders(this WebApplication app) => app.Use((ctx, next) =>
    {
        Apply(ctx.Response);
        return next(ctx);
    });

    /// <summary>For answers written ahead of the pipeline (the /ws refusals).</summary>
    public static void Apply(HttpResponse response)
    {
        var h = response.Headers;
        h.ContentSecurityPolicy = ContentSecurityPolicy;
        h.XContentTypeOptions = "nosniff";
        h.XFrameOptions = "DENY";
        h["Referrer-Policy"] = "no-referrer";
        h["Cross-Origin-Opener-Policy"] = "same-origin";
    }
}
