using System.Net;
using Aspire.Webhooks.Relay.Management;
using Aspire.Webhooks.Relay.Subscribers;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Webhooks.Relay.Tests.Management;

/// <summary>Per-subscriber statistics agree with what the subscribers actually received.</summary>
[Collection(ServersCollection.Name)]
public sealed class StatsApiTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task Stats_count_the_backlog_and_the_last_hours_attempts_as_the_subscribers_saw_them()
    {
        var sink = _scenario.Sink;
        // The first request to each path fails; every later one succeeds.
        sink.Respond = (_, n) => n == 1 ? (HttpStatusCode.InternalServerError, null) : (HttpStatusCode.OK, null);
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var busy = await relay.CreateSubscriberAsync(ManagementApi.Definition("busy", sink.Url("/busy"), eventTypes: ["customers"]));
        var idle = await relay.CreateSubscriberAsync(ManagementApi.Definition("idle", sink.Url("/idle"), eventTypes: ["appointments"]));
        using var client = relay.Client();
        await client.PostAsync($"/api/subscribers/{idle.Id}/pause", null);
        await Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetRequiredService<Aspire.Webhooks.Relay.Subscribers.SubscriberCache>()
            .Current.Single(s => s.Id == idle.Id).State), s => s == Aspire.Webhooks.Relay.Subscribers.SubscriberState.Paused);

        for (var i = 0; i < 3; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Appointment));
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Appointment));
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>(
            "select count(*) from deliveries where subscriber_id = $1 and status = 'delivered'", busy.Id), n => n == 3);
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>(
            "select count(*) from deliveries where subscriber_id = $1", idle.Id), n => n == 2);

        var all = await (await client.GetAsync("/api/stats")).ReadAsync<SubscriberStats[]>(HttpStatusCode.OK);
        Assert.Equal(["busy", "idle"], all.Select(s => s.Name));
        var stats = await (await client.GetAsync($"/api/subscribers/{busy.Id}/stats")).ReadAsync<SubscriberStats>(HttpStatusCode.OK);

        var requests = sink.RequestsTo("/busy");
        Assert.Equal(4, requests.Count);
        Assert.Equal(sink.Accepted.Count(r => r.Path == "/busy"), stats.DeliveredLastHour);
        Assert.Equal(3, stats.DeliveredLastHour);
        Assert.Equal(1, stats.FailedLastHour);
        Assert.Equal(0, stats.Pending);
        Assert.Null(stats.OldestPendingAgeSeconds);
        Assert.Equal("active", stats.State);
        var durations = await relay.ScalarAsync<double[]>("""
            select array_agg(t.duration_ms order by t.duration_ms) from delivery_attempts t join deliveries d on d.id = t.delivery_id
            where d.subscriber_id = $1
            """, busy.Id);
        Assert.Equal(Percentile(durations, 0.5), stats.P50DurationMs!.Value, 6);
        Assert.Equal(Percentile(durations, 0.95), stats.P95DurationMs!.Value, 6);
        Assert.True(stats.P95DurationMs >= stats.P50DurationMs);

        var held = Assert.Single(all, s => s.Name == "idle");
        Assert.Equal(("paused", "paused through the management API"), (held.State, held.StateReason));
        Assert.Equal(2, held.Pending);
        Assert.InRange(held.OldestPendingAgeSeconds!.Value, 0, 60);
        Assert.Equal((0, 0), (held.DeliveredLastHour, held.FailedLastHour));
        Assert.Null(held.P50DurationMs);
        Assert.Equal(busy.Id, Assert.Single(all, s => s.Name == "busy").SubscriberId);
    }

    [Fact]
    public async Task The_oldest_pending_age_is_that_of_the_oldest_waiting_delivery_however_new_the_others_are()
    {
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var held = await relay.CreateSubscriberAsync(ManagementApi.Definition("held", _scenario.Sink.Url("/held")));
        using var client = relay.Client();
        await client.PostAsync($"/api/subscribers/{held.Id}/pause", null);
        await Eventually.ReturnsAsync(() => Task.FromResult(relay.Services.GetRequiredService<SubscriberCache>()
            .Current.Single(s => s.Id == held.Id).State), s => s == SubscriberState.Paused);
        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where subscriber_id = $1", held.Id),
            n => n == 1);
        await relay.ScalarAsync<int>(
            "update deliveries set created_at = created_at - interval '10 minutes' where subscriber_id = $1 returning 1", held.Id);

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where subscriber_id = $1", held.Id),
            n => n == 2);
        var stats = await (await client.GetAsync($"/api/subscribers/{held.Id}/stats")).ReadAsync<SubscriberStats>(HttpStatusCode.OK);

        Assert.Equal(2, stats.Pending);
        Assert.InRange(stats.OldestPendingAgeSeconds!.Value, 600 - 10, 600 + 10);
        Assert.Empty(_scenario.Sink.Requests);
    }

    [Fact]
    public async Task Attempts_started_over_an_hour_ago_are_left_out_of_the_counts_and_the_percentiles()
    {
        var sink = _scenario.Sink;
        // One failure among the first four requests and one among the next three; each is retried and then taken.
        sink.Respond = (_, n) => n is 1 or 5 ? (HttpStatusCode.InternalServerError, null) : (HttpStatusCode.OK, null);
        var relay = await _scenario.StartRelayAsync(ManagementApi.Keys);
        var subscriber = await relay.CreateSubscriberAsync(ManagementApi.Definition("window", sink.Url("/window")));
        for (var i = 0; i < 3; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        await Eventually.ReturnsAsync(() => Attempts(), n => n == 4);
        // Two hours back, and slower than any request can take (RequestTimeout is 2 s): counted, they would be most
        // of the attempts and move both percentiles to 10 s.
        var old = await relay.ScalarAsync<long[]>("""
            with old as (
                update delivery_attempts t set started_at = t.started_at - interval '2 hours', duration_ms = 10000
                from deliveries d where d.id = t.delivery_id and d.subscriber_id = $1
                returning t.id
            )
            select array_agg(id) from old
            """, subscriber.Id);
        Assert.Equal(4, old.Length);

        for (var i = 0; i < 2; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        await Eventually.ReturnsAsync(() => Attempts(), n => n == 7);
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>(
            "select count(*) from deliveries where subscriber_id = $1 and status = 'delivered'", subscriber.Id), n => n == 5);
        using var client = relay.Client();
        var stats = await (await client.GetAsync($"/api/subscribers/{subscriber.Id}/stats")).ReadAsync<SubscriberStats>(HttpStatusCode.OK);

        Assert.Equal((2L, 1L), (stats.DeliveredLastHour, stats.FailedLastHour));
        var recent = await relay.ScalarAsync<double[]>("""
            select array_agg(t.duration_ms order by t.duration_ms) from delivery_attempts t join deliveries d on d.id = t.delivery_id
            where d.subscriber_id = $1 and t.id <> all($2)
            """, subscriber.Id, old);
        Assert.Equal(3, recent.Length);
        Assert.Equal(Percentile(recent, 0.5), stats.P50DurationMs!.Value, 6);
        Assert.Equal(Percentile(recent, 0.95), stats.P95DurationMs!.Value, 6);
        Assert.InRange(stats.P95DurationMs.Value, 0, 5000);

        Task<long> Attempts() => relay.ScalarAsync<long>(
            "select count(*) from delivery_attempts t join deliveries d on d.id = t.delivery_id where d.subscriber_id = $1", subscriber.Id);
    }

    /// <summary>Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont computes it.</summary>
    private static double Percentile(double[] sorted, double fraction)
    {
        var position = fraction * (sorted.Length - 1);
        var lower = (int)Math.Floor(position);
        var upper = (int)Math.Ceiling(position);
        return sorted[lower] + ((sorted[upper] - sorted[lower]) * (position - lower));
    }
}
