using System.Net;
using Aspire.Webhooks.Relay.Management;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Relay.Tests.Management;

/// <summary>Replay and backfill send exactly what they should, once, however often the same request is sent.</summary>
[Collection(ServersCollection.Name)]
public sealed class ReplayApiTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    private SubscriberSink Sink => _scenario.Sink;

    [Fact]
    public async Task A_replayed_dead_letter_is_delivered_once_more_with_a_fresh_round_of_retries_and_the_same_key_does_not_send_it_again()
    {
        // Two failures dead-letter it (MaxAttempts 2); after the replay one more failure is retried, as a new round allows.
        Sink.Respond = (_, n) => n <= 3 ? (HttpStatusCode.InternalServerError, null) : (HttpStatusCode.OK, null);
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var subscriber = await relay.CreateSubscriberAsync(ManagementApi.Definition("fixed-later", Sink.Url("/later"), maxAttempts: 2));
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select status from deliveries"), s => s == "dead");
        var id = await relay.ScalarAsync<Guid>("select id from deliveries");
        using var client = relay.Client();
        var key = Guid.NewGuid().ToString();

        var replayed = await (await client.SendAsync(ManagementApi.Post($"/api/deliveries/{id}/replay", key)))
            .ReadAsync<DeliverySummary>(HttpStatusCode.OK);

        Assert.Equal((id, "pending", subscriber.Id), (replayed.Id, replayed.Status, replayed.SubscriberId));
        Assert.Null(replayed.LastStatusCode);
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select status from deliveries"), s => s == "delivered");
        var requests = Sink.RequestsTo("/later");
        Assert.Equal(4, requests.Count);
        Assert.Single(requests.Select(r => r.Header("webhook-id")).Distinct());
        Assert.Equal(4, await relay.ScalarAsync<int>("select attempts from deliveries"));

        // The same request again: the stored answer, and nothing is sent.
        using var again = await client.SendAsync(ManagementApi.Post($"/api/deliveries/{id}/replay", key));
        var repeated = await again.ReadAsync<DeliverySummary>(HttpStatusCode.OK);
        Assert.Equal("true", again.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(replayed.Status, repeated.Status);
        Assert.Equal(replayed.CreatedAt, repeated.CreatedAt);
        Assert.Equal("delivered", await relay.ScalarAsync<string>("select status from deliveries"));
        Assert.Equal(4, Sink.RequestsTo("/later").Count);

        // The key with another request is refused, and a new key replays again.
        var reused = await (await client.SendAsync(ManagementApi.Post($"/api/deliveries/{Guid.NewGuid()}/replay", key)))
            .ProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal("Idempotency-Key", reused.GetProperty("header").GetString());
        await (await client.SendAsync(ManagementApi.Post($"/api/deliveries/{id}/replay", Guid.NewGuid().ToString())))
            .ReadAsync<DeliverySummary>(HttpStatusCode.OK);
        await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/later").Count), n => n == 5);
    }

    [Fact]
    public async Task Replay_needs_an_idempotency_key_and_refuses_unknown_and_pending_deliveries()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var subscriber = await relay.CreateSubscriberAsync(ManagementApi.Definition("waiting", Sink.Url("/waiting")));
        using var client = relay.Client();
        await client.PostAsync($"/api/subscribers/{subscriber.Id}/pause", null);
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        var id = await Eventually.ReturnsAsync(() => relay.ScalarAsync<Guid?>("select id from deliveries"), i => i is not null);

        foreach (var path in new[] { $"/api/deliveries/{id}/replay", $"/api/subscribers/{subscriber.Id}/replay-dead",
            $"/api/subscribers/{subscriber.Id}/backfill" })
        {
            var missing = await (await client.SendAsync(ManagementApi.Post(path, null))).ProblemAsync(HttpStatusCode.BadRequest);
            Assert.Equal("Idempotency-Key", missing.GetProperty("header").GetString());
            var tooLong = await (await client.SendAsync(ManagementApi.Post(path, new string('k', 201)))).ProblemAsync(HttpStatusCode.BadRequest);
            Assert.Equal("Idempotency-Key", tooLong.GetProperty("header").GetString());
        }

        var pending = await (await client.SendAsync(ManagementApi.Post($"/api/deliveries/{id}/replay", "k1"))).ProblemAsync(HttpStatusCode.Conflict);
        Assert.Contains("pending", pending.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await (await client.SendAsync(ManagementApi.Post($"/api/deliveries/{Guid.NewGuid()}/replay", "k2"))).ProblemAsync(HttpStatusCode.NotFound);
        await (await client.SendAsync(ManagementApi.Post($"/api/subscribers/{Guid.NewGuid()}/replay-dead", "k3"))).ProblemAsync(HttpStatusCode.NotFound);
        await (await client.SendAsync(ManagementApi.Post($"/api/subscribers/{Guid.NewGuid()}/backfill", "k4",
            new { since = DateTimeOffset.UtcNow.AddHours(-1) }))).ProblemAsync(HttpStatusCode.NotFound);
        // Refusals are not stored: the key may be used once the cause is gone.
        Assert.Equal(0L, await relay.ScalarAsync<long>("select count(*) from api_requests"));
    }

    [Fact]
    public async Task Replay_dead_sends_exactly_the_dead_letters_of_the_subscriber_bounded_by_the_limit()
    {
        var failing = new HashSet<string>();
        Sink.Answer = request => failing.Contains(request.Header("x-mykaarma-event-id"))
            ? (HttpStatusCode.BadRequest, null)
            : (HttpStatusCode.OK, null);
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys.Append(new("Relay:Management:MaxReplayCount", "5")));
        var strict = await relay.CreateSubscriberAsync(ManagementApi.Definition("strict", Sink.Url("/strict")));
        var other = await relay.CreateSubscriberAsync(ManagementApi.Definition("other", Sink.Url("/other"), eventTypes: ["customers"]));
        var events = Enumerable.Range(0, 5).Select(_ => Events.Fresh(SampleEvents.Customer)).ToList();
        lock (failing)
        {
            failing.UnionWith(events.Take(3).Select(e => e.Id));
        }

        foreach (var e in events)
        {
            await _scenario.Sender.SendAsync(e);
        }

        // Both subscribers dead-letter the three (400 is permanent); the other two are delivered.
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'dead'"), n => n == 6);
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"), n => n == 4);
        failing.Clear();
        using var client = relay.Client();

        var first = await (await client.SendAsync(ManagementApi.Post($"/api/subscribers/{strict.Id}/replay-dead?limit=2", "dead-1")))
            .ReadAsync<ReplayResult>(HttpStatusCode.OK);
        Assert.Equal(new ReplayResult(2, MoreRemaining: true), first);
        var rest = await (await client.SendAsync(ManagementApi.Post($"/api/subscribers/{strict.Id}/replay-dead", "dead-2")))
            .ReadAsync<ReplayResult>(HttpStatusCode.OK);
        Assert.Equal(new ReplayResult(1, MoreRemaining: false), rest);

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>(
            "select count(*) from deliveries where subscriber_id = $1 and status = 'delivered'", strict.Id), n => n == 5);
        var strictRequests = Sink.RequestsTo("/strict");
        Assert.Equal(8, strictRequests.Count);
        Assert.Equal(events.Take(3).Select(e => e.Id).Order(),
            strictRequests.Skip(5).Select(r => r.Header("x-mykaarma-event-id")).Order());
        Assert.Equal(3L, await relay.ScalarAsync<long>("select count(*) from deliveries where subscriber_id = $1 and status = 'dead'", other.Id));
        Assert.Equal(5, Sink.RequestsTo("/other").Count);

        // Nothing is dead any more; the first request sent again answers as before and replays nothing.
        Assert.Equal(new ReplayResult(0, false), await (await client.SendAsync(
            ManagementApi.Post($"/api/subscribers/{strict.Id}/replay-dead", "dead-3"))).ReadAsync<ReplayResult>(HttpStatusCode.OK));
        Assert.Equal(first, await (await client.SendAsync(
            ManagementApi.Post($"/api/subscribers/{strict.Id}/replay-dead?limit=2", "dead-1"))).ReadAsync<ReplayResult>(HttpStatusCode.OK));

        // Since: only dead letters from then on. One of the other subscriber's was dead-lettered two hours ago.
        var future = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("o"));
        Assert.Equal(new ReplayResult(0, false), await (await client.SendAsync(
            ManagementApi.Post($"/api/subscribers/{other.Id}/replay-dead?since={future}", "dead-4"))).ReadAsync<ReplayResult>(HttpStatusCode.OK));
        Assert.Equal(3L, await relay.ScalarAsync<long>("select count(*) from deliveries where subscriber_id = $1 and status = 'dead'", other.Id));
        var older = events[0].Id;
        await relay.ScalarAsync<int>("""
            update deliveries d set dead_at = d.dead_at - interval '2 hours' from events e
            where e.id = d.event_pk and d.subscriber_id = $1 and e.event_id = $2 returning 1
            """, other.Id, older);
        var hourAgo = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(-1).ToString("o"));
        Assert.Equal(new ReplayResult(2, false), await (await client.SendAsync(
            ManagementApi.Post($"/api/subscribers/{other.Id}/replay-dead?since={hourAgo}", "dead-7"))).ReadAsync<ReplayResult>(HttpStatusCode.OK));
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>(
            "select count(*) from deliveries where subscriber_id = $1 and status = 'delivered'", other.Id), n => n == 4,
            because: "the two recent dead letters are delivered");
        Assert.Equal(events.Skip(1).Take(2).Select(e => e.Id).Order(),
            Sink.RequestsTo("/other").Skip(5).Select(r => r.Header("x-mykaarma-event-id")).Order());
        Assert.Equal(older, await relay.ScalarAsync<string>("""
            select e.event_id from deliveries d join events e on e.id = d.event_pk where d.subscriber_id = $1 and d.status = 'dead'
            """, other.Id));

        Assert.Equal(["limit"], await (await client.SendAsync(
            ManagementApi.Post($"/api/subscribers/{other.Id}/replay-dead?limit=6", "dead-5"))).InvalidFieldsAsync());
        Assert.Equal(["limit", "since"], await (await client.SendAsync(
            ManagementApi.Post($"/api/subscribers/{other.Id}/replay-dead?limit=0&since=last-week", "dead-6"))).InvalidFieldsAsync());
    }

    [Fact]
    public async Task Backfill_delivers_exactly_the_stored_events_a_new_subscriber_matches_once()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys.Append(new("Relay:Management:MaxReplayCount", "10")));
        var before = DateTimeOffset.UtcNow.AddMinutes(-1);
        var customers = new[] { Events.Fresh(SampleEvents.Customer), Events.Fresh(SampleEvents.Customer), Events.Fresh(SampleEvents.Customer) };
        foreach (var e in customers.Concat([Events.Fresh(SampleEvents.Appointment), Events.Fresh(SampleEvents.ServiceOrder)]))
        {
            await _scenario.Sender.SendAsync(e);
        }

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from events"), n => n == 5);
        var late = await relay.CreateSubscriberAsync(ManagementApi.Definition("late", Sink.Url("/late"), eventTypes: ["customers"]));
        // A customer event that arrives after the subscriber: it is delivered by routing, and the backfill leaves it alone.
        var live = Events.Fresh(SampleEvents.Customer);
        await _scenario.Sender.SendAsync(live);
        await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/late").Count), n => n == 1);
        using var client = relay.Client();

        var backfill = ManagementApi.Post($"/api/subscribers/{late.Id}/backfill", "fill-1", new { since = before });
        var result = await (await client.SendAsync(backfill)).ReadAsync<BackfillResult>(HttpStatusCode.OK);

        Assert.Equal(new BackfillResult(3, MoreRemaining: false), result);
        await Eventually.ReturnsAsync(() => Task.FromResult(Sink.RequestsTo("/late").Count), n => n == 4);
        var received = Sink.RequestsTo("/late");
        Assert.Equal(customers.Append(live).Select(e => e.Id).Order(), received.Select(r => r.Header("x-mykaarma-event-id")).Order());
        Assert.All(received, r => Assert.True(r.IsSignedWith(RelayScenario.Secret)));
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"), n => n == 4);

        // Again with a new key: those events have their deliveries, so nothing is created.
        Assert.Equal(new BackfillResult(0, false), await (await client.SendAsync(
            ManagementApi.Post($"/api/subscribers/{late.Id}/backfill", "fill-2", new { since = before }))).ReadAsync<BackfillResult>(HttpStatusCode.OK));
        Assert.Equal(4L, await relay.ScalarAsync<long>("select count(*) from deliveries"));
        Assert.Equal(4, Sink.RequestsTo("/late").Count);
    }

    [Fact]
    public async Task Backfill_is_bounded_by_its_limit_sets_entity_keys_as_the_options_need_and_checks_its_input()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys.Append(new("Relay:Management:MaxReplayCount", "10")));
        var before = DateTimeOffset.UtcNow.AddMinutes(-1);
        for (var i = 0; i < 4; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Appointment));
        }

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from events"), n => n == 4);
        using var client = relay.Client();
        var ordered = await relay.CreateSubscriberAsync(new
        {
            name = "ordered",
            url = Sink.Url("/ordered").ToString(),
            ordering = "PerEntity",
        });
        var plain = await relay.CreateSubscriberAsync(ManagementApi.Definition("plain", Sink.Url("/plain")));
        foreach (var subscriber in new[] { ordered, plain })
        {
            await client.PostAsync($"/api/subscribers/{subscriber.Id}/pause", null);
        }

        Assert.Equal(new BackfillResult(3, MoreRemaining: true), await (await client.SendAsync(ManagementApi.Post(
            $"/api/subscribers/{ordered.Id}/backfill", "bounded-1", new { since = before, limit = 3 }))).ReadAsync<BackfillResult>(HttpStatusCode.OK));
        Assert.Equal(new BackfillResult(1, MoreRemaining: false), await (await client.SendAsync(ManagementApi.Post(
            $"/api/subscribers/{ordered.Id}/backfill", "bounded-2", new { since = before, limit = 3 }))).ReadAsync<BackfillResult>(HttpStatusCode.OK));
        Assert.Equal(new BackfillResult(0, MoreRemaining: false), await (await client.SendAsync(ManagementApi.Post(
            $"/api/subscribers/{plain.Id}/backfill", "window", new { since = before, until = before.AddSeconds(30) }))).ReadAsync<BackfillResult>(HttpStatusCode.OK));
        Assert.Equal(new BackfillResult(4, MoreRemaining: false), await (await client.SendAsync(ManagementApi.Post(
            $"/api/subscribers/{plain.Id}/backfill", "all", new { since = before }))).ReadAsync<BackfillResult>(HttpStatusCode.OK));

        // The entity key convention: "type:entity id" and the myKaarma timestamp, only for a subscriber that uses an entity option.
        Assert.Equal(4L, await relay.ScalarAsync<long>("""
            select count(*) from deliveries d join events e on e.id = d.event_pk
            where d.subscriber_id = $1 and d.entity_key = e.event_type || ':' || e.entity_id and d.event_timestamp_ms = e.timestamp_ms
            """, ordered.Id));
        Assert.Equal(4L, await relay.ScalarAsync<long>(
            "select count(*) from deliveries where subscriber_id = $1 and entity_key is null and event_timestamp_ms is null", plain.Id));

        async Task<string[]> Refused(object body) =>
            await (await client.SendAsync(ManagementApi.Post($"/api/subscribers/{plain.Id}/backfill", Guid.NewGuid().ToString(), body)))
                .InvalidFieldsAsync();

        Assert.Equal(["since"], await Refused(new { }));
        Assert.Equal(["since"], await Refused(new { since = "last week" }));
        Assert.Equal(["since"], await Refused(new { since = before, until = before.AddDays(-1) }));
        Assert.Equal(["since"], await Refused(new { since = DateTimeOffset.UtcNow.AddDays(1) }));
        Assert.Equal(["limit"], await Refused(new { since = before, limit = 0 }));
        Assert.Equal(["limit"], await Refused(new { since = before, limit = 11 }));
        Assert.Equal(["sinse"], await Refused(new { sinse = before }));
        Assert.Equal(8L, await relay.ScalarAsync<long>("select count(*) from deliveries"));
    }

    [Fact]
    public async Task The_same_backfill_sent_twice_at_once_runs_once()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var before = DateTimeOffset.UtcNow.AddMinutes(-1);
        for (var i = 0; i < 3; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from events"), n => n == 3);
        var subscriber = await relay.CreateSubscriberAsync(ManagementApi.Definition("twice", Sink.Url("/twice")));
        using var client = relay.Client();

        var responses = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ =>
            client.SendAsync(ManagementApi.Post($"/api/subscribers/{subscriber.Id}/backfill", "at-once", new { since = before }))));

        var answers = await Task.WhenAll(responses.Select(r => r.ReadAsync<BackfillResult>(HttpStatusCode.OK)));
        Assert.All(answers, a => Assert.Equal(new BackfillResult(3, false), a));
        Assert.Single(responses, r => r.Headers.Contains("Idempotent-Replayed"));
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"), n => n == 3);
        Assert.Equal(3, Sink.RequestsTo("/twice").Count);
        Assert.Equal(1L, await relay.ScalarAsync<long>("select count(*) from api_requests"));
    }

    [Fact]
    public async Task Without_a_limit_replay_and_backfill_take_the_configured_maximum_and_say_that_more_remain()
    {
        // The first three requests to /dead are refused for good: three dead letters. Everything after is taken.
        Sink.Respond = (path, n) => path == "/dead" && n <= 3 ? (HttpStatusCode.BadRequest, null) : (HttpStatusCode.OK, null);
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys.Append(new("Relay:Management:MaxReplayCount", "2")));
        var before = DateTimeOffset.UtcNow.AddMinutes(-1);
        var dead = await relay.CreateSubscriberAsync(ManagementApi.Definition("dead", Sink.Url("/dead")));
        var events = Enumerable.Range(0, 3).Select(_ => Events.Fresh(SampleEvents.Customer)).ToList();
        foreach (var e in events)
        {
            await _scenario.Sender.SendAsync(e);
        }

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>(
            "select count(*) from deliveries where subscriber_id = $1 and status = 'dead'", dead.Id), n => n == 3);
        // Added after the three events were routed: it has none of them until a backfill.
        var late = await relay.CreateSubscriberAsync(ManagementApi.Definition("late", Sink.Url("/late")));
        using var client = relay.Client();

        var replayed = await (await client.SendAsync(ManagementApi.Post($"/api/subscribers/{dead.Id}/replay-dead", "dead-1")))
            .ReadAsync<ReplayResult>(HttpStatusCode.OK);
        var backfilled = await (await client.SendAsync(ManagementApi.Post($"/api/subscribers/{late.Id}/backfill", "late-1",
            new { since = before }))).ReadAsync<BackfillResult>(HttpStatusCode.OK);

        Assert.Equal(new ReplayResult(2, MoreRemaining: true), replayed);
        Assert.Equal(new BackfillResult(2, MoreRemaining: true), backfilled);
        await Eventually.ReturnsAsync(() => Delivered(dead.Id), n => n == 2, because: "the two replayed dead letters are delivered");
        await Eventually.ReturnsAsync(() => Delivered(late.Id), n => n == 2, because: "the two backfilled events are delivered");
        // Nothing else is on its way: one dead letter is left, and the backfill created no third delivery.
        Assert.Equal(1L, await relay.ScalarAsync<long>(
            "select count(*) from deliveries where subscriber_id = $1 and status = 'dead'", dead.Id));
        Assert.Equal(2L, await relay.ScalarAsync<long>("select count(*) from deliveries where subscriber_id = $1", late.Id));
        Assert.Equal(3 + 2, Sink.RequestsTo("/dead").Count);
        Assert.Equal(2, Sink.RequestsTo("/late").Count);

        // A new request takes the rest.
        Assert.Equal(new ReplayResult(1, MoreRemaining: false), await (await client.SendAsync(
            ManagementApi.Post($"/api/subscribers/{dead.Id}/replay-dead", "dead-2"))).ReadAsync<ReplayResult>(HttpStatusCode.OK));
        Assert.Equal(new BackfillResult(1, MoreRemaining: false), await (await client.SendAsync(ManagementApi.Post(
            $"/api/subscribers/{late.Id}/backfill", "late-2", new { since = before }))).ReadAsync<BackfillResult>(HttpStatusCode.OK));
        await Eventually.ReturnsAsync(() => Delivered(dead.Id), n => n == 3, because: "the last dead letter is delivered");
        await Eventually.ReturnsAsync(() => Delivered(late.Id), n => n == 3, because: "the last stored event is delivered");
        var ids = events.Select(e => e.Id).Order();
        Assert.Equal(ids, Sink.RequestsTo("/dead").Skip(3).Select(r => r.Header("x-mykaarma-event-id")).Order());
        Assert.Equal(ids, Sink.RequestsTo("/late").Select(r => r.Header("x-mykaarma-event-id")).Order());

        Task<long> Delivered(Guid subscriberId) => relay.ScalarAsync<long>(
            "select count(*) from deliveries where subscriber_id = $1 and status = 'delivered'", subscriberId);
    }
}
