using System.Net.Sockets;
using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.ServiceDefaults;
using MassTransit;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aspire.Webhooks.Relay.Messaging;

public static class RelayMessagingExtensions
{
    /// <summary>Consumes the events queue into the outbox.</summary>
    public static IHostApplicationBuilder AddRelayMessaging(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RelayMessagingOptions>()
            .BindConfiguration(RelayMessagingOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        // No group can be larger than the events consumed at once: each consumer waits for its event's commit.
        builder.Services.AddSingleton(services => new EventWriter(services.GetRequiredService<OutboxStore>(),
            services.GetRequiredService<IOptions<RelayMessagingOptions>>().Value.ConcurrentMessageLimit,
            services.GetRequiredService<LaneDirectory>()));
        builder.Services.AddMassTransit(bus =>
        {
            bus.ConfigureHealthCheckOptions(health => health.Name = "messaging");
            bus.AddConsumer<EventConsumer>();
            bus.UsingRabbitMq((context, rabbit) =>
            {
                var options = context.GetRequiredService<IOptions<RelayMessagingOptions>>().Value;
                rabbit.ConnectToBroker(builder.Configuration);
                rabbit.UseTopologyPrefix(options.TopologyPrefix);

                rabbit.ReceiveEndpoint(options.EventsQueue, endpoint =>
                {
                    endpoint.DeclareAsEventsQueue();
                    endpoint.PrefetchCount = options.PrefetchCount;
                    endpoint.ConcurrentMessageLimit = options.ConcurrentMessageLimit;
                    endpoint.UseMessageRetry(retry =>
                    {
                        // While PostgreSQL is unreachable the message stays unacknowledged in the broker and is
                        // retried here until the database is back: no event is parked or dropped for an outage.
                        retry.Handle<NpgsqlException>();
                        retry.Handle<SocketException>();
                        retry.Handle<TimeoutException>();
                        retry.Exponential(int.MaxValue, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10),
                            TimeSpan.FromMilliseconds(500));
                    });
                    endpoint.ConfigureConsumer<EventConsumer>(context);
                });
            });
        });

        return builder;
    }
}
