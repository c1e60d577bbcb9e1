using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>Consumed events are stored in groups, one commit each: the guarantees of a single event hold for every member.</summary>
[Collection(ServersCollection.Name)]
public sealed class EventGroupTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task A_group_stores_each_event_once_even_when_it_names_one_twice_or_one_already_stored()
    {
        var relay = await StartRelay();
        var outbox = relay.Services.GetRequiredService<OutboxStore>();
        var subscribers = await SubscriberIds(relay);
        var (a, b, c) = (Events.Fresh(SampleEvents.Customer), Events.Fresh(SampleEvents.Appointment), Events.Fresh(SampleEvents.Customer));

        var first = await outbox.StoreAsync([Store(a, subscribers), Store(b, subscribers[..1]), Store(a, subscribers)], CancellationToken.None);
        Assert.Equal([2, 1, null], first);

        var second = await outbox.StoreAsync([Store(b, subscribers), Store(c, subscribers), Store(c, subscribers[..1])], CancellationToken.None);
        Assert.Equal([null, 2, null], second);

        Assert.Equal(3L, await relay.ScalarAsync<long>("select count(*) from events"));
        Assert.Equal(5L, await relay.ScalarAsync<long>("select count(*) from deliveries"));
        Assert.Equal(1L, await relay.ScalarAsync<long>("select count(*) from deliveries d join events e on e.id = d.event_pk where e.event_id = $1", b.Id));
    }

    [Fact]
    public async Task A_group_the_database_refuses_stores_nothing_and_the_writer_stores_its_good_events_alone()
    {
        var relay = await StartRelay();
        var outbox = relay.Services.GetRequiredService<OutboxStore>();
        var subscribers = await SubscriberIds(relay);
        var good = Events.Fresh(SampleEvents.Customer);
        // PostgreSQL text cannot hold a NUL character: the statement fails on the server, after the good event's rows.
        var bad = Events.Fresh(SampleEvents.Customer) with { Id = "bad\0id" };

        await Assert.ThrowsAsync<PostgresException>(() => outbox.StoreAsync([Store(good, subscribers), Store(bad, subscribers)], CancellationToken.None));
        Assert.Equal(0L, await relay.ScalarAsync<long>("select count(*) from events"));
        Assert.Equal(0L, await relay.ScalarAsync<long>("select count(*) from deliveries"));

        // The consumer's writer: the failing event fails its own caller only, so its message alone is retried.
        await using var writer = new EventWriter(outbox, maxGroup: 8);
        var stored = writer.StoreAsync(Store(good, subscribers), CancellationToken.None);
        var refused = writer.StoreAsync(Store(bad, subscribers), CancellationToken.None);
        Assert.Equal(2, await stored);
        await Assert.ThrowsAsync<PostgresException>(() => refused);
        Assert.Equal(1L, await relay.ScalarAsync<long>("select count(*) from events"));
        Assert.Equal(2L, await relay.ScalarAsync<long>("select count(*) from deliveries"));
    }

    [Fact]
    public async Task Events_consumed_together_with_their_duplicates_reach_each_subscriber_once()
    {
        var relay = await StartRelay();
        var events = Enumerable.Range(0, 100)
            .Select(i => Events.Fresh(i % 2 == 0 ? SampleEvents.Customer : SampleEvents.Appointment))
            .ToList();

        // Every event published twice back to back, so most duplicates are consumed at the same time as their original.
        await Task.WhenAll(events.SelectMany(e => new[] { _scenario.Sender.SendAsync(e), _scenario.Sender.SendAsync(e) }));

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"),
            n => n == 2 * events.Count, TimeSpan.FromSeconds(40), because: "every event is delivered to both subscribers");
        await Eventually.ReturnsAsync(() => rabbit.MessageCountAsync(_scenario.Queue), n => n == 0,
            because: "the duplicates were consumed too");
        Assert.Equal((long)events.Count, await relay.ScalarAsync<long>("select count(*) from events"));
        Assert.Equal(0u, await _scenario.FaultedMessagesAsync());
        foreach (var path in new[] { "/a", "/b" })
        {
            var requests = _scenario.Sink.RequestsTo(path);
            Assert.Equal(events.Select(e => e.Id).Order(), requests.Select(r => r.Header("x-mykaarma-event-id")).Order());
        }
    }

    private Task<RelayHost> StartRelay() => _scenario.StartRelayAsync(new SubscriberConfig()
        .Add("a", _scenario.Sink.Url("/a"), RelayScenario.Secret)
        .Add("b", _scenario.Sink.Url("/b"), RelayScenario.Secret)
        .Settings);

    private static async Task<Guid[]> SubscriberIds(RelayHost relay)
    {
        await using var connection = new NpgsqlConnection(relay.Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select id from subscribers order by name", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new List<Guid>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetGuid(0));
        }

        return [.. ids];
    }

    private static EventToStore Store(ReceivedEvent e, IReadOnlyList<Guid> subscribers) => new(e, subscribers, null);
}
