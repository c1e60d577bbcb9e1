using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>Per-subscriber rate and concurrency limits, and a stalled subscriber holding back only itself.</summary>
[Collection(ServersCollection.Name)]
public sealed class RateLimitTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Theory]
    [InlineData(0.5)]
    [InlineData(5)]
    [InlineData(37)]
    [InlineData(1000)]
    public void A_lane_taking_every_token_starts_at_most_rate_plus_burst_in_any_second_and_keeps_the_rate(double perSecond)
    {
        var clock = new FakeTimeProvider();
        var limit = new SubscriberRateLimit(perSecond, clock);
        var starts = new List<TimeSpan>();
        var elapsed = TimeSpan.Zero;
        var step = TimeSpan.FromMilliseconds(7);
        while (elapsed < TimeSpan.FromSeconds(10))
        {
            var available = limit.Available;
            limit.Spend(available);
            starts.AddRange(Enumerable.Repeat(elapsed, available));
            clock.Advance(step);
            elapsed += step;
        }

        Assert.InRange(MostInAnySecond(starts), 1, perSecond + limit.Burst);
        // Not starved either: the bucket refills at the rate.
        Assert.InRange(starts.Count, (perSecond * elapsed.TotalSeconds) - 1, (perSecond * elapsed.TotalSeconds) + limit.Burst);
    }

    [Fact]
    public void An_empty_bucket_says_when_its_next_token_comes()
    {
        var clock = new FakeTimeProvider();
        var limit = new SubscriberRateLimit(4, clock);
        limit.Spend(limit.Available);

        Assert.Equal(0, limit.Available);
        Assert.Equal(TimeSpan.FromMilliseconds(250), limit.TimeUntil(1));
        clock.Advance(TimeSpan.FromMilliseconds(249));
        Assert.Equal(0, limit.Available);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, limit.Available);
    }

    [Fact]
    public async Task A_subscribers_rate_limit_holds_in_every_second()
    {
        const int perSecond = 5;
        const int events = 20;
        var sink = _scenario.Sink;
        await _scenario.StartRelayAsync(new SubscriberConfig().Add("limited", sink.Url("/limited"), RelayScenario.Secret)
            .Settings.Append(new("Relay:Subscribers:0:RateLimitPerSecond", perSecond.ToString(System.Globalization.CultureInfo.InvariantCulture))));

        for (var i = 0; i < events; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        var requests = await Eventually.ReturnsAsync(() => Task.FromResult(sink.RequestsTo("/limited")), r => r.Count >= events,
            because: "every event is delivered, at the limited rate");
        Assert.Equal(events, requests.Select(r => r.Header("webhook-id")).Distinct().Count());
        var bound = perSecond + new SubscriberRateLimit(perSecond, TimeProvider.System).Burst;
        Assert.InRange(MostInAnySecond([.. requests.Select(r => r.At - requests[0].At)]), 1, bound);
    }

    [Fact]
    public async Task A_rate_limit_holds_back_only_the_subscriber_it_belongs_to()
    {
        const int perSecond = 2;
        const int events = 10;
        var sink = _scenario.Sink;
        await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("limited", sink.Url("/limited"), RelayScenario.Secret)
            .Add("unlimited", sink.Url("/unlimited"), RelayScenario.Secret)
            .Settings.Append(new("Relay:Subscribers:0:RateLimitPerSecond", perSecond.ToString(System.Globalization.CultureInfo.InvariantCulture))));

        for (var i = 0; i < events; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        var unlimited = await Eventually.ReturnsAsync(() => Task.FromResult(sink.RequestsTo("/unlimited")), r => r.Count >= events,
            because: "the unlimited subscriber gets every event");
        var limitedMeanwhile = sink.RequestsTo("/limited").Count;

        // At 2/s the limited subscriber needs about 4.5 s for ten events. The unlimited one, given the same events, is
        // done well before that: it waits for neither the limited one's tokens nor its requests.
        var first = sink.Requests.Min(r => r.At);
        Assert.InRange(unlimited[^1].At - first, TimeSpan.Zero, TimeSpan.FromSeconds(2.5));
        Assert.InRange(limitedMeanwhile, 0, events - 1);
        Assert.Equal(events, unlimited.Select(r => r.Header("webhook-id")).Distinct().Count());

        var limited = await Eventually.ReturnsAsync(() => Task.FromResult(sink.RequestsTo("/limited")), r => r.Count >= events,
            because: "the limited subscriber gets every event too, at its rate");
        Assert.Equal(events, limited.Select(r => r.Header("webhook-id")).Distinct().Count());
        var bound = perSecond + new SubscriberRateLimit(perSecond, TimeProvider.System).Burst;
        Assert.InRange(MostInAnySecond([.. limited.Select(r => r.At - limited[0].At)]), 1, bound);
    }

    [Fact]
    public async Task With_a_rate_limit_too_the_concurrency_limit_holds()
    {
        const int events = 12;
        var sink = _scenario.Sink;
        sink.Delay = TimeSpan.FromMilliseconds(150);
        await _scenario.StartRelayAsync(new SubscriberConfig().Add("narrow", sink.Url("/narrow"), RelayScenario.Secret, maxConcurrency: 2)
            .Settings.Append(new("Relay:Subscribers:0:RateLimitPerSecond", "100")));

        for (var i = 0; i < events; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        await Eventually.ReturnsAsync(() => Task.FromResult(sink.Accepted.Count), n => n >= events, because: "every event is delivered");
        Assert.InRange(sink.MaxInFlight, 1, 2);
    }

    [Fact]
    public async Task A_stalled_subscriber_does_not_delay_another()
    {
        const int events = 10;
        var sink = _scenario.Sink;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        sink.Gate = request => request.Path == "/stalled" ? release.Task : Task.CompletedTask;
        await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("stalled", sink.Url("/stalled"), RelayScenario.Secret, maxConcurrency: 2)
            .Add("healthy", sink.Url("/healthy"), RelayScenario.Secret)
            .Settings.Concat([new("Relay:Delivery:RequestTimeout", "00:01:00")]));

        try
        {
            for (var i = 0; i < events; i++)
            {
                await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
            }

            await Eventually.ReturnsAsync(() => Task.FromResult(sink.Accepted.Count(r => r.Path == "/healthy")), n => n == events,
                because: "the healthy subscriber gets every event while the other one hangs");
            Assert.Equal(2, sink.RequestsTo("/stalled").Count);
            Assert.DoesNotContain(sink.Accepted, r => r.Path == "/stalled");
        }
        finally
        {
            release.TrySetResult();
        }

        await Eventually.ReturnsAsync(() => Task.FromResult(sink.Accepted.Count(r => r.Path == "/stalled")), n => n == events,
            because: "once it answers, the stalled subscriber gets its events too");
    }

    /// <summary>The most starts within any one second (a window opening at each start).</summary>
    private static int MostInAnySecond(IReadOnlyList<TimeSpan> starts)
    {
        var sorted = starts.Order().ToList();
        var most = 0;
        for (int first = 0, last = 0; first < sorted.Count; first++)
        {
            while (last < sorted.Count && sorted[last] - sorted[first] < TimeSpan.FromSeconds(1))
            {
                last++;
            }

            most = Math.Max(most, last - first);
        }

        return most;
    }
}
