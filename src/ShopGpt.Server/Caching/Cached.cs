namespace ShopGpt.Server.Caching;

/// <summary>
/// What is stored for every key: the value plus what XFetch needs, carried in L1 and L2 alike
/// so an instance that reads it from Redis knows when it expires and how long it took to make.
/// </summary>
public sealed record Cached<T>(T Value, long ExpiresAtMs, double ComputeMs);
