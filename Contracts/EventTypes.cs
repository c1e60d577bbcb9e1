namespace Aspire.Webhooks.Contracts;

/// <summary>The envelope <c>type</c> values myKaarma documents.</summary>
public static class EventTypes
{
    public const string Customers = "customers";
    public const string Appointments = "appointments";
    public const string ServiceOrders = "service-orders";
    public const string Mpis = "mpis";

    public static IReadOnlyList<string> Known { get; } = [Customers, Appointments, ServiceOrders, Mpis];

    public static bool IsKnown(string type) => Known.Contains(type, StringComparer.Ordinal);
}

/// <summary>The appointment <c>event</c> kinds myKaarma documents. Others are still relayed as sent.</summary>
public static class AppointmentEventKinds
{
    public static IReadOnlyList<string> Known { get; } =
    [
        "CREATED", "SCHEDULED", "UPDATED", "CANCELLED", "RESCHEDULED", "PUSHED_DMS", "PUSHED_DMS_FAILURE",
        "REMINDER_TEXT_SENT", "REMINDER_EMAIL_SENT", "DEALERORDER_MAPPED", "DEALERORDER_UNMAPPED",
        "LOANER_BOOKED", "LOANER_CANCELLED", "LOANER_UPDATED", "LOANER_BOOKING_FAILURE",
        "LOANER_UPDATE_FAILURE", "LOANER_CANCEL_FAILURE", "SHOW_WITHOUT_RO",
    ];
}

/// <summary>Broker names both services agree on.</summary>
public static class MessagingTopology
{
    /// <summary>The durable quorum queue every accepted event lands in, whether or not a Relay is running.</summary>
    public const string DefaultEventsQueue = "mykaarma-events";
}
