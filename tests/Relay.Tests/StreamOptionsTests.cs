using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.Relay.Subscribers;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>
/// The per-subscriber stream options made for myKaarma's events: per-entity ordering, skipping stale events and
/// coalescing bursts, through the real broker, outbox and subscriber endpoints.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class StreamOptionsTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private const HttpStatusCode Fail = HttpStatusCode.InternalServerError;
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task Events_about_one_entity_arrive_in_timestamp_order_while_the_earliest_is_retried_and_others_go_on()
    {
        var sink = _scenario.Sink;
        var (a1, a2, a3) = (About("a", 1_000), About("a", 2_000), About("a", 3_000));
        var (b1, loose) = (About("b", 1_500), About(null, 1_200));
        var a1Requests = 0;
        // The earliest event about "a" fails twice, and for as long as the events about others have not been taken:
        // were they held behind it, it would never succeed.
        sink.Answer = request => Is(request, a1) && (Interlocked.Increment(ref a1Requests) <= 2 || !Took(b1) || !Took(loose))
            ? (Fail, null)
            : (HttpStatusCode.OK, null);
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("ordered", sink.Url("/ordered"), RelayScenario.Secret, maxAttempts: 50, baseDelay: "00:00:00.100", maxDelay: "00:00:00.200")
            .Settings
            .Append(Option(0, "Ordering", "PerEntity")));

        await _scenario.Sender.SendAsync(a1);
        await Eventually.ReturnsAsync(() => Task.FromResult(Requests(a1).Count), n => n >= 1, because: "the earliest event is attempted");
        // Published out of order, after the earliest is already failing.
        foreach (var e in new[] { a3, a2, b1, loose })
        {
            await _scenario.Sender.SendAsync(e);
        }

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"),
            n => n == 5, because: "every event is delivered in the end");

        string[] aboutA = [a1.Id, a2.Id, a3.Id];
        Assert.Equal(aboutA, Accepted().Select(r => r.EventId).Where(aboutA.Contains));
        var a1Taken = Assert.Single(sink.Accepted, r => Is(r, a1)).At;
        Assert.True(Requests(a1).Count >= 3, $"the earliest event was attempted {Requests(a1).Count} times");
        Assert.All(Requests(a2).Concat(Requests(a3)), r => Assert.True(r.At > a1Taken, "a later event about the entity was sent before the earliest was taken"));
        Assert.Single(Requests(a2));
        Assert.Single(Requests(a3));
        Assert.True(Taken(b1) < a1Taken, "another entity's event waited for the retried one");
        Assert.True(Taken(loose) < a1Taken, "an event without an entity waited for the retried one");
    }

    [Fact]
    public async Task A_later_event_about_an_entity_proceeds_once_the_earlier_one_is_dead_lettered()
    {
        var sink = _scenario.Sink;
        var (a1, a2) = (About("a", 1_000), About("a", 2_000));
        sink.Answer = request => Is(request, a1) ? (Fail, null) : (HttpStatusCode.OK, null);
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("ordered", sink.Url("/ordered"), RelayScenario.Secret, maxAttempts: 3, baseDelay: "00:00:00.100", maxDelay: "00:00:00.200")
            .Settings
            .Append(Option(0, "Ordering", "PerEntity")));

        await _scenario.Sender.SendAsync(a1);
        await Eventually.ReturnsAsync(() => Task.FromResult(Requests(a1).Count), n => n >= 1, because: "the earlier event is attempted");
        await _scenario.Sender.SendAsync(a2);

        await Eventually.ReturnsAsync(() => StatusOf(a2), s => s == "delivered", because: "the later event goes once the earlier is dead");
        Assert.Equal("dead", await StatusOf(a1));
        Assert.Equal(3, Requests(a1).Count);
        Assert.True(Assert.Single(Requests(a2)).At > Requests(a1).Max(r => r.At), "the later event was sent while the earlier was retried");
    }

    [Fact]
    public async Task An_earlier_event_arriving_while_a_later_one_is_in_flight_waits_for_it()
    {
        var sink = _scenario.Sink;
        var (a1, a2) = (About("a", 1_000), About("a", 2_000));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        sink.Gate = request => Is(request, a2) ? release.Task : Task.CompletedTask;
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("ordered", sink.Url("/ordered"), RelayScenario.Secret)
            .Settings
            .Append(Option(0, "Ordering", "PerEntity")));

        await _scenario.Sender.SendAsync(a2);
        await Eventually.ReturnsAsync(() => Task.FromResult(Requests(a2).Count), n => n == 1, because: "the later event is in flight");
        await _scenario.Sender.SendAsync(a1);
        await Eventually.ReturnsAsync(() => StatusOf(a1), s => s == "pending", because: "the earlier event is stored");

        // Whoever claims now, the lane or this test, gets nothing: the entity has a request in flight.
        var subscriber = relay.Services.GetRequiredService<SubscriberCache>().Current.Single();
        var claim = await relay.Services.GetRequiredService<OutboxStore>().ClaimAsync(subscriber, 8, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.Empty(claim.Claimed);
        Assert.Equal(0, await AttemptsOf(a1));
        Assert.Empty(Requests(a1));

        var released = DateTimeOffset.UtcNow;
        release.SetResult();
        await Eventually.ReturnsAsync(() => StatusOf(a1), s => s == "delivered", because: "the earlier event goes once the later is taken");
        Assert.True(Assert.Single(Requests(a1)).At > released);
        Assert.Equal(1, sink.MaxInFlight);
    }

    [Fact]
    public async Task An_event_older_than_one_delivered_about_its_entity_is_skipped_and_recorded_and_newer_ones_are_delivered()
    {
        var sink = _scenario.Sink;
        var (a200, a100, a300, b100) = (About("a", 200), About("a", 100), About("a", 300), About("b", 100));
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("fresh-only", sink.Url("/fresh-only"), RelayScenario.Secret)
            .Settings
            .Append(Option(0, "DropStale", "true")));
        using var unsent = new UnsentCounter(relay);

        await _scenario.Sender.SendAsync(a200);
        await Eventually.ReturnsAsync(() => StatusOf(a200), s => s == "delivered");
        await _scenario.Sender.SendAsync(a100);
        await _scenario.Sender.SendAsync(b100);

        await Eventually.ReturnsAsync(() => StatusOf(a100), s => s == "skipped", because: "the older event is skipped");
        await Eventually.ReturnsAsync(() => StatusOf(b100), s => s == "delivered", because: "another entity's event is not stale");
        await _scenario.Sender.SendAsync(a300);
        await Eventually.ReturnsAsync(() => StatusOf(a300), s => s == "delivered", because: "a newer event is not stale");

        Assert.Empty(Requests(a100));
        Assert.Equal(0, await AttemptsOf(a100));
        Assert.Contains(a200.Id, await FieldOf<string>(a100, "last_error"), StringComparison.Ordinal);
        Assert.True(await FieldOf<bool>(a100, "skipped_at is not null"));
        Assert.Equal(["skipped"], unsent.Statuses("fresh-only"));
        Assert.Equal([a200.Id, b100.Id, a300.Id], Accepted().Select(r => r.EventId));
    }

    [Fact]
    public async Task Within_the_window_only_the_latest_event_about_an_entity_is_delivered()
    {
        var sink = _scenario.Sink;
        var (x200, x100) = (About("x", 200), About("x", 100));
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("coalesced", sink.Url("/coalesced"), RelayScenario.Secret)
            .Settings
            .Append(Option(0, "CoalesceWindow", "00:00:01")));
        using var unsent = new UnsentCounter(relay);

        // A burst of two, the later (by myKaarma's timestamp) published first.
        var sent = DateTimeOffset.UtcNow;
        await _scenario.Sender.SendAsync(x200);
        await _scenario.Sender.SendAsync(x100);

        await Eventually.ReturnsAsync(() => StatusOf(x200), s => s == "delivered", because: "the latest of the burst is delivered");
        Assert.Equal("superseded", await StatusOf(x100));
        Assert.Contains(x200.Id, await FieldOf<string>(x100, "last_error"), StringComparison.Ordinal);
        Assert.True(await FieldOf<bool>(x100, "skipped_at is not null"));
        Assert.Empty(Requests(x100));
        Assert.True(Assert.Single(Requests(x200)).At - sent >= TimeSpan.FromSeconds(1), "the event was sent before its window ended");
        Assert.Equal(["superseded"], unsent.Statuses("coalesced"));
        Assert.Equal([x200.Id], Accepted().Select(r => r.EventId));
    }

    [Fact]
    public async Task Two_events_further_apart_than_the_window_are_both_delivered_though_both_wait_together()
    {
        var sink = _scenario.Sink;
        var (x100, x300, loose) = (About("x", 100), About("x", 300), About(null, 50));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The subscriber's only slot is held by a request left open, so nothing about x is claimed while both arrive.
        sink.Gate = request => Is(request, loose) ? release.Task : Task.CompletedTask;
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("coalesced", sink.Url("/coalesced"), RelayScenario.Secret, maxConcurrency: 1)
            .Settings
            .Append(Option(0, "CoalesceWindow", "00:00:02"))
            .Append(new("Relay:Delivery:RequestTimeout", "00:00:30")));
        using var unsent = new UnsentCounter(relay);

        await _scenario.Sender.SendAsync(loose);
        await Eventually.ReturnsAsync(() => Task.FromResult(Requests(loose).Count), n => n == 1, because: "the only slot is taken");
        await _scenario.Sender.SendAsync(x100);
        await Eventually.ReturnsAsync(() => FieldOf<bool>(x100, "d.next_attempt_at < now()"), due => due,
            because: "the first event's window ends");
        await _scenario.Sender.SendAsync(x300);
        await Eventually.ReturnsAsync(() => StatusOf(x300), s => s == "pending", because: "the second event is stored");

        // Both wait, neither attempted; the second opened a window of its own rather than join the one that ended.
        Assert.Equal(("pending", 0, 0), (await StatusOf(x100), await AttemptsOf(x100), await AttemptsOf(x300)));
        var gap = await FieldOf<double>(x300, """
            extract(epoch from d.next_attempt_at - (select w.next_attempt_at from deliveries w
                where w.entity_key = d.entity_key and w.id <> d.id))::float8
            """);
        Assert.True(gap >= 2, $"the second event's first attempt is {gap} s after the first's, within one window");

        release.SetResult();
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"),
            n => n == 3, because: "both events about x are delivered, each at the end of its own window");
        Assert.Equal([loose.Id, x100.Id, x300.Id], Accepted().Select(r => r.EventId));
        Assert.Equal(0L, await relay.ScalarAsync<long>("select count(*) from deliveries where status = 'superseded'"));
        Assert.Empty(unsent.Statuses("coalesced"));
        Assert.Equal(1, sink.MaxInFlight);
    }

    [Fact]
    public async Task A_subscriber_without_options_is_unaffected_by_another_ones_ordering()
    {
        var sink = _scenario.Sink;
        var (a1, a2) = (About("a", 1_000), About("a", 2_000));
        // The earliest event fails at both subscribers until the one without options has taken the later event.
        sink.Answer = request => Is(request, a1) && !sink.Accepted.Any(r => r.Path == "/plain" && Is(r, a2))
            ? (Fail, null)
            : (HttpStatusCode.OK, null);
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("ordered", sink.Url("/ordered"), RelayScenario.Secret, maxAttempts: 50, baseDelay: "00:00:00.100", maxDelay: "00:00:00.200")
            .Add("plain", sink.Url("/plain"), RelayScenario.Secret, maxAttempts: 50, baseDelay: "00:00:00.100", maxDelay: "00:00:00.200")
            .Settings
            .Append(Option(0, "Ordering", "PerEntity")));

        await _scenario.Sender.SendAsync(a1);
        await Eventually.ReturnsAsync(() => Task.FromResult(Requests(a1).Select(r => r.Path).Distinct().Count()), n => n == 2,
            because: "the earliest event is attempted at both");
        await _scenario.Sender.SendAsync(a2);

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"),
            n => n == 4, because: "both events reach both subscribers");
        Assert.Equal([a2.Id, a1.Id], Accepted("/plain").Select(r => r.EventId));
        Assert.Equal([a1.Id, a2.Id], Accepted("/ordered").Select(r => r.EventId));

        // Deliveries to the subscriber without options are stored as they always were: no entity, no timestamp.
        var stored = await _scenario.RowsAsync<string, string>("""
            select s.name, coalesce(d.entity_key, '-') || '@' || coalesce(d.event_timestamp_ms::text, '-')
            from deliveries d join subscribers s on s.id = d.subscriber_id join events e on e.id = d.event_pk
            order by s.name, e.timestamp_ms
            """);
        Assert.Equal([("ordered", "customers:a@1000"), ("ordered", "customers:a@2000"), ("plain", "-@-"), ("plain", "-@-")], stored);
    }

    [Fact]
    public async Task Skipped_and_superseded_deliveries_are_purged_at_the_delivered_age()
    {
        var sink = _scenario.Sink;
        var (a200, a100, x200, x100) = (About("a", 200), About("a", 100), About("x", 200), About("x", 100));
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("fresh-only", sink.Url("/fresh-only"), RelayScenario.Secret, filter: [("Dealers", [a200.DealerUuid])])
            .Add("coalesced", sink.Url("/coalesced"), RelayScenario.Secret, filter: [("Dealers", ["another-dealer"])])
            .Settings
            .Append(Option(0, "DropStale", "true"))
            .Append(Option(1, "CoalesceWindow", "00:00:00.500"))
            .Append(new("Relay:Retention:Delivered", "01:00:00"))
            .Append(new("Relay:Retention:Interval", "1.00:00:00")));

        await _scenario.Sender.SendAsync(a200);
        await Eventually.ReturnsAsync(() => StatusOf(a200), s => s == "delivered");
        await _scenario.Sender.SendAsync(a100);
        await _scenario.Sender.SendAsync(x200 with { DealerUuid = "another-dealer", Routing = x200.Routing with { DealerUuid = "another-dealer" } });
        await _scenario.Sender.SendAsync(x100 with { DealerUuid = "another-dealer", Routing = x100.Routing with { DealerUuid = "another-dealer" } });
        await Eventually.ReturnsAsync(() => _scenario.ScalarAsync<string>("select string_agg(status, ',' order by status) from deliveries"),
            s => s == "delivered,delivered,skipped,superseded", because: "each delivery is settled");

        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var retention = ActivatorUtilities.CreateInstance<RetentionService>(relay.Services, (TimeProvider)clock);
        clock.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal((0, 0), await retention.PurgeAsync(CancellationToken.None));
        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal((4, 4), await retention.PurgeAsync(CancellationToken.None));
    }

    /// <summary>A fresh customer event about <paramref name="entity"/> (none when null) with myKaarma's <paramref name="timestamp"/>.</summary>
    private static ReceivedEvent About(string? entity, long timestamp)
    {
        var e = Events.Fresh(SampleEvents.Customer);
        return e with { Timestamp = timestamp, Routing = e.Routing with { EntityId = entity } };
    }

    private static KeyValuePair<string, string?> Option(int subscriber, string key, string value) =>
        new($"Relay:Subscribers:{subscriber}:{key}", value);

    private static bool Is(SinkRequest request, ReceivedEvent e) => request.Header("x-mykaarma-event-id") == e.Id;

    private List<SinkRequest> Requests(ReceivedEvent e) => [.. _scenario.Sink.Requests.Where(r => Is(r, e))];

    private bool Took(ReceivedEvent e) => _scenario.Sink.Accepted.Any(r => Is(r, e));

    private DateTimeOffset Taken(ReceivedEvent e) => _scenario.Sink.Accepted.Single(r => Is(r, e)).At;

    /// <summary>The accepted requests (to one path, or all) in the order they arrived, with their event ids.</summary>
    private List<(string EventId, DateTimeOffset At)> Accepted(string? path = null) =>
        [.. _scenario.Sink.Accepted.Where(r => path is null || r.Path == path).OrderBy(r => r.At)
            .Select(r => (r.Header("x-mykaarma-event-id"), r.At))];

    private Task<string> StatusOf(ReceivedEvent e) => FieldOf<string>(e, "status");

    private Task<int> AttemptsOf(ReceivedEvent e) => FieldOf<int>(e, "attempts");

    /// <summary>An expression over the event's only delivery (<c>d</c>); the tests have one subscriber when they use this.</summary>
    private async Task<T> FieldOf<T>(ReceivedEvent e, string expression)
    {
        await using var connection = new NpgsqlConnection(_scenario.Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select {expression} from deliveries d join events e on e.id = d.event_pk where e.event_id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = e.Id });
        return await command.ExecuteScalarAsync() is T value ? value : default!;
    }

    /// <summary>What the Relay counted on <c>webhooks.relay.deliveries.unsent</c>, one status per delivery.</summary>
    private sealed class UnsentCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(string Subscriber, string Status)> _counted = new();

        public UnsentCounter(RelayHost relay)
        {
            var meters = relay.Services.GetRequiredService<IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "webhooks.relay.deliveries.unsent" && ReferenceEquals(instrument.Meter.Scope, meters))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                string? subscriber = null, status = null;
                foreach (var tag in tags)
                {
                    subscriber = tag.Key == "subscriber" ? tag.Value as string : subscriber;
                    status = tag.Key == "status" ? tag.Value as string : status;
                }

                for (var i = 0; i < value; i++)
                {
                    _counted.Enqueue((subscriber!, status!));
                }
            });
            _listener.Start();
        }

        public List<string> Statuses(string subscriber) => [.. _counted.Where(c => c.Subscriber == subscriber).Select(c => c.Status)];

        public void Dispose() => _listener.Dispose();
    }
}
