using System.Net;
using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>The purge against real PostgreSQL, with the clock moved forward by a fake time provider.</summary>
[Collection(ServersCollection.Name)]
public sealed class RetentionTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task Delivered_is_purged_after_its_age_dead_letters_after_theirs_and_pending_never()
    {
        var sink = _scenario.Sink;
        sink.Answer = request => request.Path switch
        {
            "/bad" => (HttpStatusCode.BadRequest, null),
            "/down" => (HttpStatusCode.InternalServerError, null),
            _ => (HttpStatusCode.OK, null),
        };
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("ok", sink.Url("/ok"), RelayScenario.Secret, filter: [("EventTypes", ["customers", "appointments"])])
            .Add("bad", sink.Url("/bad"), RelayScenario.Secret, filter: [("EventTypes", ["customers"])])
            .Add("down", sink.Url("/down"), RelayScenario.Secret, baseDelay: "01:00:00", maxDelay: "02:00:00",
                filter: [("EventTypes", ["customers"])])
            .Settings
            .Append(new("Relay:Retention:Delivered", "01:00:00"))
            .Append(new("Relay:Retention:DeadLettered", "02:00:00"))
            .Append(new("Relay:Retention:Interval", "1.00:00:00")));

        // A customer event for all three subscribers, and an appointment event only "ok" takes.
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Appointment));
        await Eventually.ReturnsAsync(Remaining, r => r == "bad:dead,down:pending,ok:delivered,ok:delivered",
            because: "each delivery reached its state");
        Assert.Equal(1L, await _scenario.ScalarAsync<long>("select count(*) from delivery_attempts a join deliveries d on d.id = a.delivery_id join subscribers s on s.id = d.subscriber_id where s.name = 'down'"));

        // The purge of this Relay (its database, its bound Relay:Retention), run on a clock the test moves.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var retention = ActivatorUtilities.CreateInstance<RetentionService>(relay.Services, (TimeProvider)clock);

        clock.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal((0, 0), await retention.PurgeAsync(CancellationToken.None));

        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal((2, 1), await retention.PurgeAsync(CancellationToken.None));
        Assert.Equal("bad:dead,down:pending", await Remaining());
        Assert.Equal("customers", await _scenario.ScalarAsync<string>("select string_agg(event_type, ',') from events"));

        clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal((1, 0), await retention.PurgeAsync(CancellationToken.None));
        Assert.Equal("down:pending", await Remaining());

        clock.Advance(TimeSpan.FromDays(3650));
        Assert.Equal((0, 0), await retention.PurgeAsync(CancellationToken.None));
        Assert.Equal("down:pending", await Remaining());
        Assert.Equal(1L, await _scenario.ScalarAsync<long>("select count(*) from events"));
        Assert.Equal(1L, await _scenario.ScalarAsync<long>("select count(*) from delivery_attempts"));
    }

    private Task<string> Remaining() => _scenario.ScalarAsync<string>("""
        select coalesce(string_agg(s.name || ':' || d.status, ',' order by s.name, d.status), '')
        from deliveries d join subscribers s on s.id = d.subscriber_id
        """);
}
