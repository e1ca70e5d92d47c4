namespace ShopGpt.Server.Shared;

/// <summary>One page of a listing (API.md): the items and the opaque cursor of the next page, if any.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);
