using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Aspire.Webhooks.Contracts;

namespace Aspire.Webhooks.Receiver.Messaging;

/// <summary>
/// Writes an accepted event as a MassTransit message: the JSON envelope MassTransit's own serializer reads
/// (content type <see cref="ContentType"/>), with the message id, the message type's URN, the typed message and the
/// time it was sent. The fields MassTransit would add for request/response, faults and diagnostics (addresses,
/// conversation, host) are left out: no consumer of these events uses them, and the broker stores every byte.
/// </summary>
public static class MessageEnvelope
{
    public const string ContentType = "application/vnd.masstransit+json";

    private static readonly JsonEncodedText MessageIdName = JsonEncodedText.Encode("messageId");
    private static readonly JsonEncodedText MessageTypeName = JsonEncodedText.Encode("messageType");
    private static readonly JsonEncodedText MessageName = JsonEncodedText.Encode("message");
    private static readonly JsonEncodedText SentTimeName = JsonEncodedText.Encode("sentTime");

    // Escaping only what JSON requires, as MassTransit does; the body inside is written as received anyway.
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    /// <summary>The room the envelope and routing fields take beside the body, so the buffer rarely grows.</summary>
    private const int EnvelopeBytes = 1024;

    public static ReadOnlyMemory<byte> Write(Guid messageId, MessageRoute route, ReceivedEvent received, DateTimeOffset sentTime)
    {
        var buffer = new ArrayBufferWriter<byte>(received.Body.Length + EnvelopeBytes);
        using var writer = new Utf8JsonWriter(buffer, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString(MessageIdName, messageId);
        writer.WriteStartArray(MessageTypeName);
        writer.WriteStringValue(route.MessageType);
        writer.WriteEndArray();
        writer.WritePropertyName(MessageName);
        route.WriteMessage(writer, received);
        writer.WriteString(SentTimeName, sentTime.UtcDateTime);
        writer.WriteEndObject();
        writer.Flush();
        return buffer.WrittenMemory;
    }
}
