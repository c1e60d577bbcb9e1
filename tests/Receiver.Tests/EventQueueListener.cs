using System.Collections.Concurrent;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.ServiceDefaults;
using MassTransit;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>What a consumer of the events queue received: the message type, its id and the event.</summary>
public sealed record ConsumedEvent(Type MessageType, Guid? MessageId, ReceivedEvent Event);

/// <summary>
/// A consumer of the events queue declared exactly as the Relay declares it (durable quorum queue), used to see
/// what the Receiver's 202 actually put in the broker.
/// </summary>
public sealed class EventQueueListener : IAsyncDisposable
{
    private readonly IBusControl _bus;
    private readonly ConcurrentQueue<ConsumedEvent> _received = new();

    private EventQueueListener(string connectionString, string queue)
    {
        _bus = Bus.Factory.CreateUsingRabbitMq(rabbit =>
        {
            rabbit.Host(new Uri(connectionString));
            // The Receiver under test prefixes its exchanges with its queue name (see ReceiverFactory).
            rabbit.UseTopologyPrefix(queue + ".");
            rabbit.ReceiveEndpoint(queue, endpoint =>
            {
                endpoint.DeclareAsEventsQueue();
                endpoint.Handler<CustomerEventReceived>(c => Record(c, c.Message.Event));
                endpoint.Handler<AppointmentEventReceived>(c => Record(c, c.Message.Event));
                endpoint.Handler<ServiceOrderEventReceived>(c => Record(c, c.Message.Event));
                endpoint.Handler<MpiEventReceived>(c => Record(c, c.Message.Event));
                endpoint.Handler<UnknownEventReceived>(c => Record(c, c.Message.Event));
            });
        });
    }

    public IReadOnlyCollection<ConsumedEvent> Received => _received;

    public static async Task<EventQueueListener> StartAsync(string connectionString, string queue)
    {
        var listener = new EventQueueListener(connectionString, queue);
        await listener._bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        return listener;
    }

    public Task<IReadOnlyCollection<ConsumedEvent>> WaitForAsync(int count, string because) =>
        TestSupport.Eventually.ReturnsAsync(() => Task.FromResult(Received), r => r.Count >= count, because: because);

    public async ValueTask DisposeAsync() => await _bus.StopAsync();

    private Task Record<T>(ConsumeContext<T> context, ReceivedEvent received)
        where T : class
    {
        _received.Enqueue(new ConsumedEvent(typeof(T), context.MessageId, received));
        return Task.CompletedTask;
    }
}
