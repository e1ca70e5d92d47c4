using System.Text.Json;
using System.Text.Json.Serialization;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Conversations;
using ShopGpt.Server.Messaging;
using ShopGpt.Server.Observability;
using ShopGpt.Server.Shared;

namespace ShopGpt.Server.Http;

/// <summary>Source-generated JSON for every REST DTO (no reflection on the hot path).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(RegisterRequest))]
[JsonSerializable(typeof(LoginRequest))]
[JsonSerializable(typeof(AuthResponse))]
[JsonSerializable(typeof(Conversation))]
[JsonSerializable(typeof(ConversationPatch))]
[JsonSerializable(typeof(CreateConversationRequest))]
[JsonSerializable(typeof(SendMessageRequest))]
[JsonSerializable(typeof(Page<Conversation>))]
[JsonSerializable(typeof(Page<Message>))]
[JsonSerializable(typeof(Message))]
[JsonSerializable(typeof(ReadyReport))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
