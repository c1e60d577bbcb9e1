using System.Net;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Relay.Management;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Webhooks.Relay.Tests.Management;

/// <summary>The delivery log: each filter, paging, one delivery with its attempts, and bad queries.</summary>
[Collection(ServersCollection.Name)]
public sealed class DeliveryApiTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private const string OtherDealer = "0000000000000000000000000000000000000000000000000000000000000b0b";
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task The_log_filters_by_subscriber_status_event_dealer_and_time_and_pages_newest_first()
    {
        var sink = _scenario.Sink;
        sink.Answer = request => request.Path switch
        {
            "/bad" => (HttpStatusCode.BadRequest, null),
            "/down" => (HttpStatusCode.InternalServerError, null),
            _ => (HttpStatusCode.OK, null),
        };
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var ok = await relay.CreateSubscriberAsync(ManagementApi.Definition("ok", sink.Url("/ok")));
        var bad = await relay.CreateSubscriberAsync(ManagementApi.Definition("bad", sink.Url("/bad"), eventTypes: ["customers"]));
        var down = await relay.CreateSubscriberAsync(ManagementApi.Definition("down", sink.Url("/down"), eventTypes: ["customers"],
            baseDelay: "01:00:00", maxDelay: "02:00:00"));
        var held = await relay.CreateSubscriberAsync(ManagementApi.Definition("held", sink.Url("/held"), eventTypes: ["appointments"]));
        using var client = relay.Client();
        await client.PostAsync($"/api/subscribers/{held.Id}/pause", null);
        await Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetService<Aspire.Webhooks.Relay.Subscribers.SubscriberCache>()!
            .Current.Single(s => s.Id == held.Id).State), s => s == Aspire.Webhooks.Relay.Subscribers.SubscriberState.Paused);

        var started = DateTimeOffset.UtcNow;
        var customer = Events.Fresh(SampleEvents.Customer);
        var appointment = Events.Parse(SampleEvents.With(SampleEvents.Appointment, ("id", Guid.NewGuid().ToString()), ("dealeruuid", OtherDealer)));
        var order = Events.Fresh(SampleEvents.ServiceOrder);
        foreach (var e in new[] { customer, appointment, order })
        {
            await _scenario.Sender.SendAsync(e);
        }

        // ok: 3 delivered; bad: customer dead; down: customer failed-retrying; held: appointment pending.
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>(
                "select coalesce(string_agg(status || ':' || (last_status_code is not null)::text, ',' order by status, last_status_code is not null), '') from deliveries"),
            s => s == "dead:true,delivered:true,delivered:true,delivered:true,pending:false,pending:true", because: "every delivery settled");

        async Task<DeliverySummary[]> Query(string query) =>
            [.. (await (await client.GetAsync("/api/deliveries?" + query)).ReadAsync<DeliveryPage>(HttpStatusCode.OK)).Items];

        Assert.Equal(6, (await Query("")).Length);
        Assert.Equal(3, (await Query($"subscriberId={ok.Id}")).Length);
        var deliveredToOk = await Query($"subscriberId={ok.Id}&status=delivered");
        Assert.Equal(3, deliveredToOk.Length);
        Assert.All(deliveredToOk, d => Assert.Equal(("ok", "delivered"), (d.SubscriberName, d.Status)));
        Assert.Equal(new[] { customer.Id, appointment.Id, order.Id }.Order(), deliveredToOk.Select(d => d.EventId).Order());
        var dead = Assert.Single(await Query("status=dead"));
        Assert.Equal((bad.Id, customer.Id, 400), (dead.SubscriberId, dead.EventId, dead.LastStatusCode));
        Assert.NotNull(dead.DeadAt);
        var retrying = Assert.Single(await Query("status=failed-retrying"));
        Assert.Equal((down.Id, 500), (retrying.SubscriberId, retrying.LastStatusCode));
        Assert.True(retrying.NextAttemptAt > DateTimeOffset.UtcNow.AddMinutes(30));
        var pending = Assert.Single(await Query("status=pending"));
        Assert.Equal((held.Id, appointment.Id), (pending.SubscriberId, pending.EventId));
        Assert.Empty(await Query("status=skipped"));

        Assert.Equal(new[] { held.Id, ok.Id }.Order(), (await Query("eventType=appointments")).Select(d => d.SubscriberId).Order());
        Assert.Equal(new[] { bad.Id, down.Id, ok.Id }.Order(), (await Query($"eventId={customer.Id}")).Select(d => d.SubscriberId).Order());
        // The dealer matches whatever its case: the appointment's two deliveries, to ok and held.
        var ofOtherDealer = await Query($"dealer={OtherDealer.ToUpperInvariant()}");
        Assert.Equal(new[] { held.Id, ok.Id }.Order(), ofOtherDealer.Select(d => d.SubscriberId).Order());
        Assert.All(ofOtherDealer, d => Assert.Equal(appointment.Id, d.EventId));
        Assert.Equal(2, (await Query($"dealer={OtherDealer}")).Length);
        Assert.Single(await Query($"eventType=customers&subscriberId={ok.Id}&eventId={customer.Id}&status=delivered&dealer={customer.DealerUuid}"));

        var at = Uri.EscapeDataString(started.AddMinutes(-1).ToString("o"));
        var later = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("o"));
        Assert.Equal(6, (await Query($"from={at}&to={later}")).Length);
        Assert.Empty(await Query($"from={later}"));
        Assert.Empty(await Query($"to={at}"));

        // Pages of two: every delivery once, newest first, and no next after the last.
        var all = await Query("pageSize=500");
        Assert.Equal(all.OrderByDescending(d => d.CreatedAt).ThenByDescending(d => d.Id).Select(d => d.Id), all.Select(d => d.Id));
        var paged = new List<DeliverySummary>();
        string? next = null;
        var pages = 0;
        do
        {
            var page = await (await client.GetAsync($"/api/deliveries?pageSize=2{(next is null ? "" : "&after=" + next)}"))
                .ReadAsync<DeliveryPage>(HttpStatusCode.OK);
            Assert.InRange(page.Items.Count, 1, 2);
            paged.AddRange(page.Items);
            next = page.Next;
            pages++;
        }
        while (next is not null);
        Assert.Equal(3, pages);
        Assert.Equal(all.Select(d => d.Id), paged.Select(d => d.Id));
    }

    [Fact]
    public async Task Bad_queries_are_refused_naming_the_parameter()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        using var client = relay.Client();

        async Task<string[]> Refused(string query) => await (await client.GetAsync("/api/deliveries?" + query)).InvalidFieldsAsync();

        Assert.Equal(["status"], await Refused("status=lost"));
        Assert.Equal(["pageSize"], await Refused("pageSize=0"));
        Assert.Equal(["pageSize"], await Refused("pageSize=501"));
        Assert.Equal(["pageSize"], await Refused("pageSize=ten"));
        Assert.Equal(["subscriberId"], await Refused("subscriberId=crm"));
        Assert.Equal(["from"], await Refused("from=01/02/2026"));
        Assert.Equal(["to"], await Refused("to=yesterday"));
        Assert.Equal(["from"], await Refused("from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z"));
        Assert.Equal(["after"], await Refused("after=not-a-cursor"));
        Assert.Equal(["pageSize", "status"], await Refused("status=DELIVERED&pageSize=-1"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/deliveries?from=2026-05-01&to=2026-05-01T10:00:00%2B02:00")).StatusCode);
    }

    [Fact]
    public async Task One_delivery_shows_its_event_and_every_attempt()
    {
        var sink = _scenario.Sink;
        sink.Respond = (_, n) => n <= 2 ? (HttpStatusCode.InternalServerError, null) : (HttpStatusCode.OK, null);
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var flaky = await relay.CreateSubscriberAsync(ManagementApi.Definition("flaky", sink.Url("/flaky")));
        var appointment = Events.Fresh(SampleEvents.Appointment);
        await _scenario.Sender.SendAsync(appointment);
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select status from deliveries"), s => s == "delivered");
        using var client = relay.Client();
        var id = await relay.ScalarAsync<Guid>("select id from deliveries");

        var detail = await (await client.GetAsync($"/api/deliveries/{id}")).ReadAsync<DeliveryDetail>(HttpStatusCode.OK);

        Assert.Equal((id, flaky.Id, "flaky", "delivered", 3), (detail.Delivery.Id, detail.Delivery.SubscriberId, detail.Delivery.SubscriberName,
            detail.Delivery.Status, detail.Delivery.Attempts));
        Assert.Equal(200, detail.Delivery.LastStatusCode);
        Assert.NotNull(detail.Delivery.DeliveredAt);
        Assert.Equal(EventTypes.Appointments, detail.Event.Type);
        Assert.Equal(appointment.Id, detail.Event.Id);
        Assert.Equal(appointment.DealerUuid, detail.Event.DealerUuid);
        Assert.Equal(appointment.Routing.DepartmentUuid, detail.Event.DepartmentUuid);
        Assert.Equal(appointment.Routing.EntityId, detail.Event.EntityId);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(appointment.Timestamp), detail.Event.Timestamp);
        Assert.Equal(appointment.ReceivedAt.ToUnixTimeMilliseconds(), detail.Event.ReceivedAt.ToUnixTimeMilliseconds());
        Assert.Equal([1, 2, 3], detail.Attempts.Select(a => a.Attempt));
        Assert.Equal([500, 500, 200], detail.Attempts.Select(a => a.StatusCode));
        Assert.Equal(["answer 500 to request 1", "answer 500 to request 2", "answer 200 to request 3"],
            detail.Attempts.Select(a => a.ResponseExcerpt));
        Assert.All(detail.Attempts, a => Assert.True(a.DurationMs > 0));
        Assert.True(detail.Attempts[0].StartedAt < detail.Attempts[2].StartedAt);

        var unknown = Guid.NewGuid();
        var problem = await (await client.GetAsync($"/api/deliveries/{unknown}")).ProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal("id", problem.GetProperty("field").GetString());
    }
}
