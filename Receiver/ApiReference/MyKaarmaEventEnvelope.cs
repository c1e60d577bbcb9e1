using System.ComponentModel;
using System.Text.Json.Serialization;

namespace Aspire.Webhooks.Receiver.ApiReference;

/// <summary>
/// The body myKaarma posts, as documented for partners. The endpoint reads the raw bytes itself (they are signed
/// and forwarded verbatim); this type only describes them in the OpenAPI document.
/// </summary>
[Description("One myKaarma webhook event. Sent as JSON with Content-Type text/plain.")]
public sealed record MyKaarmaEventEnvelope
{
    [JsonPropertyName("id"), Description("Event id; unique together with type.")]
    public required string Id { get; init; }

    [JsonPropertyName("type"), Description("customers, appointments, service-orders or mpis; other kinds are accepted and relayed as they are.")]
    public required string Type { get; init; }

    [JsonPropertyName("timestamp"), Description("When the change happened, in Unix epoch milliseconds (UTC).")]
    public required long Timestamp { get; init; }

    [JsonPropertyName("dealeruuid"), Description("The dealer's 64-character identifier.")]
    public required string DealerUuid { get; init; }

    [JsonPropertyName("departmentuuid"), Description("The department's identifier, when myKaarma sends one.")]
    public string? DepartmentUuid { get; init; }

    [JsonPropertyName("payload"), Description("The entity as JSON serialised into a string (a JSON object is accepted too).")]
    public required string Payload { get; init; }
}
