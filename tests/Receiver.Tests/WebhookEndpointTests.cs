using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Receiver.Ingest;
using Aspire.Webhooks.TestSupport;
using RabbitMQ.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>The webhook endpoint against a real RabbitMQ: what it answers, and what the answer put in the broker.</summary>
[Collection(RabbitMqCollection.Name)]
public sealed class WebhookEndpointTests(RabbitMqServer rabbit) : IAsyncLifetime
{
    private readonly string _queue = RabbitMqServer.UniqueQueueName("receiver-tests");
    private ReceiverFactory _factory = null!;
    private HttpClient _client = null!;

    public Task InitializeAsync()
    {
        _factory = new ReceiverFactory(rabbit.ConnectionString, _queue);
        _client = _factory.CreateClient();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _factory.DisposeAsync();
        await rabbit.DeleteQueueAsync(_queue);
    }

    [Fact]
    public async Task Each_example_arrives_as_its_typed_message_with_routing_fields_and_exact_bytes()
    {
        var expectedTypes = new Dictionary<string, Type>
        {
            [SampleEvents.Customer] = typeof(CustomerEventReceived),
            [SampleEvents.Appointment] = typeof(AppointmentEventReceived),
            [SampleEvents.ServiceOrder] = typeof(ServiceOrderEventReceived),
            [SampleEvents.Mpi] = typeof(MpiEventReceived),
        };
        await using var listener = await EventQueueListener.StartAsync(rabbit.ConnectionString, _queue);

        foreach (var sample in SampleEvents.All)
        {
            var body = SampleEvents.Bytes(sample);
            using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(body));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            var answer = await response.Content.ReadFromJsonAsync<JsonElement>();
            var parsed = EnvelopeParser.Parse(body, DateTimeOffset.UtcNow).Event!;
            Assert.Equal(parsed.Id, answer.GetProperty("id").GetString());
            Assert.Equal(parsed.Type, answer.GetProperty("type").GetString());
            Assert.Equal("accepted", answer.GetProperty("status").GetString());
        }

