using System.Text;
using System.Text.Json;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Receiver.Ingest;
using Aspire.Webhooks.TestSupport;
using MassTransit.Serialization;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>
/// The body travels inside MassTransit's JSON envelope as raw JSON when that is exact, else as base64; either way the
/// Relay must get back the very bytes myKaarma posted.
/// </summary>
public sealed class JsonBodyConverterTests
{
    private static readonly JsonSerializerOptions MassTransitOptions = SystemTextJsonMessageSerializer.Options;

    private static ReceivedEvent EventWithBody(byte[] body) => new()
    {
        Id = "e1",
        Type = EventTypes.Customers,
        Timestamp = 1,
        DealerUuid = "d1",
        Routing = new EventRouting { DealerUuid = "d1" },
        ReceivedAt = DateTimeOffset.UnixEpoch,
        Body = body,
    };

    /// <summary>Serialises as the Receiver publishes and deserialises as the Relay consumes, through a document like MassTransit.</summary>
    private static (JsonValueKind OnTheWire, byte[] RoundTripped) RoundTrip(byte[] body)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(new CustomerEventReceived { Event = EventWithBody(body) }, MassTransitOptions);
        var kind = JsonDocument.Parse(json).RootElement.GetProperty("event").GetProperty("body").ValueKind;
        var element = JsonSerializer.Deserialize<JsonElement>(json, MassTransitOptions);
        var back = element.Deserialize<CustomerEventReceived>(MassTransitOptions)!;
        return (kind, back.Event.Body);
    }

    public static TheoryData<string> Samples => [.. SampleEvents.All];

    [Theory]
    [MemberData(nameof(Samples))]
    public void A_sample_body_travels_as_json_and_comes_back_byte_for_byte(string sample)
    {
        var body = SampleEvents.Bytes(sample);

        var (onTheWire, back) = RoundTrip(body);

        Assert.Equal(JsonValueKind.Object, onTheWire);
        Assert.Equal(body, back);
    }

    [Fact]
    public void The_embedded_body_is_the_posted_bytes_not_a_re_encoding()
    {
        // Escapes, spacing and key order a re-serialisation would change.
        var body = Encoding.UTF8.GetBytes("{\"id\" : \"a\\u0041\",\n  \"payload\":\"{\\\"x\\\":1.50}\", \"n\":1e3, \"s\":\"caf\u00e9\"}");
        var json = JsonSerializer.SerializeToUtf8Bytes(new MpiEventReceived { Event = EventWithBody(body) }, MassTransitOptions);

        Assert.True(json.AsSpan().IndexOf(body) >= 0, "the body's bytes appear verbatim in the message");
        Assert.Equal(body, RoundTrip(body).RoundTripped);
    }

    public static TheoryData<string, byte[]> BodiesThatCannotBeEmbedded => new()
    {
        { "trailing newline", Encoding.UTF8.GetBytes("{\"id\":\"a\"}\n") },
        { "leading space", Encoding.UTF8.GetBytes(" {\"id\":\"a\"}") },
        { "byte-order mark", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("{\"id\":\"a\"}")] },
        { "array", Encoding.UTF8.GetBytes("[1,2]") },
        { "invalid UTF-8", [(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}'] },
        { "not JSON", Encoding.UTF8.GetBytes("{not json}") },
        { "two objects", Encoding.UTF8.GetBytes("{}{}") },
        { "deeper than the limit", Deep(JsonBodyConverter.MaxEmbeddedDepth + 1) },
        { "empty", [] },
    };

    [Theory]
    [MemberData(nameof(BodiesThatCannotBeEmbedded))]
    public void A_body_that_would_not_come_back_exactly_travels_as_base64(string why, byte[] body)
    {
        var (onTheWire, back) = RoundTrip(body);

        Assert.True(onTheWire == JsonValueKind.String, $"{why}: travelled as {onTheWire}");
        Assert.Equal(body, back);
    }

    [Fact]
    public void A_body_at_the_depth_limit_is_embedded_and_still_deserialises_within_default_reader_limits()
    {
        var body = Deep(JsonBodyConverter.MaxEmbeddedDepth);

        var (onTheWire, back) = RoundTrip(body);

        Assert.Equal(JsonValueKind.Object, onTheWire);
        Assert.Equal(body, back);
    }

    [Fact]
    public void A_message_written_before_the_converter_existed_still_reads()
    {
        var body = SampleEvents.Bytes(SampleEvents.Customer);
        var legacy = """{"event":{"id":"e1","type":"customers","timestamp":1,"dealerUuid":"d1","routing":{"dealerUuid":"d1"},"receivedAt":"1970-01-01T00:00:00+00:00","body":"BODY"}}"""
            .Replace("BODY", Convert.ToBase64String(body), StringComparison.Ordinal);

        var back = JsonSerializer.Deserialize<CustomerEventReceived>(legacy, MassTransitOptions)!;

        Assert.Equal(body, back.Event.Body);
    }

    [Fact]
    public void A_body_marked_embeddable_is_written_as_json_without_being_checked_again()
    {
        // One level deeper than the converter's own check allows, so only the mark can put it in as JSON.
        var body = Deep(JsonBodyConverter.MaxEmbeddedDepth + 1);
        JsonBodyConverter.MarkEmbeddable(body);

        var (onTheWire, back) = RoundTrip(body);

        Assert.Equal(JsonValueKind.Object, onTheWire);
        Assert.Equal(body, back);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void A_sample_the_receiver_parsed_travels_as_json_verbatim(string sample)
    {
        var body = SampleEvents.Bytes(sample);
        var parsed = EnvelopeParser.Parse(body, DateTimeOffset.UnixEpoch);
        Assert.True(parsed.IsValid);

        var json = JsonSerializer.SerializeToUtf8Bytes(new CustomerEventReceived { Event = parsed.Event! }, MassTransitOptions);

        Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(json).RootElement.GetProperty("event").GetProperty("body").ValueKind);
        Assert.True(json.AsSpan().IndexOf(body) >= 0, "the body's bytes appear verbatim in the message");
    }

    public static TheoryData<string, byte[]> ValidEventsTheReceiverMustNotMark => new()
    {
        { "trailing newline", [.. SampleEvents.Bytes(SampleEvents.Customer), (byte)'\n'] },
        { "byte-order mark", [0xEF, 0xBB, 0xBF, .. SampleEvents.Bytes(SampleEvents.Customer)] },
        {
            "an extra field nested deeper than the limit",
            Encoding.UTF8.GetBytes("{\"id\":\"e1\",\"type\":\"customers\",\"timestamp\":1,\"dealeruuid\":\"d\",\"payload\":\"{}\",\"extra\":"
                + Encoding.UTF8.GetString(Deep(JsonBodyConverter.MaxEmbeddedDepth)) + "}")
        },
    };

    [Theory]
    [MemberData(nameof(ValidEventsTheReceiverMustNotMark))]
    public void An_accepted_body_the_converter_could_not_embed_exactly_is_not_marked_and_travels_as_base64(string why, byte[] body)
    {
        var parsed = EnvelopeParser.Parse(body, DateTimeOffset.UnixEpoch);
        Assert.True(parsed.IsValid, $"{why}: {parsed.Error}");

        var (onTheWire, back) = RoundTrip(parsed.Event!.Body);

        Assert.True(onTheWire == JsonValueKind.String, $"{why}: travelled as {onTheWire}");
        Assert.Equal(body, back);
    }

    /// <summary>A valid object nested <paramref name="depth"/> levels deep: {"a":{"a":...{}...}}.</summary>
    private static byte[] Deep(int depth) =>
        Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"a\":", depth - 1)) + "{}" + new string('}', depth - 1));
}
