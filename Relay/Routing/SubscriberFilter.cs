using Aspire.Webhooks.Contracts;

namespace Aspire.Webhooks.Relay.Routing;

/// <summary>
/// Which events a subscriber wants. Each list, when not empty, must contain the event's value; comparisons ignore
/// case, since myKaarma's UUIDs and kinds are not promised in one case.
/// </summary>
public sealed record SubscriberFilter
{
    /// <summary>Matches every event type this version does not know.</summary>
    public const string UnknownEventType = "unknown";

    public IReadOnlyList<string> Dealers { get; init; } = [];

    public IReadOnlyList<string> Departments { get; init; } = [];

    public IReadOnlyList<string> EventTypes { get; init; } = [];

    public IReadOnlyList<string> AppointmentEvents { get; init; } = [];

    public IReadOnlyList<string> AppointmentStatuses { get; init; } = [];

    public bool Matches(string eventType, EventRouting routing) =>
        Allows(Dealers, routing.DealerUuid) &&
        Allows(Departments, routing.DepartmentUuid) &&
        AllowsType(eventType) &&
        Allows(AppointmentEvents, routing.AppointmentEvent) &&
        Allows(AppointmentStatuses, routing.AppointmentStatus);

    private bool AllowsType(string eventType) =>
        EventTypes.Count == 0 ||
        EventTypes.Contains(eventType, StringComparer.OrdinalIgnoreCase) ||
        (!Contracts.EventTypes.IsKnown(eventType) && EventTypes.Contains(UnknownEventType, StringComparer.OrdinalIgnoreCase));

    // An event without the value (a customer event has no appointment kind) does not match a rule that asks for one.
    private static bool Allows(IReadOnlyList<string> allowed, string? value) =>
        allowed.Count == 0 || (value is not null && allowed.Contains(value, StringComparer.OrdinalIgnoreCase));

    /// <summary>The event types a rule may name.</summary>
    public static IReadOnlyList<string> ValidEventTypes { get; } = [.. Contracts.EventTypes.Known, UnknownEventType];
}
