using System.Diagnostics;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Receiver.Ingest;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver.Messaging;

public enum PublishOutcome
{
    /// <summary>The broker confirmed the message: it is durably stored.</summary>
    Confirmed,

    /// <summary>No confirm within <see cref="MessagingOptions.PublishTimeout"/>.</summary>
    TimedOut,

    /// <summary>The broker refused or could not be reached.</summary>
    Failed,
}

/// <summary>
/// Publishes one typed message per accepted event and reports whether the broker confirmed it in time; the
/// endpoint answers 2xx only for <see cref="PublishOutcome.Confirmed"/>.
/// </summary>
public sealed partial class EventPublisher(
    IBus bus,
    IOptions<MessagingOptions> options,
    ReceiverMetrics metrics,
    TimeProvider time,
    ILogger<EventPublisher> logger)
{
    public async Task<PublishOutcome> PublishAsync(ReceivedEvent received, CancellationToken requestAborted)
    {
        using var timeout = new CancellationTokenSource(options.Value.PublishTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, requestAborted);
        var messageId = EventIdentity.MessageId(received.Type, received.Id);
        var started = time.GetTimestamp();
        PublishOutcome outcome;
        try
        {
            await (received.Type switch
            {
                EventTypes.Customers => Publish(new CustomerEventReceived { Event = received }, messageId, linked.Token),
                EventTypes.Appointments => Publish(new AppointmentEventReceived { Event = received }, messageId, linked.Token),
                EventTypes.ServiceOrders => Publish(new ServiceOrderEventReceived { Event = received }, messageId, linked.Token),
                EventTypes.Mpis => Publish(new MpiEventReceived { Event = received }, messageId, linked.Token),
                _ => Publish(new UnknownEventReceived { Event = received }, messageId, linked.Token),
            });
            outcome = PublishOutcome.Confirmed;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            outcome = PublishOutcome.TimedOut;
            LogTimedOut(received.Type, received.Id, options.Value.PublishTimeout.TotalMilliseconds);
        }
        catch (OperationCanceledException) when (requestAborted.IsCancellationRequested)
        {
            // The caller went away; it will retry, and the Relay de-duplicates if this publish still lands.
            outcome = PublishOutcome.Failed;
        }
        catch (Exception ex)
        {
            outcome = PublishOutcome.Failed;
            LogFailed(ex, received.Type, received.Id);
        }

        metrics.PublishDuration(time.GetElapsedTime(started), outcome.ToString().ToLowerInvariant());
        return outcome;
    }

    private Task Publish<T>(T message, Guid messageId, CancellationToken cancellationToken)
        where T : class =>
        bus.Publish(message, context =>
        {
            context.MessageId = messageId;
            context.Durable = true;
            // An event that no queue would take must fail here rather than vanish after a 202.
            if (context.TryGetPayload<RabbitMqSendContext>(out var rabbit))
            {
                rabbit.Mandatory = true;
            }
        }, cancellationToken);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The broker did not confirm {EventType} event {EventId} within {TimeoutMs} ms; answering 503")]
    private partial void LogTimedOut(string eventType, string eventId, double timeoutMs);

    [LoggerMessage(Level = LogLevel.Error, Message = "Publishing {EventType} event {EventId} failed; answering 503")]
    private partial void LogFailed(Exception exception, string eventType, string eventId);
}