        var received = await listener.WaitForAsync(4, "the four examples reach the events queue");
        Assert.Equal(4, received.Count);
        foreach (var sample in SampleEvents.All)
        {
            var body = SampleEvents.Bytes(sample);
            var expected = EnvelopeParser.Parse(body, DateTimeOffset.UtcNow).Event!;
            var consumed = Assert.Single(received, r => r.Event.Type == expected.Type);
            Assert.Equal(expectedTypes[sample], consumed.MessageType);
            Assert.Equal(EventIdentity.MessageId(expected.Type, expected.Id), consumed.MessageId);
            Assert.Equal(expected.Id, consumed.Event.Id);
            Assert.Equal(expected.Timestamp, consumed.Event.Timestamp);
            Assert.Equal(expected.Routing, consumed.Event.Routing);
            Assert.Equal(body, consumed.Event.Body);
        }
    }

    [Fact]
    public async Task Events_accepted_before_any_consumer_existed_are_consumed_when_one_starts()
    {
        // The Receiver declares the queue itself once connected; nothing consumes it yet.
        await WaitUntilConnectedAsync(_client);
        Assert.Equal(0u, await rabbit.ConsumerCountAsync(_queue));

        var bodies = SampleEvents.All.Select(SampleEvents.WithFreshId).ToList();
        foreach (var body in bodies)
        {
            using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(body));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        Assert.Equal(4u, await rabbit.MessageCountAsync(_queue));

        await using var listener = await EventQueueListener.StartAsync(rabbit.ConnectionString, _queue);
        var received = await listener.WaitForAsync(4, "events stored before the consumer started are delivered to it");
        Assert.Equal(bodies.Select(Convert.ToBase64String).Order(), received.Select(r => Convert.ToBase64String(r.Event.Body)).Order());
    }

    [Fact]
    public async Task The_queue_the_Receiver_declares_is_a_durable_quorum_queue()
    {
        using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.WithFreshId(SampleEvents.Customer)));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        // The broker accepts a declaration of an existing queue only when it matches how the queue was made, so the
        // arguments are written out here rather than taken from the code under test.
        await using var connection = await rabbit.ConnectAsync();
        Assert.Equal(1u, (await DeclareAsync("quorum")).MessageCount);

        // And the check has teeth: the same queue declared as a classic one is refused.
        var refused = await Assert.ThrowsAsync<RabbitMQ.Client.Exceptions.OperationInterruptedException>(() => DeclareAsync("classic"));
        Assert.Equal((ushort)406, refused.ShutdownReason?.ReplyCode);

        // A refused declaration closes its channel, so each one gets its own.
        async Task<QueueDeclareOk> DeclareAsync(string queueType)
        {
            await using var channel = await connection.CreateChannelAsync();
            return await channel.QueueDeclareAsync(_queue, durable: true, exclusive: false, autoDelete: false,
                arguments: new Dictionary<string, object?> { ["x-queue-type"] = queueType });
        }
    }

    [Fact]
    public async Task Once_a_consumer_has_bound_the_queue_each_event_is_still_stored_exactly_once()
    {
        // The consumer adds its own route from each message exchange to the queue; the broker must not double it.
        await (await EventQueueListener.StartAsync(rabbit.ConnectionString, _queue)).DisposeAsync();

        foreach (var sample in SampleEvents.All)
        {
            using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.WithFreshId(sample)));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        Assert.Equal(4u, await rabbit.MessageCountAsync(_queue));
    }

    [Fact]
    public async Task The_stored_message_is_compact_json_with_the_body_verbatim_and_no_null_fields()
    {
        var body = SampleEvents.WithFreshId(SampleEvents.Customer);
        using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(body));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        await using var connection = await rabbit.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var stored = await channel.BasicGetAsync(_queue, autoAck: true);
        Assert.NotNull(stored);
        var message = stored.Body.ToArray();

        // Stored to survive a broker restart, as a MassTransit message whose id is the event's (type, id) identity.
        Assert.Equal(DeliveryModes.Persistent, stored.BasicProperties.DeliveryMode);
        Assert.Equal("application/vnd.masstransit+json", stored.BasicProperties.ContentType);
        using (var envelope = JsonDocument.Parse(body))
        {
            var expectedId = EventIdentity.MessageId("customers", envelope.RootElement.GetProperty("id").GetString()!).ToString();
            Assert.Equal(expectedId, stored.BasicProperties.MessageId);
        }

        // Every byte is stored, checksummed and replicated by the broker: no indentation and no field written as null
        // (the customer sample has no department, order number or appointment fields, nor a request or fault address).
        Assert.DoesNotContain((byte)'\n', message);
        Assert.True(message.AsSpan().IndexOf(body) >= 0, "the body's bytes appear verbatim in the message");
        using var document = JsonDocument.Parse(message);
        Assert.Empty(NullFieldsOutsideTheBody(document.RootElement, "$"));
        var routing = document.RootElement.GetProperty("message").GetProperty("event").GetProperty("routing");
        Assert.False(routing.TryGetProperty("departmentUuid", out _));
        Assert.Equal("GFRR8beBGW8agB5kTOIJtgM9XyGJGmZuye7PfCftGh4", routing.GetProperty("entityId").GetString());
    }

    /// <summary>Waits until the Receiver reports its broker connection ready (it connects in the background).</summary>
    private static Task WaitUntilConnectedAsync(HttpClient client) =>
        Eventually.ReturnsAsync(async () =>
        {
            using var health = await client.GetAsync("/health");
            return health.StatusCode;
        }, status => status == HttpStatusCode.OK, because: "the Receiver connects to the broker and declares its queue");

    /// <summary>The request stored nothing: once connected, the Receiver's queue is there and empty.</summary>
    private async Task AssertNothingStoredAsync(HttpClient client)
    {
        await WaitUntilConnectedAsync(client);
        Assert.Equal(0u, await rabbit.MessageCountAsync(_queue));
    }

    /// <summary>The paths of null values in a message, leaving out the posted body (myKaarma's own nulls).</summary>
    private static IEnumerable<string> NullFieldsOutsideTheBody(JsonElement element, string path) => element.ValueKind switch
    {
        JsonValueKind.Null => [path],
        JsonValueKind.Object => element.EnumerateObject()
            .Where(p => path != "$.message.event" || p.Name != "body")
            .SelectMany(p => NullFieldsOutsideTheBody(p.Value, $"{path}.{p.Name}")),
        JsonValueKind.Array => element.EnumerateArray().SelectMany((e, i) => NullFieldsOutsideTheBody(e, $"{path}[{i}]")),
        _ => [],
    };

    [Theory]
    [InlineData("text/plain")]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("application/json")]
    [InlineData("application/octet-stream")]
    public async Task The_body_is_accepted_whatever_its_content_type(string contentType)
    {
        var body = SampleEvents.WithFreshId(SampleEvents.Customer);
        using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(body, contentType: contentType));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(1u, await rabbit.MessageCountAsync(_queue));
    }

    [Fact]
    public async Task An_unknown_event_type_is_relayed_untyped_logged_and_counted()
    {
        using var accepted = Collector<long>("webhooks.receiver.accepted");
        await using var listener = await EventQueueListener.StartAsync(rabbit.ConnectionString, _queue);
        var body = SampleEvents.With(SampleEvents.Customer, ("type", "vehicles"));

        using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(body));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var consumed = Assert.Single(await listener.WaitForAsync(1, "the unknown event reaches the queue"));
        Assert.Equal(typeof(UnknownEventReceived), consumed.MessageType);
        Assert.Equal("vehicles", consumed.Event.Type);
        Assert.Equal(body, consumed.Event.Body);
        Assert.Contains(_factory.Logs.Lines, l => l.Contains("unknown type vehicles", StringComparison.Ordinal));
        var measurement = Assert.Single(accepted.GetMeasurementSnapshot());
        Assert.Equal("unknown", measurement.Tags["event.type"]);
    }

    [Fact]
    public async Task The_answer_to_a_duplicate_is_202_and_both_copies_carry_one_message_id()
    {
        await using var listener = await EventQueueListener.StartAsync(rabbit.ConnectionString, _queue);
        var body = SampleEvents.Bytes(SampleEvents.Appointment);
        for (var i = 0; i < 2; i++)
        {
            using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(body));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        var received = await listener.WaitForAsync(2, "both deliveries of the retried event");
        Assert.Single(received.Select(r => r.MessageId).Distinct());
    }

    [Fact]
    public async Task A_client_address_outside_the_allowlist_gets_403_and_nothing_is_stored()
    {
        await using var factory = new ReceiverFactory(rabbit.ConnectionString, _queue,
            ("MyKaarma:AllowedIps:0", "54.174.160.138"), ("MyKaarma:AllowedIps:1", "10.0.0.0/8"));
        using var client = factory.CreateClient();

        using var response = await client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.Bytes(SampleEvents.Customer)));

        await AssertProblemAsync(response, HttpStatusCode.Forbidden, "ip_not_allowed");
        await AssertNothingStoredAsync(client);
    }

    [Fact]
    public async Task X_Forwarded_For_is_believed_only_from_a_trusted_proxy()
    {
        // The test client connects from loopback, which plays the ingress; only myKaarma's address is allowed.
        await using var trusting = new ReceiverFactory(rabbit.ConnectionString, _queue,
            ("MyKaarma:AllowedIps:0", "54.174.160.138"), ("MyKaarma:AllowedIps:1", "54.174.160.138"),
            ("MyKaarma:TrustedProxies:0", "127.0.0.0/8"), ("MyKaarma:TrustedProxies:1", "::1"));
        await using var untrusting = new ReceiverFactory(rabbit.ConnectionString, _queue,
            ("MyKaarma:AllowedIps:0", "54.174.160.138"), ("MyKaarma:AllowedIps:1", "54.174.160.138"));

        using var viaTrustedProxy = ReceiverFactory.SignedRequest(SampleEvents.WithFreshId(SampleEvents.Customer));
        viaTrustedProxy.Headers.Add("X-Forwarded-For", "54.174.160.138");
        using var spoofed = ReceiverFactory.SignedRequest(SampleEvents.WithFreshId(SampleEvents.Customer));
        spoofed.Headers.Add("X-Forwarded-For", "54.174.160.138");
        using var forwardedForStranger = ReceiverFactory.SignedRequest(SampleEvents.WithFreshId(SampleEvents.Customer));
        forwardedForStranger.Headers.Add("X-Forwarded-For", "203.0.113.9");

        using var trustingClient = trusting.CreateClient();
        using var untrustingClient = untrusting.CreateClient();
        using var accepted = await trustingClient.SendAsync(viaTrustedProxy);
        using var refusedSpoof = await untrustingClient.SendAsync(spoofed);
        using var refusedStranger = await trustingClient.SendAsync(forwardedForStranger);

        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        await AssertProblemAsync(refusedSpoof, HttpStatusCode.Forbidden, "ip_not_allowed");
        await AssertProblemAsync(refusedStranger, HttpStatusCode.Forbidden, "ip_not_allowed");
        Assert.Equal(1u, await rabbit.MessageCountAsync(_queue));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("myKaarma_wrong-token")]
    public async Task A_missing_or_wrong_authorization_token_gets_401(string? token)
    {
        var body = SampleEvents.Bytes(SampleEvents.Customer);
        using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(body, token: token));

        var problem = await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal(RequestAuthenticator.AuthorizationHeader, problem.GetProperty("header").GetString());
        await AssertNothingStoredAsync(_client);
    }

    [Fact]
    public async Task A_body_signed_with_an_unknown_secret_gets_401()
    {
        using var response = await _client.SendAsync(
            ReceiverFactory.SignedRequest(SampleEvents.Bytes(SampleEvents.Customer), secret: "not-the-secret"));

        var problem = await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "bad_signature");
        Assert.Equal(RequestAuthenticator.SignatureHeader, problem.GetProperty("header").GetString());
    }

    [Fact]
    public async Task A_body_signed_with_the_previous_secret_is_accepted_during_rotation()
    {
        using var response = await _client.SendAsync(
            ReceiverFactory.SignedRequest(SampleEvents.Bytes(SampleEvents.Customer), secret: ReceiverFactory.OldSecret));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task A_missing_signature_gets_401()
    {
        using var response = await _client.SendAsync(
            ReceiverFactory.SignedRequest(SampleEvents.Bytes(SampleEvents.Customer), secret: null));
        var problem = await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "bad_signature");
        Assert.Contains("missing", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_over_the_limit_gets_413_whether_or_not_it_declares_its_length()
    {
        await using var factory = new ReceiverFactory(rabbit.ConnectionString, _queue, ("MyKaarma:MaxBodyBytes", "2000"));
        using var client = factory.CreateClient();
        var mpi = SampleEvents.Bytes(SampleEvents.Mpi);
        Assert.True(mpi.Length > 2000);

        using var declared = await client.SendAsync(ReceiverFactory.SignedRequest(mpi));
        using var chunkedRequest = ReceiverFactory.SignedRequest(mpi);
        chunkedRequest.Content = new StreamContent(new MemoryStream(mpi));
        chunkedRequest.Content.Headers.ContentType = new("text/plain");
        chunkedRequest.Headers.TransferEncodingChunked = true;
        using var chunked = await client.SendAsync(chunkedRequest);
        using var small = await client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.Bytes(SampleEvents.Customer)));

        await AssertProblemAsync(declared, HttpStatusCode.RequestEntityTooLarge, "too_large");
        await AssertProblemAsync(chunked, HttpStatusCode.RequestEntityTooLarge, "too_large");
        Assert.Equal(HttpStatusCode.Accepted, small.StatusCode);
    }

    [Theory]
    [InlineData("id")]
    [InlineData("type")]
    [InlineData("timestamp")]
    [InlineData("dealeruuid")]
    [InlineData("payload")]
    public async Task A_signed_event_missing_a_field_gets_400_naming_it(string field)
    {
        var body = SampleEvents.With(SampleEvents.Appointment, (field, null));
        using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(body));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_envelope");
        Assert.Equal(field, problem.GetProperty("field").GetString());
        await AssertNothingStoredAsync(_client);
    }

    [Fact]
    public async Task A_payload_string_that_is_not_json_gets_400_naming_payload()
    {
        var body = SampleEvents.With(SampleEvents.Customer, ("payload", "customerWithVehicles=..."));
        using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(body));
        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_envelope");
        Assert.Equal("payload", problem.GetProperty("field").GetString());
    }

    [Fact]
    public async Task A_payload_string_holding_half_a_surrogate_pair_gets_400_not_a_server_error()
    {
        // Valid JSON on the outside, so only decoding the payload's text finds it: that used to throw past the 400s.
        var body = Encoding.UTF8.GetBytes(
            """{"id":"e1","type":"customers","timestamp":1,"dealeruuid":"d","payload":"{\"customerUuid\":\"\udc00\"}"}""");
        using var response = await _client.SendAsync(ReceiverFactory.SignedRequest(body));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_envelope");
        Assert.Equal("payload", problem.GetProperty("field").GetString());
    }

    [Fact]
    public async Task Rejections_are_counted_by_reason_and_acceptances_by_type()
    {
        using var rejected = Collector<long>("webhooks.receiver.rejected");
        using var accepted = Collector<long>("webhooks.receiver.accepted");
        using var publish = Collector<double>("webhooks.receiver.publish.duration");

        (await _client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.Bytes(SampleEvents.Customer), token: null))).Dispose();
        (await _client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.Bytes(SampleEvents.Customer), secret: "x"))).Dispose();
        (await _client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.With(SampleEvents.Customer, ("id", null))))).Dispose();
        (await _client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.Bytes(SampleEvents.Mpi)))).Dispose();

        Assert.Equal(["bad_signature", "invalid_envelope", "unauthorized"],
            rejected.GetMeasurementSnapshot().Select(m => (string)m.Tags["reason"]!).Order());
        Assert.Equal("mpis", Assert.Single(accepted.GetMeasurementSnapshot()).Tags["event.type"]);
        var duration = Assert.Single(publish.GetMeasurementSnapshot());
        Assert.Equal("confirmed", duration.Tags["outcome"]);
        Assert.True(duration.Value > 0);
    }

    [Fact]
    public async Task Secrets_tokens_and_signatures_never_reach_the_logs()
    {
        var body = SampleEvents.Bytes(SampleEvents.Customer);
        (await _client.SendAsync(ReceiverFactory.SignedRequest(body))).Dispose();
        (await _client.SendAsync(ReceiverFactory.SignedRequest(body, secret: "wrong-secret-value"))).Dispose();
        (await _client.SendAsync(ReceiverFactory.SignedRequest(body, token: "myKaarma_leaked-token"))).Dispose();

        var signature = RequestAuthenticator.Sign(ReceiverFactory.Secret, body)["sha256=".Length..];
        var wrongSignature = RequestAuthenticator.Sign("wrong-secret-value", body)["sha256=".Length..];
        Assert.NotEmpty(_factory.Logs.Lines);
        foreach (var forbidden in new[]
                 {
                     ReceiverFactory.Secret, ReceiverFactory.OldSecret, ReceiverFactory.Token, "myKaarma_leaked-token",
                     signature, wrongSignature, "mykaarma.testing@gmail.com",
                 })
        {
            Assert.DoesNotContain(_factory.Logs.Lines, line => line.Contains(forbidden, StringComparison.OrdinalIgnoreCase));
        }
    }

    [Fact]
    public async Task Health_is_ready_with_the_broker_and_alive_answers()
    {
        using var alive = await _client.GetAsync("/alive");
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);

        var health = await Eventually.ReturnsAsync(async () =>
        {
            using var response = await _client.GetAsync("/health");
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }, r => r.StatusCode == HttpStatusCode.OK, because: "the bus connects to the broker");
        Assert.Equal("Healthy", health.Body);
    }

    [Fact]
    public async Task The_path_is_configurable()
    {
        await using var factory = new ReceiverFactory(rabbit.ConnectionString, _queue, ("MyKaarma:Path", "/hooks/mk"));
        using var client = factory.CreateClient();
        var body = SampleEvents.Bytes(SampleEvents.Customer);

        using var moved = await client.SendAsync(ReceiverFactory.SignedRequest(body, path: "/hooks/mk"));
        using var old = await client.SendAsync(ReceiverFactory.SignedRequest(body));

        Assert.Equal(HttpStatusCode.Accepted, moved.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, old.StatusCode);
    }

    private MetricCollector<T> Collector<T>(string instrument)
        where T : struct =>
        new(_factory.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), ReceiverMetrics.MeterName, instrument);

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string reason)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Equal(reason, problem.GetProperty("reason").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
        return problem;
    }
}
