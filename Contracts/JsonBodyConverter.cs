using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;

namespace Aspire.Webhooks.Contracts;

/// <summary>
/// Carries <see cref="ReceivedEvent.Body"/> as the JSON object it is instead of base64, so the message on the broker
/// is about a quarter smaller and costs no encoding. A body that would not come back byte for byte that way (not a
/// single object, surrounding whitespace or a byte-order mark, invalid UTF-8, or nested deeper than
/// <see cref="MaxEmbeddedDepth"/>) is written as base64, and both forms are read, so messages written before this
/// converter existed still deserialise.
/// </summary>
public sealed class JsonBodyConverter : JsonConverter<byte[]>
{
    /// <summary>
    /// The deepest body embedded as JSON. The envelope around it adds a few levels, and readers refuse documents
    /// deeper than 64 by default (System.Text.Json's limit, which MassTransit keeps).
    /// </summary>
    public const int MaxEmbeddedDepth = 32;

    /// <summary>Bodies their producer has already proven embeddable; held weakly, so an entry lives as long as its body.</summary>
    private static readonly ConditionalWeakTable<byte[], object> KnownEmbeddable = new();
    private static readonly object Proven = new();

    /// <summary>
    /// Records that <paramref name="body"/> is already known to meet every condition of <see cref="CanEmbed"/>, so
    /// writing it skips that check: the Receiver's own parse has just read the whole body, and checking it once more
    /// would walk a few kilobytes of escaped payload byte by byte again. Only for a caller that has read the body as
    /// one JSON object with nothing around it, no deeper than <see cref="MaxEmbeddedDepth"/>; the array must not
    /// change afterwards.
    /// </summary>
    public static void MarkEmbeddable(byte[] body) => KnownEmbeddable.AddOrUpdate(body, Proven);

    public override byte[] Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.GetBytesFromBase64();
            case JsonTokenType.StartObject:
                // The element's raw bytes are the very bytes that were written, which were the body.
                using (var document = JsonDocument.ParseValue(ref reader))
                {
                    return JsonMarshal.GetRawUtf8Value(document.RootElement).ToArray();
                }

            default:
                throw new JsonException($"A body must be a JSON object or a base64 string, not {reader.TokenType}.");
        }
    }

    public override void Write(Utf8JsonWriter writer, byte[] value, JsonSerializerOptions options)
    {
        if (KnownEmbeddable.TryGetValue(value, out _) || CanEmbed(value))
        {
            writer.WriteRawValue(value, skipInputValidation: true);
        }
        else
        {
            writer.WriteBase64StringValue(value);
        }
    }

    /// <summary>Whether <paramref name="body"/> reads back from its embedded form as exactly these bytes.</summary>
    public static bool CanEmbed(ReadOnlySpan<byte> body)
    {
        // A reader returns an object's bytes from its opening to its closing brace: nothing may lie outside them.
        if (body.Length < 2 || body[0] != (byte)'{' || body[^1] != (byte)'}' || !Utf8.IsValid(body))
        {
            return false;
        }

        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = MaxEmbeddedDepth });
        try
        {
            reader.Read();
            reader.Skip();
            return reader.BytesConsumed == body.Length;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
