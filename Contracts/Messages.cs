namespace Aspire.Webhooks.Contracts;

// One message type per myKaarma event kind, so consumers and broker bindings can be chosen per kind.
// They share their content by composition rather than inheritance: a common base type would make the
// broker deliver every event once per type in its hierarchy.

/// <summary>A customer was created or updated.</summary>
public sealed record CustomerEventReceived
{
    public required ReceivedEvent Event { get; init; }
}

/// <summary>An appointment changed; <see cref="EventRouting.AppointmentEvent"/> says how.</summary>
public sealed record AppointmentEventReceived
{
    public required ReceivedEvent Event { get; init; }
}

/// <summary>A service (repair) order was created or updated.</summary>
public sealed record ServiceOrderEventReceived
{
    public required ReceivedEvent Event { get; init; }
}

/// <summary>A multipoint inspection was created or updated.</summary>
public sealed record MpiEventReceived
{
    public required ReceivedEvent Event { get; init; }
}

/// <summary>An event whose <c>type</c> this version does not know; relayed untyped so nothing is lost.</summary>
public sealed record UnknownEventReceived
{
    public required ReceivedEvent Event { get; init; }
}
