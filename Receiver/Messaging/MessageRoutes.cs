using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Aspire.Webhooks.Contracts;
using MassTransit;
using MassTransit.RabbitMqTransport;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver.Messaging;

/// <summary>
/// Where each kind of event is published and as which message type. Exchange names and message-type URNs come from
/// MassTransit's own formatters, with the same topology prefix the Relay uses, so the Relay's MassTransit consumers
/// bind to these exchanges and recognise these messages as their types.
/// </summary>
public sealed class MessageRoutes
{
    private readonly MessageRoute _customers;
    private readonly MessageRoute _appointments;
    private readonly MessageRoute _serviceOrders;
    private readonly MessageRoute _mpis;
    private readonly MessageRoute _unknown;

    public MessageRoutes(IOptions<MessagingOptions> options)
    {
        IEntityNameFormatter names = new MessageNameFormatterEntityNameFormatter(new RabbitMqMessageNameFormatter());
        if (!string.IsNullOrWhiteSpace(options.Value.TopologyPrefix))
        {
            names = new PrefixEntityNameFormatter(names, options.Value.TopologyPrefix);
        }

        var json = MessageJsonContext.Default;
        _customers = MessageRoute.For(names, json.CustomerEventReceived, e => new CustomerEventReceived { Event = e });
        _appointments = MessageRoute.For(names, json.AppointmentEventReceived, e => new AppointmentEventReceived { Event = e });
        _serviceOrders = MessageRoute.For(names, json.ServiceOrderEventReceived, e => new ServiceOrderEventReceived { Event = e });
        _mpis = MessageRoute.For(names, json.MpiEventReceived, e => new MpiEventReceived { Event = e });
        _unknown = MessageRoute.For(names, json.UnknownEventReceived, e => new UnknownEventReceived { Event = e });
        All = [_customers, _appointments, _serviceOrders, _mpis, _unknown];
    }

    public IReadOnlyList<MessageRoute> All { get; }

    /// <summary>The route of an envelope <c>type</c>; an unknown type still goes somewhere, as <see cref="UnknownEventReceived"/>.</summary>
    public MessageRoute For(string eventType) => eventType switch
    {
        EventTypes.Customers => _customers,
        EventTypes.Appointments => _appointments,
        EventTypes.ServiceOrders => _serviceOrders,
        EventTypes.Mpis => _mpis,
        _ => _unknown,
    };
}

/// <summary>One message type: its exchange, its MassTransit URN, and how to write an event as that message.</summary>
public sealed class MessageRoute
{
    private MessageRoute(string exchange, string messageType, Action<System.Text.Json.Utf8JsonWriter, ReceivedEvent> write)
    {
        Exchange = exchange;
        MessageType = messageType;
        WriteMessage = write;
    }

    public string Exchange { get; }

    /// <summary>The URN MassTransit matches consumers by, e.g. <c>urn:message:Aspire.Webhooks.Contracts:MpiEventReceived</c>.</summary>
    public string MessageType { get; }

    /// <summary>Writes the typed message that carries <see cref="ReceivedEvent"/>.</summary>
    public Action<System.Text.Json.Utf8JsonWriter, ReceivedEvent> WriteMessage { get; }

    internal static MessageRoute For<T>(IEntityNameFormatter names, JsonTypeInfo<T> json, Func<ReceivedEvent, T> wrap)
        where T : class =>
        new(names.FormatEntityName<T>(), MessageUrn.ForTypeString<T>(),
            (writer, received) => System.Text.Json.JsonSerializer.Serialize(writer, wrap(received), json));
}

/// <summary>
/// The message types as MassTransit's System.Text.Json serializer writes them (camel case), minus the null fields
/// a reader takes as absent anyway; generated at build time, since every accepted event is written with it.
/// </summary>
[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CustomerEventReceived))]
[JsonSerializable(typeof(AppointmentEventReceived))]
[JsonSerializable(typeof(ServiceOrderEventReceived))]
[JsonSerializable(typeof(MpiEventReceived))]
[JsonSerializable(typeof(UnknownEventReceived))]
internal sealed partial class MessageJsonContext : JsonSerializerContext;
