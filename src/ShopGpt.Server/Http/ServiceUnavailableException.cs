namespace ShopGpt.Server.Http;

/// <summary>A dependency (PostgreSQL, Redis, a full queue) cannot serve now; answered as 503 <c>unavailable</c>.</summary>
public sealed class ServiceUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
