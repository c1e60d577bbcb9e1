using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Receiver.Ingest;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>Sample events as the Receiver would have published them.</summary>
public static class Events
{
    public static ReceivedEvent Parse(byte[] body) =>
        EnvelopeParser.Parse(body, DateTimeOffset.UtcNow).Event ?? throw new ArgumentException("not a valid sample");

    public static ReceivedEvent Sample(string name) => Parse(SampleEvents.Bytes(name));

    public static ReceivedEvent Fresh(string name) => Parse(SampleEvents.WithFreshId(name));

    /// <summary>The typed message the Receiver publishes for an event.</summary>
    public static object Message(ReceivedEvent e) => e.Type switch
    {
        EventTypes.Customers => new CustomerEventReceived { Event = e },
        EventTypes.Appointments => new AppointmentEventReceived { Event = e },
        EventTypes.ServiceOrders => new ServiceOrderEventReceived { Event = e },
        EventTypes.Mpis => new MpiEventReceived { Event = e },
        _ => new UnknownEventReceived { Event = e },
    };
}
