using System.Net;
using System.Security.Cryptography;
using System.Text;
using Aspire.Webhooks.Relay.Subscribers;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>The Relay end to end against real RabbitMQ and PostgreSQL, with subscribers as loopback HTTP servers.</summary>
[Collection(ServersCollection.Name)]
public sealed class DeliveryTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private const string Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private readonly string _queue = RabbitMqServer.UniqueQueueName("relay-tests");
    private readonly List<IAsyncDisposable> _owned = [];
    private string _database = string.Empty;
    private SubscriberSink _sink = null!;
    private EventSender _sender = null!;

    public async Task InitializeAsync()
    {
        _database = await postgres.CreateDatabaseAsync("relay_tests");
        _sink = await SubscriberSink.StartAsync();
        _sender = await EventSender.StartAsync(rabbit.ConnectionString, _queue + ".");
    }

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }

        await _sender.DisposeAsync();
        await _sink.DisposeAsync();
        await rabbit.DeleteQueueAsync(_queue);
        await PostgresServer.DropDatabaseAsync(_database);
    }

    private async Task<RelayHost> StartRelay(SubscriberConfig subscribers)
    {
        var host = new RelayHost(rabbit.ConnectionString, _database, _queue, subscribers.Settings);
        _owned.Add(host);
        return await host.StartAsync();
    }

    [Fact]
    public async Task Each_example_reaches_exactly_the_subscribers_whose_rules_match_it_signed_and_verbatim()
    {
        await StartRelay(new SubscriberConfig()
            .Add("all", _sink.Url("/all"), Secret)
            .Add("appointments-in-service", _sink.Url("/service"), Secret,
                filter: [("Departments", ["8ec821aefe98664ab15df7c426c3c46f9c37d0b1aeda9ff58df3db89bb0a55a3"])])
            .Add("orders", _sink.Url("/orders"), Secret, filter: [("EventTypes", ["service-orders"])])
            .Add("no-shows", _sink.Url("/no-shows"), Secret, filter: [("AppointmentStatuses", ["No Show"])]));

        foreach (var sample in SampleEvents.All)
        {
            await _sender.SendAsync(Events.Sample(sample));
        }

        await Eventually.ReturnsAsync(() => Task.FromResult(_sink.Requests.Count), n => n >= 6, because: "4 + 1 + 1 deliveries");
        Assert.Equal(4, _sink.RequestsTo("/all").Count);
        Assert.Equal("appointments", Assert.Single(_sink.RequestsTo("/service")).Header("x-mykaarma-event-type"));
        var order = Assert.Single(_sink.RequestsTo("/orders"));
        Assert.Equal("service-orders", order.Header("x-mykaarma-event-type"));
        Assert.Empty(_sink.RequestsTo("/no-shows"));

        foreach (var request in _sink.RequestsTo("/all"))
        {
            var sample = SampleEvents.All.Single(s => Events.Sample(s).Type == request.Header("x-mykaarma-event-type"));
            Assert.Equal(SampleEvents.Bytes(sample), request.Body);
            Assert.Equal("application/json", request.Header("content-type"));
            Assert.Equal(Events.Sample(sample).Id, request.Header("x-mykaarma-event-id"));
            Assert.Equal(Events.Sample(sample).DealerUuid, request.Header("x-mykaarma-dealer-uuid"));
            AssertSignedWith(Secret, request);
            Assert.True(System.Text.RegularExpressions.Regex.IsMatch(request.Header("traceparent"), "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"),
                $"traceparent '{request.Header("traceparent")}'");
        }

        // The service order and the MPI share an id; both were delivered.
        Assert.Equal(2, _sink.RequestsTo("/all").Count(r => r.Header("x-mykaarma-event-id") == "952fcf6d-5b68-41b0-ae8e-872f88bc882e"));
    }

    [Fact]
    public async Task A_second_arrival_of_the_same_type_and_id_delivers_nothing_more()
    {
        var relay = await StartRelay(new SubscriberConfig().Add("a", _sink.Url("/a"), Secret).Add("b", _sink.Url("/b"), Secret));
        var appointment = Events.Sample(SampleEvents.Appointment);

        await _sender.SendAsync(appointment);
        await _sender.SendAsync(appointment);
        await _sender.SendAsync(Events.Sample(SampleEvents.Customer));

        await Eventually.ReturnsAsync(() => Task.FromResult(_sink.Requests.Count), n => n >= 4, because: "two events to two subscribers");
        // Give the duplicate time to have been consumed: the customer event was sent after it on the same queue.
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from events"), n => n == 2);
        Assert.Equal(2, _sink.RequestsTo("/a").Count);
        Assert.Equal(2, _sink.RequestsTo("/b").Count);
        Assert.Equal(4L, await relay.ScalarAsync<long>("select count(*) from deliveries"));
    }

    [Fact]
    public async Task A_subscriber_failing_then_recovering_gets_the_event_with_one_webhook_id()
    {
        _sink.Respond = (_, n) => n <= 2 ? (HttpStatusCode.InternalServerError, null) : (HttpStatusCode.OK, null);
        var relay = await StartRelay(new SubscriberConfig().Add("flaky", _sink.Url("/flaky"), Secret, baseDelay: "00:00:00.100"));

        await _sender.SendAsync(Events.Fresh(SampleEvents.Customer));

        var requests = await Eventually.ReturnsAsync(() => Task.FromResult(_sink.RequestsTo("/flaky")), r => r.Count >= 3);
        Assert.Single(requests.Select(r => r.Header("webhook-id")).Distinct());
        foreach (var request in requests)
        {
            AssertSignedWith(Secret, request);
        }

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select status from deliveries"), s => s == "delivered");
        Assert.Equal(3L, await relay.ScalarAsync<long>("select count(*) from delivery_attempts"));
        Assert.Equal(2L, await relay.ScalarAsync<long>("select count(*) from delivery_attempts where status_code = 500"));
        Assert.Equal("answer 500 to request 1",
            await relay.ScalarAsync<string>("select response_excerpt from delivery_attempts where attempt = 1"));
    }

    [Fact]
    public async Task Retry_After_on_503_is_honoured()
    {
        _sink.Respond = (_, n) => n == 1 ? (HttpStatusCode.ServiceUnavailable, 2) : (HttpStatusCode.OK, null);
        await StartRelay(new SubscriberConfig().Add("busy", _sink.Url("/busy"), Secret, baseDelay: "00:00:00.050"));

        await _sender.SendAsync(Events.Fresh(SampleEvents.Customer));

        var requests = await Eventually.ReturnsAsync(() => Task.FromResult(_sink.RequestsTo("/busy")), r => r.Count >= 2);
        var gap = requests[1].At - requests[0].At;
        Assert.True(gap >= TimeSpan.FromSeconds(1.9), $"retried after {gap.TotalMilliseconds} ms despite Retry-After: 2");
    }

    [Fact]
    public async Task A_400_is_not_retried_and_is_dead_lettered_at_once()
    {
        _sink.Respond = (_, _) => (HttpStatusCode.BadRequest, null);
        var relay = await StartRelay(new SubscriberConfig().Add("strict", _sink.Url("/strict"), Secret, baseDelay: "00:00:00.050"));

        await _sender.SendAsync(Events.Fresh(SampleEvents.Customer));

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select status from deliveries"), s => s == "dead");
        await Task.Delay(500);
        Assert.Single(_sink.RequestsTo("/strict"));
        Assert.Contains("permanent", await relay.ScalarAsync<string>("select last_error from deliveries"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task After_max_attempts_the_delivery_is_dead_lettered_and_kept()
    {
        _sink.Respond = (_, _) => (HttpStatusCode.InternalServerError, null);
        var relay = await StartRelay(new SubscriberConfig().Add("down", _sink.Url("/down"), Secret, maxAttempts: 3,
            baseDelay: "00:00:00.050", maxDelay: "00:00:00.200"));

        await _sender.SendAsync(Events.Fresh(SampleEvents.Customer));

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select status from deliveries"), s => s == "dead");
        Assert.Equal(3, _sink.RequestsTo("/down").Count);
        Assert.Equal(3L, await relay.ScalarAsync<long>("select count(*) from delivery_attempts"));
        Assert.Contains("gave up after 3 attempts", await relay.ScalarAsync<string>("select last_error from deliveries"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gone_disables_the_subscriber_at_once_and_keeps_its_delivery_until_it_is_enabled()
    {
        _sink.Respond = (_, _) => (HttpStatusCode.Gone, null);
        var relay = await StartRelay(new SubscriberConfig().Add("moved", _sink.Url("/moved"), Secret));

        await _sender.SendAsync(Events.Fresh(SampleEvents.Customer));

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select state from subscribers"), s => s == "disabled");
        Assert.Contains("410 Gone", await relay.ScalarAsync<string>("select state_reason from subscribers"), StringComparison.Ordinal);
        Assert.Equal("pending", await relay.ScalarAsync<string>("select status from deliveries"));
        Assert.Single(_sink.RequestsTo("/moved"));

        _sink.Respond = (_, _) => (HttpStatusCode.OK, null);
        var id = await relay.ScalarAsync<Guid>("select id from subscribers");
        await relay.Services.GetRequiredService<SubscriberStore>().SetStateAsync(id, SubscriberState.Active, null, CancellationToken.None);

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select status from deliveries"), s => s == "delivered");
        Assert.Equal(2, _sink.RequestsTo("/moved").Count);
    }

    [Fact]
    public async Task A_subscribers_concurrency_limit_holds()
    {
        _sink.Delay = TimeSpan.FromMilliseconds(200);
        await StartRelay(new SubscriberConfig().Add("narrow", _sink.Url("/narrow"), Secret, maxConcurrency: 2));

        for (var i = 0; i < 8; i++)
        {
            await _sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        await Eventually.ReturnsAsync(() => Task.FromResult(_sink.Requests.Count), n => n >= 8);
        Assert.Equal(2, _sink.MaxInFlight);
    }

    [Fact]
    public async Task Fresh_events_a_backlog_past_the_limit_and_a_retry_go_out_without_waiting_for_the_poll_interval()
    {
        // With two slots, most events are stored unclaimed behind the first two. Only the last request fails, so its
        // retry is the one delivery left and nothing but its own time can start it.
        const int count = 12;
        _sink.Delay = TimeSpan.FromMilliseconds(50);
        _sink.Respond = (_, n) => n == count ? (HttpStatusCode.InternalServerError, null) : (HttpStatusCode.OK, null);
        var subscribers = new SubscriberConfig().Add("steady", _sink.Url("/steady"), Secret, baseDelay: "00:00:00.100", maxConcurrency: 2);
        var host = new RelayHost(rabbit.ConnectionString, _database, _queue,
            subscribers.Settings.Append(new("Relay:Delivery:PollInterval", "00:01:00")));
        _owned.Add(host);
        var relay = await host.StartAsync();

        for (var i = 0; i < count; i++)
        {
            await _sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        // Well inside the minute the poll interval would take: handovers, notifications and the retry's own time
        // are what start these requests.
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"),
            n => n == count, timeout: TimeSpan.FromSeconds(15), because: "every delivery completed without a poll");
        Assert.Equal(count + 1, _sink.RequestsTo("/steady").Count);
        Assert.Equal(2, _sink.MaxInFlight);
        Assert.Equal((long)count + 1, await relay.ScalarAsync<long>("select count(*) from delivery_attempts"));
    }

    [Fact]
    public async Task Two_relays_on_one_outbox_deliver_every_event_once()
    {
        var subscribers = new SubscriberConfig().Add("shared", _sink.Url("/shared"), Secret, maxConcurrency: 4);
        _sink.Delay = TimeSpan.FromMilliseconds(20);
        var first = await StartRelay(subscribers);
        await StartRelay(subscribers);

        const int count = 60;
        for (var i = 0; i < count; i++)
        {
            await _sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        await Eventually.ReturnsAsync(() => first.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"),
            n => n == count, because: "every delivery completed");
        var requests = _sink.RequestsTo("/shared");
        Assert.Equal(count, requests.Count);
        Assert.Equal(count, requests.Select(r => r.Header("webhook-id")).Distinct().Count());
        Assert.Equal((long)count, await first.ScalarAsync<long>("select count(*) from delivery_attempts"));
    }

    [Fact]
    public async Task Configured_subscribers_keep_a_generated_secret_across_restarts()
    {
        var config = new SubscriberConfig().Add("generated", _sink.Url("/g"));
        var firstRelay = await StartRelay(config);
        var secret = await firstRelay.ScalarAsync<string>("select secret from subscribers where name = 'generated'");
        await firstRelay.DisposeAsync();
        _owned.Remove(firstRelay);

        var secondRelay = await StartRelay(config);

        Assert.StartsWith(SigningSecret.Prefix, secret, StringComparison.Ordinal);
        Assert.Equal(secret, await secondRelay.ScalarAsync<string>("select secret from subscribers where name = 'generated'"));
        Assert.True(await secondRelay.ScalarAsync<bool>("select managed_by_config from subscribers where name = 'generated'"));
    }

    /// <summary>Checks the Standard Webhooks signature independently of the Relay's signer.</summary>
    private static void AssertSignedWith(string secret, SinkRequest request)
    {
        var id = request.Header("webhook-id");
        var timestamp = request.Header("webhook-timestamp");
        Assert.InRange(long.Parse(timestamp, System.Globalization.CultureInfo.InvariantCulture),
            DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var signed = Encoding.UTF8.GetBytes($"{id}.{timestamp}.").Concat(request.Body).ToArray();
        var expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
        Assert.Contains(expected, request.Header("webhook-signature").Split(' '));
    }
}
