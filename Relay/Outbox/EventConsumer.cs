using System.Diagnostics;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Subscribers;
using MassTransit;

namespace Aspire.Webhooks.Relay.Outbox;

/// <summary>
/// Turns each event message into stored deliveries. The broker message is acknowledged only when this returns,
/// that is after the transaction that stored it committed (shared with the events consumed meanwhile, see
/// <see cref="EventWriter"/>); if PostgreSQL is down the consume fails and the message stays queued.
/// </summary>
public sealed partial class EventConsumer(
    EventWriter writer,
    SubscriberCache subscribers,
    RelayMetrics metrics,
    ILogger<EventConsumer> logger) :
    IConsumer<CustomerEventReceived>,
    IConsumer<AppointmentEventReceived>,
    IConsumer<ServiceOrderEventReceived>,
    IConsumer<MpiEventReceived>,
    IConsumer<UnknownEventReceived>
{
    public Task Consume(ConsumeContext<CustomerEventReceived> context) => StoreAsync(context.Message.Event, context.CancellationToken);

    public Task Consume(ConsumeContext<AppointmentEventReceived> context) => StoreAsync(context.Message.Event, context.CancellationToken);

    public Task Consume(ConsumeContext<ServiceOrderEventReceived> context) => StoreAsync(context.Message.Event, context.CancellationToken);

    public Task Consume(ConsumeContext<MpiEventReceived> context) => StoreAsync(context.Message.Event, context.CancellationToken);

    public Task Consume(ConsumeContext<UnknownEventReceived> context) => StoreAsync(context.Message.Event, context.CancellationToken);

    private async Task StoreAsync(ReceivedEvent received, CancellationToken cancellationToken)
    {
        // Each delivery carries what its subscriber's stream options need: the entity and its coalescing window.
        var matching = subscribers.Current
            .Where(s => s.Filter.Matches(received.Type, received.Routing))
            .Select(s => DeliveryTarget.For(s, received))
            .ToList();

        // The consume span continues the Receiver's trace; storing it lets each later delivery join that trace.
        var created = await writer.StoreAsync(new EventToStore(received, matching, TraceParent()), cancellationToken);
        if (created is not { } count)
        {
            LogDuplicate(received.Type, received.Id);
            return;
        }

        metrics.DeliveriesCreated(count);
        LogStored(received.Type, received.Id, count);
    }

    /// <summary>
    /// The consume span's W3C context when tracing is on. Without a listener there is no span; a fresh context is
    /// made so every delivery of this event still carries one traceparent that subscribers can correlate on.
    /// </summary>
    private static string TraceParent() =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C } current
            ? current.Id!
            : $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-00";

    [LoggerMessage(Level = LogLevel.Debug, Message = "Stored {EventType} event {EventId} with {Deliveries} deliveries")]
    private partial void LogStored(string eventType, string eventId, int deliveries);

    [LoggerMessage(Level = LogLevel.Information, Message = "{EventType} event {EventId} was already stored; this arrival creates nothing")]
    private partial void LogDuplicate(string eventType, string eventId);
}
