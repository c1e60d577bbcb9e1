using System.Diagnostics.Metrics;
using System.Net;
using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Monitoring;
using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>The outbox gauges report what is really waiting and what was dead-lettered.</summary>
[Collection(ServersCollection.Name)]
public sealed class OutboxMonitorTests(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    private readonly string _queue = RabbitMqServer.UniqueQueueName("relay-monitor");
    private string _database = string.Empty;
    private SubscriberSink _sink = null!;
    private EventSender _sender = null!;
    private RelayHost? _relay;

    public async Task InitializeAsync()
    {
        _database = await postgres.CreateDatabaseAsync("relay_monitor");
        _sink = await SubscriberSink.StartAsync();
        _sender = await EventSender.StartAsync(rabbit.ConnectionString, _queue + ".");
    }

    public async Task DisposeAsync()
    {
        if (_relay is not null)
        {
            await _relay.DisposeAsync();
        }

        await _sender.DisposeAsync();
        await _sink.DisposeAsync();
        await rabbit.DeleteQueueAsync(_queue);
        await PostgresServer.DropDatabaseAsync(_database);
    }

    [Fact]
    public async Task Pending_and_dead_lettered_deliveries_are_measured_and_reported_as_gauges()
    {
        _sink.Respond = (_, _) => (HttpStatusCode.InternalServerError, null);
        _relay = await new RelayHost(rabbit.ConnectionString, _database, _queue, new SubscriberConfig()
                .Add("gives-up", _sink.Url("/gives-up"), maxAttempts: 1)
                .Add("waits", _sink.Url("/waits"), baseDelay: "01:00:00")
                .Settings)
            .StartAsync();

        await _sender.SendAsync(Events.Fresh(SampleEvents.Customer));
        await _sender.SendAsync(Events.Fresh(SampleEvents.Appointment));
        await Eventually.ReturnsAsync(() => Task.FromResult(_sink.Requests.Count), n => n >= 4, because: "one attempt each");

        var monitor = _relay.Services.GetServices<IHostedService>().OfType<OutboxMonitor>().Single();
        var snapshot = await Eventually.ReturnsAsync(() => monitor.MeasureAsync(CancellationToken.None),
            s => s.DeadLettered == 2, because: "both deliveries of the subscriber with one attempt are dead");
        Assert.Equal(2, snapshot.Pending);
        Assert.NotNull(snapshot.OldestPendingAge);
        Assert.True(snapshot.OldestPendingAge > TimeSpan.Zero);

        var metrics = _relay.Services.GetRequiredService<RelayMetrics>();
        metrics.Outbox = snapshot;
        var reported = ReadGauges();
        Assert.Equal(2L, reported["webhooks.relay.outbox.pending"]);
        Assert.Equal(2L, reported["webhooks.relay.outbox.dead_lettered"]);
        Assert.Equal(snapshot.OldestPendingAge!.Value.TotalSeconds, reported["webhooks.relay.outbox.oldest_pending_age"]);
    }

    private Dictionary<string, double> ReadGauges()
    {
        var values = new Dictionary<string, double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == RelayMetrics.MeterName && instrument.Name.StartsWith("webhooks.relay.outbox.", StringComparison.Ordinal)
                && ReferenceEquals(instrument.Meter.Scope, _relay!.Services.GetRequiredService<IMeterFactory>()))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => values[instrument.Name] = value);
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => values[instrument.Name] = value);
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }
}
