using System.Text;
using System.Text.Json.Nodes;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Receiver.Ingest;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Receiver.Tests;

public sealed class EnvelopeParserTests
{
    private const string Dealer = "cb731d36fd635ddd6ef8dd43500892b0c0249d1c01a46dbcc445a809c0a8e3b2";
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private static ReceivedEvent ParseValid(byte[] body)
    {
        var result = EnvelopeParser.Parse(body, Now);
        Assert.True(result.IsValid, $"{result.Field}: {result.Error}");
        return result.Event!;
    }

    [Fact]
    public void The_customer_example_routes_by_its_customer()
    {
        var body = SampleEvents.Bytes(SampleEvents.Customer);
        var e = ParseValid(body);

        Assert.Equal("756760fe-e5a5-4be9-8e69-eae7c47f24e8", e.Id);
        Assert.Equal(EventTypes.Customers, e.Type);
        Assert.Equal(1758964622652, e.Timestamp);
        Assert.Equal(Dealer, e.DealerUuid);
        Assert.Null(e.EnvelopeDepartmentUuid);
        Assert.Equal(Now, e.ReceivedAt);
        Assert.Equal(body, e.Body);
        Assert.Equal(new EventRouting { DealerUuid = Dealer, EntityId = "GFRR8beBGW8agB5kTOIJtgM9XyGJGmZuye7PfCftGh4" }, e.Routing);
    }

    [Fact]
    public void The_appointment_example_takes_its_department_event_and_status_from_the_payload()
    {
        var e = ParseValid(SampleEvents.Bytes(SampleEvents.Appointment));

        Assert.Equal(EventTypes.Appointments, e.Type);
        Assert.Null(e.EnvelopeDepartmentUuid);
        Assert.Equal(new EventRouting
        {
            DealerUuid = Dealer,
            DepartmentUuid = "8ec821aefe98664ab15df7c426c3c46f9c37d0b1aeda9ff58df3db89bb0a55a3",
            EntityId = "uxx05pUbmiArKOXyy2lcmJEJr4CWg5DANSIm5AjRBKs",
            AppointmentEvent = "RESCHEDULED",
            AppointmentStatus = "Rescheduled",
        }, e.Routing);
    }

    [Fact]
    public void The_service_order_example_routes_by_order_uuid_and_number()
    {
        var e = ParseValid(SampleEvents.Bytes(SampleEvents.ServiceOrder));

        Assert.Equal("952fcf6d-5b68-41b0-ae8e-872f88bc882e", e.Id);
        Assert.Equal(new EventRouting
        {
            DealerUuid = Dealer,
            EntityId = "qxIiRFwkaUfm8zAM_fd5K61DmaTJi2UmfXNUhRCmTHw",
            OrderNumber = "mykTestRO1122",
        }, e.Routing);
    }

    [Fact]
    public void The_mpi_example_takes_its_department_from_the_payload()
    {
        var e = ParseValid(SampleEvents.Bytes(SampleEvents.Mpi));

        Assert.Equal("952fcf6d-5b68-41b0-ae8e-872f88bc882e", e.Id);
        Assert.Equal(EventTypes.Mpis, e.Type);
        // The document's MPI example is a schema sample: its values are the literal word "string".
        Assert.Equal(new EventRouting { DealerUuid = Dealer, DepartmentUuid = "string", EntityId = "string" }, e.Routing);
    }

    [Fact]
    public void The_envelope_department_wins_over_the_payload_department()
    {
        var e = ParseValid(SampleEvents.With(SampleEvents.Appointment, ("departmentuuid", "envelope-department")));
        Assert.Equal("envelope-department", e.EnvelopeDepartmentUuid);
        Assert.Equal("envelope-department", e.Routing.DepartmentUuid);
    }

    [Fact]
    public void A_payload_given_as_an_object_is_read_like_a_stringified_one()
    {
        var stringified = ParseValid(SampleEvents.Bytes(SampleEvents.Appointment));
        var payloadObject = JsonNode.Parse(JsonNode.Parse(SampleEvents.Text(SampleEvents.Appointment))!["payload"]!.GetValue<string>());
        var e = ParseValid(SampleEvents.With(SampleEvents.Appointment, ("payload", payloadObject)));
        Assert.Equal(stringified.Routing, e.Routing);
    }

    [Fact]
    public void An_unknown_type_is_accepted_with_dealer_and_envelope_department_only()
    {
        var e = ParseValid(SampleEvents.With(SampleEvents.Customer, ("type", "vehicles"), ("departmentuuid", "d1")));
        Assert.Equal("vehicles", e.Type);
        Assert.Equal(new EventRouting { DealerUuid = Dealer, DepartmentUuid = "d1" }, e.Routing);
    }

    [Fact]
    public void Routing_fields_missing_from_a_payload_are_null_not_an_error()
    {
        var e = ParseValid(SampleEvents.With(SampleEvents.Appointment, ("payload", "{\"event\":\"CANCELLED\"}")));
        Assert.Equal(new EventRouting { DealerUuid = Dealer, AppointmentEvent = "CANCELLED" }, e.Routing);
    }

