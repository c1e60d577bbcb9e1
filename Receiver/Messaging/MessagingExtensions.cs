using System.Text.Json;
using System.Text.Json.Serialization;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver.Messaging;

public static class MessagingExtensions
{
    /// <summary>Adds MassTransit over RabbitMQ with a topology that stores every event even before any Relay runs.</summary>
    public static IHostApplicationBuilder AddReceiverMessaging(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<MessagingOptions>()
            .BindConfiguration(MessagingOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddSingleton<EventPublisher>();

        builder.Services.AddMassTransit(bus =>
        {
            bus.ConfigureHealthCheckOptions(health =>
            {
                health.Name = "messaging";
                health.Tags.Add(ServiceDefaultsExtensions.ReadyTag);
            });

            bus.UsingRabbitMq((context, rabbit) =>
            {
                var options = context.GetRequiredService<IOptions<MessagingOptions>>().Value;
                rabbit.ConnectToBroker(builder.Configuration);
                rabbit.UseTopologyPrefix(options.TopologyPrefix);
                // MassTransit indents its JSON by default, and writes every empty envelope field and optional routing
                // field as null: a few hundred bytes per event that the broker checksums, stores and replicates for
                // nobody, since a reader takes an absent field as null. These options are process-wide and frozen once
                // used, hence a copy rather than a change in place.
                rabbit.ConfigureJsonSerializerOptions(json =>
                    json is { WriteIndented: false, DefaultIgnoreCondition: JsonIgnoreCondition.WhenWritingNull }
                        ? json
                        : new JsonSerializerOptions(json)
                        {
                            WriteIndented = false,
                            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
                        });

                var queue = options.EventsQueue;
                BindToEventsQueue<CustomerEventReceived>(rabbit, queue);
                BindToEventsQueue<AppointmentEventReceived>(rabbit, queue);
                BindToEventsQueue<ServiceOrderEventReceived>(rabbit, queue);
                BindToEventsQueue<MpiEventReceived>(rabbit, queue);
                BindToEventsQueue<UnknownEventReceived>(rabbit, queue);
            });
        });

        return builder;
    }

    /// <summary>
    /// Declares the events queue (durable, quorum) and binds the message type's own exchange straight to it before
    /// the first publish, so an event is stored by the broker whether or not a Relay has ever started. The queue's
    /// arguments match the Relay's receive endpoint, so both sides declare the same queue; the Relay's own binding
    /// (through an exchange named like the queue) adds a second route, and RabbitMQ still stores one copy.
    /// </summary>
    private static void BindToEventsQueue<T>(IRabbitMqBusFactoryConfigurator rabbit, string queue)
        where T : class =>
        rabbit.Publish<T>(publish => publish.BindQueue(publish.Exchange.ExchangeName, queue,
            binding => binding.DeclareAsEventsQueue()));
}
