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

    [Fact]
    public async Task A_Relay_started_while_the_database_is_unreachable_waits_for_it_then_delivers()
    {
        var direct = new NpgsqlConnectionStringBuilder(_scenario.Database);
        var proxy = _scenario.Own(TcpProxy.Start(direct.Host!, direct.Port));
        proxy.Cut();
        var proxied = new NpgsqlConnectionStringBuilder(_scenario.Database) { Host = "127.0.0.1", Port = proxy.Port };
        var starting = Task.Run(() => _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("a", _scenario.Sink.Url("/a"), RelayScenario.Secret)
            .Settings
            .Append(new("ConnectionStrings:relaydb", proxied.ConnectionString))));

        await Eventually.ReturnsAsync(() => Task.FromResult(proxy.RefusedConnections), n => n >= 3,
            because: "the Relay keeps trying the database instead of giving up at start");
        Assert.False(starting.IsCompleted, "the Relay must not be ready without its database");

        proxy.Restore();
        await starting;
        var e = Events.Fresh(SampleEvents.Customer);
        await _scenario.Sender.SendAsync(e);
        await Eventually.ReturnsAsync(() => Task.FromResult(_scenario.Sink.RequestsTo("/a").Count), n => n == 1,
            because: "the Relay delivers once the database is reachable");
    }

    [Theory]
    [InlineData("53300", true)]
    [InlineData("57P03", true)]
    [InlineData("3D000", true)]
    [InlineData("28P01", false)]
    [InlineData("42P01", false)]
    public void Start_up_waits_out_only_failures_that_time_can_cure(string sqlState, bool transient)
    {
        var refused = new PostgresException("refused", "FATAL", "FATAL", sqlState);
        Assert.Equal(transient, Outbox.RelayDatabaseStartup.IsTransient(refused));
        Assert.Equal(transient, Outbox.RelayDatabaseStartup.IsTransient(new InvalidOperationException("Applying migration failed.", refused)));
    }
}
