using System.Diagnostics.Metrics;
using System.Net;
using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Subscribers;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>A subscriber failing without a success for the configured window is disabled; its deliveries wait for it.</summary>
[Collection(ServersCollection.Name)]
public sealed class AutoDisableTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private readonly RelayScenario _scenario = new(rabbit, postgres);

    public Task InitializeAsync() => _scenario.InitializeAsync();

    public Task DisposeAsync() => _scenario.DisposeAsync();

    [Fact]
    public async Task A_subscriber_failing_for_the_window_is_disabled_keeps_its_deliveries_and_enabling_it_resumes_them()
    {
        var sink = _scenario.Sink;
        sink.Respond = (_, _) => (HttpStatusCode.InternalServerError, null);
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("down", sink.Url("/down"), RelayScenario.Secret, maxAttempts: 100, baseDelay: "00:00:00.100", maxDelay: "00:00:00.300")
            .Settings.Append(new("Relay:Delivery:AutoDisableAfter", "00:00:01.500")));
        using var disabled = DisabledCounter(relay);

        for (var i = 0; i < 3; i++)
        {
            await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        }

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select state from subscribers"), s => s == "disabled",
            because: "every attempt fails for longer than the window");
        var reason = await relay.ScalarAsync<string>("select state_reason from subscribers");
        var failingSince = await relay.ScalarAsync<DateTime>("select failing_since from subscribers");
        Assert.Contains($"Every attempt has failed since {new DateTimeOffset(failingSince):u}", reason, StringComparison.Ordinal);
        Assert.Contains("last error: HTTP 500", reason, StringComparison.Ordinal);
        Assert.Equal(3L, await relay.ScalarAsync<long>("select count(*) from deliveries where status = 'pending'"));
        Assert.True(sink.RequestsTo("/down").Count > 3, "retried before being disabled");
        var measurement = Assert.Single(disabled.GetMeasurementSnapshot());
        Assert.Equal("failing", measurement.Tags["reason"]);
        Assert.Equal("down", measurement.Tags["subscriber"]);

        sink.Respond = (_, _) => (HttpStatusCode.OK, null);
        await EnableAsync(relay);

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"), n => n == 3,
            because: "enabling the subscriber resumes its kept deliveries");
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<bool>("select last_success_at is not null and failing_since is null from subscribers"),
            ok => ok, because: "a success is recorded on the subscriber");
        Assert.Equal("active", await relay.ScalarAsync<string>("select state from subscribers"));
    }

    [Fact]
    public async Task A_subscriber_whose_next_retry_is_hours_away_is_still_disabled_when_its_window_ends()
    {
        var sink = _scenario.Sink;
        sink.Respond = (_, _) => (HttpStatusCode.ServiceUnavailable, null);
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("slow-retry", sink.Url("/slow"), RelayScenario.Secret, baseDelay: "02:00:00")
            .Settings.Append(new("Relay:Delivery:AutoDisableAfter", "00:00:01")));

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select state from subscribers"), s => s == "disabled",
            because: "the window ends while the only delivery waits hours for its retry");
        Assert.Single(sink.RequestsTo("/slow"));
        Assert.True(await relay.ScalarAsync<bool>("select next_attempt_at > now() + interval '1 hour' from deliveries"));
        Assert.Contains("last error: HTTP 503", await relay.ScalarAsync<string>("select state_reason from subscribers"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_success_within_the_window_restarts_it()
    {
        var window = TimeSpan.FromSeconds(3);
        var sink = _scenario.Sink;
        var succeeding = Events.Fresh(SampleEvents.Customer);
        sink.Answer = request => request.Header("x-mykaarma-event-id") == succeeding.Id
            ? (HttpStatusCode.OK, null)
            : (HttpStatusCode.InternalServerError, null);
        var relay = await _scenario.StartRelayAsync(new SubscriberConfig()
            .Add("flaky", sink.Url("/flaky"), RelayScenario.Secret, maxAttempts: 100, baseDelay: "00:00:00.100", maxDelay: "00:00:00.300")
            .Settings.Append(new("Relay:Delivery:AutoDisableAfter", window.ToString("c"))));

        await _scenario.Sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        // Half the window into the failing streak, one event goes through.
        await Eventually.ReturnsAsync(() => relay.ScalarAsync<bool>("select coalesce(now() - failing_since > interval '1.5 seconds', false) from subscribers"),
            late => late, because: "the first event keeps failing");
        await _scenario.Sender.SendAsync(succeeding);

        await Eventually.ReturnsAsync(() => relay.ScalarAsync<string>("select state from subscribers"), s => s == "disabled",
            timeout: TimeSpan.FromSeconds(30), because: "the first event keeps failing after the success");
        var lastSuccess = await relay.ScalarAsync<DateTime>("select last_success_at from subscribers");
        var disabledAt = await relay.ScalarAsync<DateTime>("select updated_at from subscribers");
        var failingSince = await relay.ScalarAsync<DateTime>("select failing_since from subscribers");
        Assert.True(failingSince > lastSuccess, "the streak that disabled it began after the success");
        Assert.True(disabledAt - lastSuccess >= window, $"disabled {disabledAt - lastSuccess} after the success, within the window");
        Assert.Equal(1L, await relay.ScalarAsync<long>("select count(*) from deliveries where status = 'delivered'"));
    }

    private static MetricCollector<long> DisabledCounter(RelayHost relay) =>
        new(relay.Services.GetRequiredService<IMeterFactory>(), RelayMetrics.MeterName, "webhooks.relay.subscribers.disabled");

    private static async Task EnableAsync(RelayHost relay)
    {
        var id = await relay.ScalarAsync<Guid>("select id from subscribers");
        await relay.Services.GetRequiredService<SubscriberStore>().SetStateAsync(id, SubscriberState.Active, null, CancellationToken.None);
    }
}
