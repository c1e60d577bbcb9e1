using Aspire.Webhooks.TestSupport;
using Npgsql;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>PostgreSQL unreachable mid-flow: events wait in the broker and are delivered once it is back.</summary>
[Collection(ServersCollection.Name)]
public sealed class DatabaseOutageTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task Events_published_while_the_database_is_cut_off_are_delivered_once_each_after_it_returns()
    {
        var sink = _scenario.Sink;
        var direct = new NpgsqlConnectionStringBuilder(_scenario.Database);
        var proxy = _scenario.Own(TcpProxy.Start(direct.Host!, direct.Port));
        // The Relay reaches PostgreSQL only through the proxy, with its ordinary pooling: recovering from dead pooled
        // connections is part of what is tested, so nothing here clears the Relay's pool for it.
        var proxied = new NpgsqlConnectionStringBuilder(_scenario.Database) { Host = "127.0.0.1", Port = proxy.Port };
        await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("a", sink.Url("/a"), RelayScenario.Secret)
            .Add("b", sink.Url("/b"), RelayScenario.Secret)
            .Settings
            .Append(new("ConnectionStrings:relaydb", proxied.ConnectionString)));

        var before = Enumerable.Range(0, 3).Select(_ => Events.Fresh(SampleEvents.Customer)).ToList();
        foreach (var e in before)
        {
            await _scenario.Sender.SendAsync(e);
        }

        await Eventually.ReturnsAsync(() => _scenario.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"),
            n => n == 2 * before.Count, because: "the events before the outage are delivered and recorded");

        proxy.Cut();
        var during = Enumerable.Range(0, 10).Select(_ => Events.Fresh(SampleEvents.Appointment)).ToList();
        foreach (var e in during)
        {
            await _scenario.Sender.SendAsync(e);
        }

        // The outage lasts until the Relay has taken every message off the queue and has then kept trying against
        // the cut link for a while: a consumer that gave up would have moved the messages to the error queue by then.
        await Eventually.ReturnsAsync(() => rabbit.MessageCountAsync(_scenario.Queue), n => n == 0,
            because: "the Relay received the events");
        var refusedBefore = proxy.RefusedConnections;
        await Eventually.ReturnsAsync(() => Task.FromResult(proxy.RefusedConnections), n => n >= refusedBefore + 10,
            because: "the Relay retries against the unreachable database");
        Assert.Equal(0u, await _scenario.FaultedMessagesAsync());
        Assert.Equal(2 * before.Count, sink.Requests.Count);

        proxy.Restore();

        var all = before.Concat(during).ToList();
        await Eventually.ReturnsAsync(() => _scenario.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"),
            n => n == 2 * all.Count, TimeSpan.FromSeconds(40), because: "every event is delivered after the database returns");
        Assert.Equal((long)all.Count, await _scenario.ScalarAsync<long>("select count(*) from events"));
        Assert.Equal(0u, await _scenario.FaultedMessagesAsync());

        // Exactly once per subscriber: no request was in flight when the link was cut, so nothing had a reason to be
        // sent twice (a request answered during an outage longer than the claim lease could be, by design).
        foreach (var path in new[] { "/a", "/b" })
        {
            var requests = sink.RequestsTo(path);
            Assert.Equal(all.Count, requests.Count);
            Assert.Equal(all.Count, requests.Select(r => r.Header("webhook-id")).Distinct().Count());
            Assert.Equal(all.Select(e => e.Id).Order(), requests.Select(r => r.Header("x-mykaarma-event-id")).Order());
        }
    }
}
