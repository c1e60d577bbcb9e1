using System.Net.Sockets;
using Aspire.Webhooks.Relay.Outbox;
using MassTransit;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aspire.Webhooks.Relay.Messaging;

public static class RelayMessagingExtensions
{
    public const string ConnectionStringName = "messaging";

    /// <summary>Consumes the events queue into the outbox.</summary>
    public static IHostApplicationBuilder AddRelayMessaging(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RelayMessagingOptions>()
            .BindConfiguration(RelayMessagingOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddMassTransit(bus =>
        {
            bus.ConfigureHealthCheckOptions(health => health.Name = "messaging");
            bus.AddConsumer<EventConsumer>();
            bus.UsingRabbitMq((context, rabbit) =>
            {
                var connectionString = builder.Configuration.GetConnectionString(ConnectionStringName);
                if (string.IsNullOrWhiteSpace(connectionString))
                {
                    throw new InvalidOperationException(
                        $"ConnectionStrings:{ConnectionStringName} is not set: give the RabbitMQ URI " +
                        "(e.g. amqp://user:password@host:5672/) in ConnectionStrings__messaging.");
                }

                rabbit.Host(new Uri(connectionString));
                var options = context.GetRequiredService<IOptions<RelayMessagingOptions>>().Value;
                if (!string.IsNullOrWhiteSpace(options.TopologyPrefix))
                {
                    rabbit.MessageTopology.SetEntityNameFormatter(
                        new PrefixEntityNameFormatter(rabbit.MessageTopology.EntityNameFormatter, options.TopologyPrefix));
                }

                rabbit.ReceiveEndpoint(options.EventsQueue, endpoint =>
                {
                    // Declared exactly as the Receiver declares it (durable quorum queue).
                    endpoint.SetQuorumQueue();
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
