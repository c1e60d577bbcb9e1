using Aspire.Webhooks.LoadGen.Measurement;
using Aspire.Webhooks.LoadGen.Workload;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Aspire.Webhooks.LoadGen.Targets;

/// <summary>
/// Publishes the same signed bodies straight to a durable quorum queue with publisher confirms: the work the
/// Receiver must do for each event, minus HTTP, checks and serialisation. Its rate is the ceiling for the
/// Receiver at the same concurrency on the same broker.
/// </summary>
public sealed class RawPublisher : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel[] _channels;
    private readonly SampleEvents _samples;
    private readonly System.Collections.Concurrent.ConcurrentQueue<int> _idle = new();
    private readonly SemaphoreSlim _available;

    private RawPublisher(IConnection connection, IChannel[] channels, string queue, SampleEvents samples)
    {
        (_connection, _channels, Queue, _samples) = (connection, channels, queue, samples);
        for (var i = 0; i < channels.Length; i++)
        {
            _idle.Enqueue(i);
        }

        _available = new SemaphoreSlim(channels.Length, channels.Length);
    }

    /// <summary>The queue this run created, and deletes when disposed.</summary>
    public string Queue { get; }

    public static async Task<RawPublisher> CreateAsync(Uri amqp, int publishers, SampleEvents samples,
        CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory { Uri = amqp };
        var connection = await factory.CreateConnectionAsync("aspire-webhooks-loadgen raw", cancellationToken);
        var queue = BrokerTopology.NewQueueName("bench-raw");
        try
        {
            await BrokerTopology.DeclareQuorumQueueAsync(connection, queue, cancellationToken);

            // One channel per publisher, all on one connection (as MassTransit keeps one connection per bus).
            // Each publisher awaits its own confirm, so N publishers keep N messages in flight: the same
            // concurrency as N HTTP senders each waiting for a 202. A shared channel would serialise the publishes
            // in the client and understate what the broker can do; several connections would add parallelism the
            // Receiver does not have. This is therefore the fair ceiling, not an artificially low one.
            var options = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
            var channels = new IChannel[publishers];
            for (var i = 0; i < publishers; i++)
            {
                channels[i] = await connection.CreateChannelAsync(options, cancellationToken);
            }

            return new RawPublisher(connection, channels, queue, samples);
        }
        catch
        {
            await BrokerTopology.DeleteAsync(connection, queue, deleteExchange: false, CancellationToken.None);
            await connection.DisposeAsync();
            throw;
        }
    }

    public async Task<Outcome> PublishAsync(int publisher, CancellationToken cancellationToken)
    {
        var signed = _samples.Next();
        var properties = new BasicProperties
        {
            DeliveryMode = DeliveryModes.Persistent,
            ContentType = "text/plain",
        };
        try
        {
            // With confirmation tracking this completes only when the broker confirmed (or throws when it
            // nacked or, being mandatory, returned the message): the same promise behind the Receiver's 202.
            await _channels[publisher].BasicPublishAsync("", Queue, mandatory: true, properties, signed.Body,
                cancellationToken);
            return Outcome.Accepted;
        }
        catch (PublishException ex)
        {
            return Outcome.Failed(ex.IsReturn ? "returned" : "nacked");
        }
        catch (OperationInterruptedException ex)
        {
            // The broker closed the channel (or the connection): report it per publish rather than end the run.
            return Outcome.Failed($"channel closed {ex.ShutdownReason?.ReplyCode}");
        }
    }

    /// <summary>
    /// Publishes on whichever channel is idle, for the open loop: publishes are not tied to one sender each, but no more
    /// than one awaits its confirm per channel at a time, as in <see cref="PublishAsync(int, CancellationToken)"/>.
    /// </summary>
    public async Task<Outcome> PublishAsync(CancellationToken cancellationToken)
    {
        await _available.WaitAsync(cancellationToken);
        _idle.TryDequeue(out var channel);
        try
        {
            return await PublishAsync(channel, cancellationToken);
        }
        finally
        {
            _idle.Enqueue(channel);
            _available.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            await channel.DisposeAsync();
        }

        await BrokerTopology.DeleteAsync(_connection, Queue, deleteExchange: false, CancellationToken.None);
        await _connection.DisposeAsync();
    }
}
