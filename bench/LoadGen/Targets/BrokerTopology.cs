using System.Globalization;
using RabbitMQ.Client;

namespace Aspire.Webhooks.LoadGen.Targets;

/// <summary>Creates and removes the broker objects a bench run uses, so a run leaves the broker as it found it.</summary>
public static class BrokerTopology
{
    public static string NewQueueName(string prefix) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{prefix}-{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}-{Random.Shared.Next(0x10000):x4}");

    /// <summary>Durable quorum, as the Receiver's events queue: a classic queue would confirm faster and flatter the ceiling.</summary>
    public static async Task DeclareQuorumQueueAsync(IConnection connection, string queue, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" }, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// The message types the Receiver publishes, as MassTransit names their exchanges. bench/receiver.sh gives its
    /// Receiver the topology prefix "{queue}.", so these exchanges are the run's own, not shared with other
    /// Receivers, test runs or the development queue on the same broker.
    /// </summary>
    public static readonly string[] MessageExchanges =
    [
        "Aspire.Webhooks.Contracts:CustomerEventReceived",
        "Aspire.Webhooks.Contracts:AppointmentEventReceived",
        "Aspire.Webhooks.Contracts:ServiceOrderEventReceived",
        "Aspire.Webhooks.Contracts:MpiEventReceived",
        "Aspire.Webhooks.Contracts:UnknownEventReceived",
    ];

    /// <summary>
    /// Deletes the queue and, when asked, the exchanges the Receiver's MassTransit topology made for it: the one of
    /// the same name, and the message-type exchanges under the prefix "{queue}." that bench/receiver.sh sets.
    /// </summary>
    public static async Task<uint> DeleteAsync(IConnection connection, string queue, bool deleteExchange,
        CancellationToken cancellationToken)
    {
        // A fresh channel each time: a failed operation closes the channel it ran on.
        uint deleted;
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken))
        {
            deleted = await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false, cancellationToken: cancellationToken);
        }

        if (deleteExchange)
        {
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            await channel.ExchangeDeleteAsync(queue, ifUnused: false, cancellationToken: cancellationToken);
            foreach (var exchange in MessageExchanges)
            {
                // Deleting an exchange that does not exist is not an error in RabbitMQ.
                await channel.ExchangeDeleteAsync($"{queue}.{exchange}", ifUnused: false, cancellationToken: cancellationToken);
            }
        }

        return deleted;
    }

    /// <summary>Connects and deletes; for the cleanup mode that bench/receiver.sh calls when it stops.</summary>
    public static async Task<uint> DeleteAsync(Uri amqp, string queue, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory { Uri = amqp };
        await using var connection = await factory.CreateConnectionAsync("aspire-webhooks-loadgen cleanup", cancellationToken);
        return await DeleteAsync(connection, queue, deleteExchange: true, cancellationToken);
    }

    /// <summary>
    /// Empties the queues, as a Relay consuming them would have kept them, so the broker does not spend the next
    /// measured run writing hundreds of thousands of unconsumed messages from its log into segment files.
    /// </summary>
    public static async Task<uint> PurgeAsync(Uri amqp, IEnumerable<string> queues, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory { Uri = amqp };
        await using var connection = await factory.CreateConnectionAsync("aspire-webhooks-loadgen purge", cancellationToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        uint purged = 0;
        foreach (var queue in queues)
        {
            purged += await channel.QueuePurgeAsync(queue, cancellationToken);
        }

        return purged;
    }
}
