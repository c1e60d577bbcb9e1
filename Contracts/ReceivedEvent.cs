using System.Text.Json.Serialization;

namespace Aspire.Webhooks.Contracts;

/// <summary>
/// One myKaarma webhook event as the Receiver accepted it: the envelope, the routing fields extracted once at
/// the edge, and the exact bytes myKaarma posted (subscribers receive those verbatim).
/// </summary>
public sealed record ReceivedEvent
{
    /// <summary>myKaarma's event id. Unique only together with <see cref="Type"/>.</summary>
    public required string Id { get; init; }

    /// <summary>The envelope's <c>type</c> as sent: customers, appointments, service-orders, mpis, or a newer kind.</summary>
    public required string Type { get; init; }

    /// <summary>When the change happened at myKaarma, in Unix epoch milliseconds (UTC); orders out-of-order arrivals.</summary>
    public required long Timestamp { get; init; }

    public required string DealerUuid { get; init; }

    /// <summary>The envelope's <c>departmentuuid</c>, when myKaarma sent one.</summary>
    public string? EnvelopeDepartmentUuid { get; init; }

    public required EventRouting Routing { get; init; }

    /// <summary>When the Receiver accepted the request.</summary>
    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>The request body exactly as received; on the wire it travels as JSON, not base64.</summary>
    [JsonConverter(typeof(JsonBodyConverter))]
    public required byte[] Body { get; init; }
}

/// <summary>The fields subscribers filter on, read from the envelope and the stringified payload.</summary>
public sealed record EventRouting
{
    public required string DealerUuid { get; init; }

    /// <summary>The envelope's department, else the payload's (appointments and MPIs carry one).</summary>
    public string? DepartmentUuid { get; init; }

    /// <summary>The customer, appointment, order or MPI the event is about.</summary>
    public string? EntityId { get; init; }

    /// <summary>Service orders only: the repair order number.</summary>
    public string? OrderNumber { get; init; }

    /// <summary>Appointments only: what triggered the event (CREATED, RESCHEDULED, ...).</summary>
    public string? AppointmentEvent { get; init; }

    /// <summary>Appointments only: the appointment's <c>newStatus</c> ("Show", "No Show", ...).</summary>
    public string? AppointmentStatus { get; init; }
}
