using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;
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
/// so nothing downstream parses the payload again. One forward pass over the body validates it and picks out the
/// envelope fields; a second pass over the payload's unescaped bytes validates it and picks out only the routing
/// fields. No document tree is built and the payload never becomes a .NET string.
/// </summary>
public static class EnvelopeParser
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 128 };

    public static EnvelopeParseResult Parse(byte[] body, DateTimeOffset receivedAt)
    {
        // JSON is UTF-8 (RFC 8259); checked once here, so no later read can meet an untranscodable string.
        if (!Utf8.IsValid(body))
        {
            return EnvelopeParseResult.Invalid("body", "The body is not valid JSON: it is not UTF-8 text.");
        }

        // A UTF-8 byte-order mark is tolerated, as a document parser would.
        var start = body.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        Envelope envelope;
        try
        {
            envelope = Envelope.Read(body.AsSpan(start));
        }
        catch (JsonException ex)
        {
            return EnvelopeParseResult.Invalid("body", $"The body is not valid JSON: {ex.Message}");
        }

        if (!envelope.IsObject)
        {
            return EnvelopeParseResult.Invalid("body", "The body must be a JSON object (myKaarma's event envelope).");
        }

        if (!RequiredString(envelope.Id, "id", out var failure) ||
            !RequiredString(envelope.Type, "type", out failure) ||
            !RequiredString(envelope.Dealer, "dealeruuid", out failure))
        {
            return failure;
        }

        if (envelope.Timestamp.Token == JsonTokenType.None)
        {
            return EnvelopeParseResult.Invalid("timestamp", "The field 'timestamp' is required.");
        }

        if (envelope.Timestamp.Token != JsonTokenType.Number || envelope.TimestampValue is not > 0)
        {
            return EnvelopeParseResult.Invalid("timestamp",
                "The field 'timestamp' must be a positive whole number of epoch milliseconds.");
        }

        string? envelopeDepartment = null;
        switch (envelope.Department.Token)
        {
            case JsonTokenType.None or JsonTokenType.Null:
                break;
            case JsonTokenType.String:
                envelopeDepartment = NullIfEmpty(envelope.Department.Text);
                break;
            default:
                return EnvelopeParseResult.Invalid("departmentuuid", "The field 'departmentuuid' must be a string when present.");
        }

        var type = envelope.Type.Text!;
        var dealer = envelope.Dealer.Text!;
        var payload = body.AsSpan(start + envelope.PayloadStart, envelope.PayloadLength);
        EventRouting routing;
        switch (envelope.Payload)
        {
            case JsonTokenType.None:
                return EnvelopeParseResult.Invalid("payload", "The field 'payload' is required.");
            case JsonTokenType.String:
                // As on the wire: the payload is JSON serialised into a string.
                if (!TryReadStringifiedPayload(payload, type, dealer, envelopeDepartment, out routing, out failure))
                {
                    return failure;
                }

                break;
            case JsonTokenType.StartObject:
                // As the vendor's document prints it; already validated with the body.
                var reader = new Utf8JsonReader(payload, ReaderOptions);
                reader.Read();
                routing = RoutingFields.Read(ref reader, type, dealer, envelopeDepartment);
                break;
            default:
                return EnvelopeParseResult.Invalid("payload",
                    "The field 'payload' must be a string holding a JSON object, or a JSON object.");
        }

        // The pass above read all of it as one valid object whose values are all scalars (the payload a string); with
        // nothing before or after the braces it goes into the message as JSON without the converter reading it again.
        if (start == 0 && body[^1] == (byte)'}' && envelope.IsFlat)
        {
            JsonBodyConverter.MarkEmbeddable(body);
        }

        return new EnvelopeParseResult(new ReceivedEvent
        {
            Id = envelope.Id.Text!,
            Type = type,
            Timestamp = envelope.TimestampValue!.Value,
            DealerUuid = dealer,
            EnvelopeDepartmentUuid = envelopeDepartment,
            Routing = routing,
            ReceivedAt = receivedAt,
            Body = body,
        }, null, null);
    }

    internal static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>
    /// Unescapes the payload string (the quoted token as it stands in the body, already validated by the envelope's
    /// pass) into pooled bytes and reads those as JSON: the payload is decoded once and parsed once.
    /// </summary>
    private static bool TryReadStringifiedPayload(ReadOnlySpan<byte> quoted, string type, string dealer,
        string? envelopeDepartment, out EventRouting routing, out EnvelopeParseResult failure)
    {
        routing = null!;
        failure = default;
        var escaped = quoted[1..^1];
        byte[]? rented = null;
        try
        {
            ReadOnlySpan<byte> json = escaped;
            if (escaped.Contains((byte)'\\'))
            {
                rented = ArrayPool<byte>.Shared.Rent(escaped.Length);
                if (!JsonStringUnescaper.TryUnescape(escaped, rented, out var length))
                {
                    failure = EnvelopeParseResult.Invalid("payload",
                        "The field 'payload' must hold JSON; its string has a \\u escape naming half a surrogate pair, which is not text.");
                    return false;
                }

                json = rented.AsSpan(0, length);
            }

            try
            {
                var reader = new Utf8JsonReader(json, ReaderOptions);
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    // Invalid JSON is reported before "not an object", so read the value to its end first.
                    reader.Skip();
                    reader.Read();
                    failure = EnvelopeParseResult.Invalid("payload", "The field 'payload' must hold a JSON object.");
                    return false;
                }

                routing = RoutingFields.Read(ref reader, type, dealer, envelopeDepartment);
                reader.Read(); // throws on anything after the object
                return true;
            }
            catch (JsonException ex)
            {
                failure = EnvelopeParseResult.Invalid("payload",
                    $"The field 'payload' must hold JSON; its string is not valid JSON: {ex.Message}");
                return false;
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static bool RequiredString(Field field, string name, out EnvelopeParseResult failure)
    {
        failure = default;
        if (field.Token == JsonTokenType.None)
        {
            failure = EnvelopeParseResult.Invalid(name, $"The field '{name}' is required.");
            return false;
        }

        if (field.Token != JsonTokenType.String || string.IsNullOrWhiteSpace(field.Text))
        {
            failure = EnvelopeParseResult.Invalid(name, $"The field '{name}' must be a non-empty string.");
            return false;
        }

        return true;
    }

    /// <summary>A top-level field as found: its token kind (None when absent) and, for a string, its text.</summary>
    private readonly record struct Field(JsonTokenType Token, string? Text)
    {
        public static Field From(ref Utf8JsonReader reader) =>
            new(reader.TokenType, reader.TokenType == JsonTokenType.String ? reader.GetString() : null);
    }

    /// <summary>
    /// The envelope's fields from one pass that also validates the whole body. A field given twice takes its last
    /// value, as a document lookup would; the payload is only located here and read later, once its type is known.
    /// </summary>
    private ref struct Envelope
    {
        public bool IsObject;
        public Field Id;
        public Field Type;
        public Field Dealer;
        public Field Timestamp;
        public long? TimestampValue;
        public Field Department;
        public JsonTokenType Payload;
        public int PayloadStart;
        public int PayloadLength;

        /// <summary>No top-level value is an object or array, so the body is one level deep plus a stringified payload.</summary>
        public bool IsFlat;

        public static Envelope Read(ReadOnlySpan<byte> json)
        {
            var envelope = default(Envelope);
            var reader = new Utf8JsonReader(json, ReaderOptions);
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                reader.Read(); // throws on anything after the value, so invalid JSON wins over "not an object"
                return envelope;
            }

            envelope.IsObject = true;
            envelope.IsFlat = true;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    envelope.Id = Field.From(ref reader);
                }
                else if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    envelope.Type = Field.From(ref reader);
                }
                else if (reader.ValueTextEquals("dealeruuid"u8))
                {
                    reader.Read();
                    envelope.Dealer = Field.From(ref reader);
                }
                else if (reader.ValueTextEquals("departmentuuid"u8))
                {
                    reader.Read();
                    envelope.Department = Field.From(ref reader);
                }
                else if (reader.ValueTextEquals("timestamp"u8))
                {
                    reader.Read();
                    envelope.Timestamp = Field.From(ref reader);
                    envelope.TimestampValue = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value)
                        ? value
                        : null;
                }
                else if (reader.ValueTextEquals("payload"u8))
                {
                    reader.Read();
                    envelope.Payload = reader.TokenType;
                    envelope.IsFlat &= reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray);
                    envelope.PayloadStart = (int)reader.TokenStartIndex;
                    reader.Skip();
                    envelope.PayloadLength = (int)reader.BytesConsumed - envelope.PayloadStart;
                    continue;
                }
                else
                {
                    reader.Read();
                }

                envelope.IsFlat &= reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray);
                reader.Skip();
            }

            reader.Read(); // throws on anything after the object
            return envelope;
        }
    }
}
