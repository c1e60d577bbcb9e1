using MassTransit;
using Microsoft.Extensions.Configuration;

namespace Aspire.Webhooks.ServiceDefaults;

/// <summary>
/// How every Aspire.Webhooks service meets RabbitMQ. The Receiver and the Relay both declare the events queue, so
/// its declaration lives here once: two declarations that differ would make the broker refuse the second.
/// </summary>
public static class BrokerExtensions
{
    public const string ConnectionStringName = "messaging";

    /// <summary>
    /// The arguments the events queue is declared with, by MassTransit's endpoint (<see cref="DeclareAsEventsQueue"/>)
    /// and by the Receiver's own declaration alike.
    /// </summary>
    public static IDictionary<string, object?> EventsQueueArguments => new Dictionary<string, object?>
    {
        ["x-queue-type"] = "quorum",
    };

    /// <summary>Connects to the broker named by <c>ConnectionStrings:messaging</c>, with publisher confirms.</summary>
    public static void ConnectToBroker(this IRabbitMqBusFactoryConfigurator rabbit, IConfiguration configuration) =>
        // Publisher confirms are MassTransit's default for RabbitMQ; stated because nothing may be lost on the way.
        rabbit.Host(GetBrokerUri(configuration), host => host.PublisherConfirmation = true);

    /// <summary>The RabbitMQ URI in <c>ConnectionStrings:messaging</c>; throws, naming the key, when it is missing or not a URI.</summary>
    public static Uri GetBrokerUri(IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{ConnectionStringName} is not set: give the RabbitMQ URI " +
                "(e.g. amqp://user:password@host:5672/) in ConnectionStrings__messaging.");
        }

        if (!Uri.TryCreate(connectionString, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("amqp" or "amqps"))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{ConnectionStringName} is not a RabbitMQ URI: it must start with amqp:// or amqps:// " +
                "(e.g. amqp://user:password@host:5672/).");
        }

        return uri;
    }

    /// <summary>
    /// Prefixes the per-message-type exchanges, which are otherwise shared by everyone on the broker, so several
    /// environments can use one RabbitMQ without seeing each other's events.
    /// </summary>
    public static void UseTopologyPrefix(this IRabbitMqBusFactoryConfigurator rabbit, string? prefix)
    {
        if (!string.IsNullOrWhiteSpace(prefix))
        {
            rabbit.MessageTopology.SetEntityNameFormatter(
                new PrefixEntityNameFormatter(rabbit.MessageTopology.EntityNameFormatter, prefix));
        }
    }

    /// <summary>The events queue: durable and replicated (quorum), never deleted when its consumers go away.</summary>
    public static void DeclareAsEventsQueue(this IRabbitMqQueueConfigurator queue)
    {
        queue.Durable = true;
        queue.AutoDelete = false;
        foreach (var (name, value) in EventsQueueArguments)
        {
            queue.SetQueueArgument(name, value);
        }
    }
}
