using System.Text.Json;
using Aspire.Webhooks.Contracts;

namespace Aspire.Webhooks.Receiver.Ingest;

/// <summary>Where each event type keeps the fields subscribers route on, as myKaarma's payloads lay them out.</summary>
internal static class RoutingFields
{
    public static EventRouting Extract(string type, string dealer, string? envelopeDepartment, JsonElement payload) =>
        type switch
        {
            EventTypes.Customers => new EventRouting
            {
                DealerUuid = dealer,
                DepartmentUuid = envelopeDepartment,
                EntityId = String(payload, "customerWithVehicles", "customer", "customerUuid")
                    ?? String(payload, "customerWithVehicles", "customer", "customerId"),
            },
            EventTypes.Appointments => new EventRouting
            {
                DealerUuid = dealer,
                DepartmentUuid = envelopeDepartment ?? String(payload, "departmentUuid"),
                EntityId = String(payload, "appointmentInfoResponse", "uuid"),
                AppointmentEvent = String(payload, "event"),
                AppointmentStatus = String(payload, "appointmentInfoResponse", "newStatus"),
            },
            EventTypes.ServiceOrders => new EventRouting
            {
                DealerUuid = dealer,
                DepartmentUuid = envelopeDepartment,
                EntityId = String(payload, "uuid"),
                OrderNumber = String(payload, "order", "header", "orderNumber"),
            },
            EventTypes.Mpis => new EventRouting
            {
                DealerUuid = dealer,
                DepartmentUuid = envelopeDepartment ?? String(payload, "dealerDepartmentUUID"),
                EntityId = String(payload, "uuid"),
            },
            _ => new EventRouting { DealerUuid = dealer, DepartmentUuid = envelopeDepartment },
        };

    /// <summary>The string at a path of object properties, or null when any step is missing or not as expected.</summary>
    private static string? String(JsonElement element, params ReadOnlySpan<string> path)
    {
        foreach (var name in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return null;
            }
        }

        return element.ValueKind == JsonValueKind.String ? EnvelopeParser.NullIfEmpty(element.GetString()) : null;
    }
}
