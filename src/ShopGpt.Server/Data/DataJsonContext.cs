using System.Text.Json;
using System.Text.Json.Serialization;

namespace ShopGpt.Server.Data;

/// <summary>Source-generated JSON for the Data feature's DTOs (added to the resolver chain by AddData).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(PopularList))]
public sealed partial class DataJsonContext : JsonSerializerContext;
