using System.Diagnostics;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Receiver.Ingest;
using MassTransit.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

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
/// Publishes one typed MassTransit message per accepted event and reports whether the broker confirmed it in time;
/// the endpoint answers 2xx only for <see cref="PublishOutcome.Confirmed"/>.
/// </summary>
/// <remarks>
/// The message is written in MassTransit's envelope and read by the Relay's MassTransit consumers as its type, but
/// published on the Receiver's own confirm channel (<see cref="BrokerConnection"/>) rather than through a MassTransit
/// bus: measured with bench/receiver.sh, the bus's publish pipeline cost the Receiver about 40 µs of CPU per event, a
/// third of all it spends, and its envelope about 600 bytes more for the broker to store.
/// </remarks>
public sealed partial class EventPublisher(
    BrokerConnection broker,
    MessageRoutes routes,
    IOptions<MessagingOptions> options,
    ReceiverMetrics metrics,
    TimeProvider time,
    ILogger<EventPublisher> logger)
{
    /// <summary>Spans of publishes; the Relay's consume spans continue their trace.</summary>
    public static readonly ActivitySource ActivitySource = new(ReceiverMetrics.MeterName);

    public async Task<PublishOutcome> PublishAsync(ReceivedEvent received, CancellationToken requestAborted)
    {
        using var timeout = new CancellationTokenSource(options.Value.PublishTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, requestAborted);
        var route = routes.For(received.Type);
        var messageId = EventIdentity.MessageId(received.Type, received.Id);
        using var activity = StartActivity(route, messageId);
        var started = time.GetTimestamp();
        PublishOutcome outcome;
        try
        {
            var body = MessageEnvelope.Write(messageId, route, received, time.GetUtcNow());
            await broker.PublishAsync(route.Exchange, Properties(messageId, activity), body, linked.Token);
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
        catch (BrokerUnavailableException ex)
        {
            outcome = PublishOutcome.Failed;
            LogUnavailable(received.Type, received.Id, ex.Message);
        }
        catch (PublishException ex) when (ex.IsReturn)
        {
            outcome = PublishOutcome.Failed;
            LogUnroutable(received.Type, received.Id, route.Exchange, options.Value.EventsQueue);
        }
        catch (Exception ex)
        {
            outcome = PublishOutcome.Failed;
            LogFailed(ex, received.Type, received.Id);
        }

        if (outcome != PublishOutcome.Confirmed)
        {
            activity?.SetStatus(ActivityStatusCode.Error, outcome.ToString());
        }

        metrics.PublishDuration(time.GetElapsedTime(started), outcome.ToString().ToLowerInvariant());
        return outcome;
    }

    private static Activity? StartActivity(MessageRoute route, Guid messageId)
    {
        var activity = ActivitySource.StartActivity($"{route.Exchange} send", ActivityKind.Producer);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "rabbitmq");
            activity.SetTag("messaging.operation.type", "send");
            activity.SetTag("messaging.destination.name", route.Exchange);
            activity.SetTag("messaging.message.id", messageId.ToString());
        }

        return activity;
    }

    private static BasicProperties Properties(Guid messageId, Activity? activity)
    {
        var properties = new BasicProperties
        {
            MessageId = messageId.ToString(),
            ContentType = MessageEnvelope.ContentType,
            DeliveryMode = DeliveryModes.Persistent,
        };

        // MassTransit starts its consume span as a child of the span named in this header.
        if ((activity ?? Activity.Current)?.Id is { } parent)
        {
            properties.Headers = new Dictionary<string, object?> { [DiagnosticHeaders.ActivityId] = parent };
        }

        return properties;
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The broker did not confirm {EventType} event {EventId} within {TimeoutMs} ms; answering 503")]
    private partial void LogTimedOut(string eventType, string eventId, double timeoutMs);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Could not publish {EventType} event {EventId}: {Reason} Answering 503")]
    private partial void LogUnavailable(string eventType, string eventId, string reason);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "The broker routed {EventType} event {EventId} from exchange {Exchange} to no queue (is queue {Queue} gone?); answering 503 and declaring the topology again")]
    private partial void LogUnroutable(string eventType, string eventId, string exchange, string queue);

    [LoggerMessage(Level = LogLevel.Error, Message = "Publishing {EventType} event {EventId} failed; answering 503")]
    private partial void LogFailed(Exception exception, string eventType, string eventId);
}