    public static TheoryData<string, (string, JsonNode?)[]> BadEnvelopes => new()
    {
        { "id", [("id", null)] },
        { "id", [("id", "")] },
        { "id", [("id", 42)] },
        { "type", [("type", null)] },
        { "type", [("type", " ")] },
        { "timestamp", [("timestamp", null)] },
        { "timestamp", [("timestamp", "1758964622652")] },
        { "timestamp", [("timestamp", 1.5)] },
        { "timestamp", [("timestamp", -1)] },
        { "dealeruuid", [("dealeruuid", null)] },
        { "dealeruuid", [("dealeruuid", "")] },
        { "departmentuuid", [("departmentuuid", 7)] },
        { "payload", [("payload", null)] },
        { "payload", [("payload", "{not json")] },
        { "payload", [("payload", "[1,2]")] },
        { "payload", [("payload", 12)] },
        { "payload", [("payload", new JsonArray())] },
    };

    [Theory]
    [MemberData(nameof(BadEnvelopes))]
    public void A_missing_or_malformed_field_is_refused_naming_it(string field, (string, JsonNode?)[] changes)
    {
        var result = EnvelopeParser.Parse(SampleEvents.With(SampleEvents.Customer, changes), Now);
        Assert.False(result.IsValid);
        Assert.Equal(field, result.Field);
        Assert.Contains($"'{field}'", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"id\":")]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    [InlineData("id=1&type=customers")]
    public void A_body_that_is_not_a_json_object_is_refused(string body)
    {
        var result = EnvelopeParser.Parse(Encoding.UTF8.GetBytes(body), Now);
        Assert.False(result.IsValid);
        Assert.Equal("body", result.Field);
    }

    [Fact]
    public void An_explicit_null_department_is_no_department()
    {
        var e = ParseValid(SampleEvents.With(SampleEvents.Customer, ("departmentuuid", JsonValue.Create((string?)null))));
        Assert.Null(e.EnvelopeDepartmentUuid);
    }

    [Fact]
    public void Escaped_property_names_and_values_in_the_payload_are_read_unescaped()
    {
        const string payload = """{"\u0075uid":"o-\u00e9","order":{"header":{"orderNumber":"R\/7"}}}""";
        var e = ParseValid(SampleEvents.With(SampleEvents.ServiceOrder, ("payload", payload)));
        Assert.Equal("o-é", e.Routing.EntityId);
        Assert.Equal("R/7", e.Routing.OrderNumber);
    }

    [Fact]
    public void A_field_given_twice_counts_with_its_last_value_as_in_a_document()
    {
        const string body = """
            {"id":"first","type":"service-orders","timestamp":1,"dealeruuid":"d","id":"last",
             "payload":"{\"order\":{\"header\":{\"orderNumber\":\"1\"}},\"order\":{}}"}
            """;
        var e = ParseValid(Encoding.UTF8.GetBytes(body));
        Assert.Equal("last", e.Id);
        Assert.Null(e.Routing.OrderNumber);
    }

    [Fact]
    public void A_byte_order_mark_is_tolerated_and_kept_in_the_body()
    {
        byte[] body = [0xEF, 0xBB, 0xBF, .. SampleEvents.Bytes(SampleEvents.Customer)];
        var e = ParseValid(body);
        Assert.Equal(body, e.Body);
    }

    [Fact]
    public void A_body_that_is_not_utf8_is_refused()
    {
        var body = SampleEvents.Bytes(SampleEvents.Customer);
        body[body.Length - 3] = 0xFF;
        var result = EnvelopeParser.Parse(body, Now);
        Assert.False(result.IsValid);
        Assert.Equal("body", result.Field);
    }

    [Fact]
    public void Invalid_json_inside_a_payload_that_is_not_an_object_is_reported_as_invalid_json()
    {
        var result = EnvelopeParser.Parse(SampleEvents.With(SampleEvents.Customer, ("payload", "[1,")), Now);
        Assert.Equal("payload", result.Field);
        Assert.Contains("not valid JSON", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Content_after_the_payload_object_is_refused()
    {
        var result = EnvelopeParser.Parse(SampleEvents.With(SampleEvents.Customer, ("payload", "{} {}")), Now);
        Assert.Equal("payload", result.Field);
    }

    [Fact]
    public void A_payload_string_with_half_a_surrogate_pair_is_refused_naming_the_payload()
    {
        // The payload string's own escape names half a pair: its text cannot be decoded, let alone parsed.
        const string body = """
            {"id":"e1","type":"customers","timestamp":1,"dealeruuid":"d","payload":"{\"customerUuid\":\"\ud83d\"}"}
            """;

        var result = EnvelopeParser.Parse(Encoding.UTF8.GetBytes(body), Now);

        Assert.False(result.IsValid);
        Assert.Equal("payload", result.Field);
    }
}
