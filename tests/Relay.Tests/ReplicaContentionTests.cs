using System.Collections.Concurrent;
using System.Net;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>Two Relays on one outbox, racing for the same retries: each attempt is made once, by one of them.</summary>
[Collection(ServersCollection.Name)]
public sealed class ReplicaContentionTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private const int EventCount = 30;
    private const int FailuresPerDelivery = 2;
    private const int PerReplicaConcurrency = 4;
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task Retries_raced_for_by_two_relays_are_each_attempted_once_and_never_concurrently()
    {
        var sink = _scenario.Sink;
        var seen = new ConcurrentDictionary<string, int>();
        sink.Delay = TimeSpan.FromMilliseconds(60);
        sink.Answer = request => seen.AddOrUpdate(request.Header("webhook-id"), 1, (_, n) => n + 1) <= FailuresPerDelivery
            ? (HttpStatusCode.InternalServerError, null)
            : (HttpStatusCode.OK, null);
        var subscribers = new SubscriberConfig()
            .Add("shared", sink.Url("/shared"), RelayScenario.Secret, maxAttempts: 10, baseDelay: "00:00:00.100",
                maxDelay: "00:00:00.300", maxConcurrency: PerReplicaConcurrency)
            .Settings
            .Append(new("Relay:Delivery:PollInterval", "00:00:00.100"));
        await _scenario.StartRelayAsync(subscribers);
        await _scenario.StartRelayAsync(subscribers);

        for (var i = 0; i < EventCount; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        await Eventually.ReturnsAsync(() => _scenario.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"),
            n => n == EventCount, TimeSpan.FromSeconds(30), because: "every delivery ends delivered");

        // Both replicas were sending at once: one alone never has more than its limit in flight.
        Assert.True(sink.MaxInFlight > PerReplicaConcurrency, $"at most {sink.MaxInFlight} requests in flight");
        Assert.Equal(0, sink.SameIdOverlaps);

        var attempts = await _scenario.RowsAsync<Guid, int[]>(
            "select d.id, array_agg(a.attempt order by a.attempt) from deliveries d join delivery_attempts a on a.delivery_id = d.id group by d.id");
        Assert.Equal(EventCount, attempts.Count);
        var expected = Enumerable.Range(1, FailuresPerDelivery + 1).ToArray();
        foreach (var (id, numbers) in attempts)
        {
            Assert.Equal(expected, numbers);
            var requests = sink.RequestsTo("/shared").Where(r => r.Header("webhook-id") == id.ToString()).ToList();
            Assert.Equal(expected.Length, requests.Count);
            Assert.Single(sink.Accepted, r => r.Header("webhook-id") == id.ToString());
        }

        Assert.Equal((long)EventCount * expected.Length,
            await _scenario.ScalarAsync<long>("select coalesce(sum(attempts), 0) from deliveries"));
    }
}
