using System.Text.Json;
using Aspire.Webhooks.Contracts;

namespace Aspire.Webhooks.Receiver.Ingest;

/// <summary>The outcome of reading a request body: an event, or the field that made it unacceptable.</summary>
public readonly record struct EnvelopeParseResult(ReceivedEvent? Event, string? Field, string? Error)
{
    public bool IsValid => Event is not null;

    public static EnvelopeParseResult Invalid(string field, string error) => new(null, field, error);
}

/// <summary>
/// Reads myKaarma's envelope and its stringified payload, and extracts the routing fields once, here at the edge,
/// so nothing downstream parses the payload again.
/// </summary>
public static class EnvelopeParser
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 128 };

    public static EnvelopeParseResult Parse(byte[] body, DateTimeOffset receivedAt)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, DocumentOptions);
        }
        catch (JsonException ex)
        {
            return EnvelopeParseResult.Invalid("body", $"The body is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return EnvelopeParseResult.Invalid("body", "The body must be a JSON object (myKaarma's event envelope).");
            }

            if (!TryRequiredString(root, "id", out var id, out var failure) ||
                !TryRequiredString(root, "type", out var type, out failure) ||
                !TryRequiredString(root, "dealeruuid", out var dealer, out failure))
            {
                return failure;
            }

            if (!root.TryGetProperty("timestamp", out var timestampElement))
            {
                return EnvelopeParseResult.Invalid("timestamp", "The field 'timestamp' is required.");
            }

            if (timestampElement.ValueKind != JsonValueKind.Number ||
                !timestampElement.TryGetInt64(out var timestamp) || timestamp <= 0)
            {
                return EnvelopeParseResult.Invalid("timestamp",
                    "The field 'timestamp' must be a positive whole number of epoch milliseconds.");
            }

            string? envelopeDepartment = null;
            if (root.TryGetProperty("departmentuuid", out var departmentElement))
            {
                switch (departmentElement.ValueKind)
                {
                    case JsonValueKind.String:
                        envelopeDepartment = NullIfEmpty(departmentElement.GetString());
                        break;
                    case JsonValueKind.Null:
                        break;
                    default:
                        return EnvelopeParseResult.Invalid("departmentuuid",
                            "The field 'departmentuuid' must be a string when present.");
                }
            }

            if (!root.TryGetProperty("payload", out var payloadElement))
            {
                return EnvelopeParseResult.Invalid("payload", "The field 'payload' is required.");
            }

            EventRouting routing;
            switch (payloadElement.ValueKind)
            {
                case JsonValueKind.String:
                    // As on the wire: the payload is JSON serialised into a string.
                    JsonDocument payloadDocument;
                    try
                    {
                        payloadDocument = JsonDocument.Parse(payloadElement.GetString()!, DocumentOptions);
                    }
                    catch (JsonException ex)
                    {
                        return EnvelopeParseResult.Invalid("payload",
                            $"The field 'payload' must hold JSON; its string is not valid JSON: {ex.Message}");
                    }

                    using (payloadDocument)
                    {
                        if (payloadDocument.RootElement.ValueKind != JsonValueKind.Object)
                        {
                            return EnvelopeParseResult.Invalid("payload", "The field 'payload' must hold a JSON object.");
                        }

                        routing = RoutingFields.Extract(type, dealer, envelopeDepartment, payloadDocument.RootElement);
                    }

                    break;
                case JsonValueKind.Object:
                    // As the vendor's document prints it.
                    routing = RoutingFields.Extract(type, dealer, envelopeDepartment, payloadElement);
                    break;
                default:
                    return EnvelopeParseResult.Invalid("payload",
                        "The field 'payload' must be a string holding a JSON object, or a JSON object.");
            }

            return new EnvelopeParseResult(new ReceivedEvent
            {
                Id = id,
                Type = type,
                Timestamp = timestamp,
                DealerUuid = dealer,
                EnvelopeDepartmentUuid = envelopeDepartment,
                Routing = routing,
                ReceivedAt = receivedAt,
                Body = body,
            }, null, null);
        }
    }

    private static bool TryRequiredString(JsonElement root, string name, out string value, out EnvelopeParseResult failure)
    {
        value = string.Empty;
        failure = default;
        if (!root.TryGetProperty(name, out var element))
        {
            failure = EnvelopeParseResult.Invalid(name, $"The field '{name}' is required.");
            return false;
        }

        if (element.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(element.GetString()))
        {
            failure = EnvelopeParseResult.Invalid(name, $"The field '{name}' must be a non-empty string.");
            return false;
        }

        value = element.GetString()!;
        return true;
    }

    internal static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
