using System.Text;
using System.Text.Json;
using Aspire.Webhooks.Contracts;

namespace Aspire.Webhooks.Receiver.Ingest;

/// <summary>
/// Where each event type keeps the fields subscribers route on, as myKaarma's payloads lay them out, read in one
/// forward pass: only the properties on a wanted path are looked at, everything else is skipped unread.
/// </summary>
internal static class RoutingFields
{
    private const int EntityId = 0;
    private const int EntityIdFallback = 1;
    private const int Department = 2;
    private const int OrderNumber = 3;
    private const int AppointmentEvent = 4;
    private const int AppointmentStatus = 5;
    private const int SlotCount = 6;

    private static readonly Wanted[] Customers =
    [
        Wanted.Object("customerWithVehicles",
            Wanted.Object("customer", Wanted.String("customerUuid", EntityId), Wanted.String("customerId", EntityIdFallback))),
    ];

    private static readonly Wanted[] Appointments =
    [
        Wanted.String("departmentUuid", Department),
        Wanted.String("event", AppointmentEvent),
        Wanted.Object("appointmentInfoResponse", Wanted.String("uuid", EntityId), Wanted.String("newStatus", AppointmentStatus)),
    ];

    private static readonly Wanted[] ServiceOrders =
    [
        Wanted.String("uuid", EntityId),
        Wanted.Object("order", Wanted.Object("header", Wanted.String("orderNumber", OrderNumber))),
    ];

    private static readonly Wanted[] Mpis =
    [
        Wanted.String("uuid", EntityId),
        Wanted.String("dealerDepartmentUUID", Department),
    ];

    /// <summary>
    /// Reads the payload object the reader stands on (its <c>StartObject</c>) to its end, and returns the routing
    /// fields for <paramref name="type"/>. Throws <see cref="JsonException"/> when the payload is not valid JSON.
    /// </summary>
    public static EventRouting Read(ref Utf8JsonReader reader, string type, string dealer, string? envelopeDepartment)
    {
        var wanted = type switch
        {
            EventTypes.Customers => Customers,
            EventTypes.Appointments => Appointments,
            EventTypes.ServiceOrders => ServiceOrders,
            EventTypes.Mpis => Mpis,
            _ => [],
        };

        var values = new string?[SlotCount];
        ReadObject(ref reader, wanted, values);

        return type switch
        {
            EventTypes.Customers => new EventRouting
            {
                DealerUuid = dealer,
                DepartmentUuid = envelopeDepartment,
                EntityId = values[EntityId] ?? values[EntityIdFallback],
            },
            EventTypes.Appointments => new EventRouting
            {
                DealerUuid = dealer,
                DepartmentUuid = envelopeDepartment ?? values[Department],
                EntityId = values[EntityId],
                AppointmentEvent = values[AppointmentEvent],
                AppointmentStatus = values[AppointmentStatus],
            },
            EventTypes.ServiceOrders => new EventRouting
            {
                DealerUuid = dealer,
                DepartmentUuid = envelopeDepartment,
                EntityId = values[EntityId],
                OrderNumber = values[OrderNumber],
            },
            EventTypes.Mpis => new EventRouting
            {
                DealerUuid = dealer,
                DepartmentUuid = envelopeDepartment ?? values[Department],
                EntityId = values[EntityId],
            },
            _ => new EventRouting { DealerUuid = dealer, DepartmentUuid = envelopeDepartment },
        };
    }

    /// <summary>
    /// Reads one object, descending only into wanted properties. A property given twice counts with its last value,
    /// as a document lookup would: a later duplicate first clears what the earlier one set.
    /// </summary>
    private static void ReadObject(ref Utf8JsonReader reader, Wanted[] wanted, string?[] values)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var match = Find(ref reader, wanted);
            reader.Read();
            if (match is null)
            {
                reader.Skip();
            }
            else if (match.Children is null)
            {
                values[match.Slot] = reader.TokenType == JsonTokenType.String ? EnvelopeParser.NullIfEmpty(reader.GetString()) : null;
                reader.Skip();
            }
            else
            {
                match.Clear(values);
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadObject(ref reader, match.Children, values);
                }
                else
                {
                    reader.Skip();
                }
            }
        }
    }

    private static Wanted? Find(ref Utf8JsonReader reader, Wanted[] wanted)
    {
        foreach (var candidate in wanted)
        {
            if (reader.ValueTextEquals(candidate.Name))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>A property on the way to a routing field: a string that fills a slot, or an object to look inside.</summary>
    private sealed class Wanted
    {
        private Wanted(string name, int slot, Wanted[]? children)
        {
            Name = Encoding.UTF8.GetBytes(name);
            Slot = slot;
            Children = children;
        }

        public byte[] Name { get; }

        public int Slot { get; }

        public Wanted[]? Children { get; }

        public static Wanted String(string name, int slot) => new(name, slot, null);

        public static Wanted Object(string name, params Wanted[] children) => new(name, -1, children);

        public void Clear(string?[] values)
        {
            foreach (var child in Children ?? [])
            {
                if (child.Children is null)
                {
                    values[child.Slot] = null;
                }
                else
                {
                    child.Clear(values);
                }
            }
        }
    }
}
