namespace ShopGpt.Server.Http;

/// <summary>
/// RFC 7807 problem details with the stable <c>code</c> extension that API.md promises.
/// Every error the API returns goes through here or through <see cref="ProblemCodes"/>.
/// </summary>
public static class ApiProblem
{
    public static IResult Create(int status, string code, string detail) =>
        TypedResults.Problem(new Microsoft.AspNetCore.Mvc.ProblemDetails
        {
            Status = status,
            Title = ProblemCodes.TitleFor(status),
            Detail = detail,
            Extensions = { ["code"] = code },
        });

    public static IResult BadRequest(string code, string detail) => Create(StatusCodes.Status400BadRequest, code, detail);

    public static IResult NotFound(string what = "conversation") =>
        Create(StatusCodes.Status404NotFound, "not_found", $"No such {what}.");

    public static IResult Unavailable(string detail) => Create(StatusCodes.Status503ServiceUnavailable, "unavailable", detail);
}

/// <summary>Default codes for problems the framework produces itself (binding failures, 404 routes, 413...).</summary>
public static class ProblemCodes
{
    public static string CodeFor(int status) => status switch
    {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        503 => "unavailable",
        _ when status >= 500 => "internal",
        _ => "error",
    };

    public static string TitleFor(int status) => status switch
    {
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not found",
        409 => "Conflict",
        413 => "Payload too large",
        429 => "Too many requests",
        503 => "Service unavailable",
        _ when status >= 500 => "Internal error",
        _ => "Error",
    };
}
