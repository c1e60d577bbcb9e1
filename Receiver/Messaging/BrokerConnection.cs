using Aspire.Webhooks.ServiceDefaults;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Aspire.Webhooks.Receiver.Messaging;

/// <summary>The broker could not take a message now: not connected yet, reconnecting, or the channel was closed.</summary>
public sealed class BrokerUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The Receiver's one connection to RabbitMQ and its publish channel, on which every publish waits for the broker's
/// confirm. On start (and again after any reconnect) it declares the events queue and each message type's exchange
/// bound to it, so an event is stored whether or not a Relay has ever run. It connects in the background and the
/// client reconnects by itself: meanwhile the health check says so, and <see cref="PublishAsync"/> waits for the
/// connection only as long as its caller's token allows (the publish timeout), so the endpoint answers 503 in time.
/// </summary>
public sealed partial class BrokerConnection(
    IConfiguration configuration,
    IOptions<MessagingOptions> options,
    MessageRoutes routes,
    TimeProvider time,
    ILogger<BrokerConnection> logger) : BackgroundService, IHealthCheck
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _repairLock = new(1, 1);
    private IConnection? _connection;
    private volatile IChannel? _channel;
    private int _repairScheduled;

    /// <summary>Completed while there is an open publish channel; replaced by a pending one when the connection drops.</summary>
    private volatile TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Publishes <paramref name="body"/> to <paramref name="exchange"/> as a persistent, mandatory message and returns
    /// once the broker has confirmed it, i.e. stored it in every queue it routes to. Throws
    /// <see cref="PublishException"/> when the broker refuses it or routes it to no queue, and
    /// <see cref="BrokerUnavailableException"/> when there is no open channel.
    /// </summary>
    public async Task PublishAsync(string exchange, BasicProperties properties, ReadOnlyMemory<byte> body,
        CancellationToken cancellationToken)
    {
        var channel = _channel;
        if (channel is not { IsOpen: true })
        {
            // Not connected yet, or reconnecting: wait for the broker as long as the caller may, then give up.
            ScheduleRepair();
            try
            {
                await _ready.Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw new BrokerUnavailableException(_connection is null
                    ? "Not connected to RabbitMQ yet."
                    : "The connection to RabbitMQ is down; reconnecting.");
            }

            channel = _channel;
            if (channel is not { IsOpen: true })
            {
                throw new BrokerUnavailableException("The publish channel to RabbitMQ is closed; reopening it.");
            }
        }

        try
        {
            await channel.BasicPublishAsync(exchange, string.Empty, mandatory: true, properties, body, cancellationToken);
        }
        catch (PublishException ex) when (ex.IsReturn)
        {
            // No queue took it: someone deleted the events queue or a binding. Declare them again, so myKaarma's
            // retry of this event (and every event after it) is stored.
            ScheduleRepair();
            throw;
        }
        catch (Exception ex) when (ex is AlreadyClosedException or OperationInterruptedException)
        {
            ScheduleRepair();
            throw new BrokerUnavailableException("The connection to RabbitMQ was interrupted.", ex);
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var connection = _connection;
        var channel = _channel;
        return Task.FromResult(
            connection is null ? HealthCheckResult.Unhealthy("Not connected to RabbitMQ yet.")
            : !connection.IsOpen ? HealthCheckResult.Unhealthy("The connection to RabbitMQ is down; reconnecting.")
            : channel is not { IsOpen: true } ? HealthCheckResult.Unhealthy("The publish channel is closed; reopening it.")
            : HealthCheckResult.Healthy());
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var factory = new ConnectionFactory
        {
            Uri = BrokerExtensions.GetBrokerUri(configuration),
            ClientProvidedName = "Aspire.Webhooks.Receiver",
            // After the first connection the client reconnects by itself; the topology is declared again below.
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = false,
            NetworkRecoveryInterval = FirstRetryDelay,
        };

        var delay = FirstRetryDelay;
        while (!stoppingToken.IsCancellationRequested)
        {
            IConnection? connection = null;
            try
            {
                connection = await factory.CreateConnectionAsync(stoppingToken);
                await DeclareTopologyAsync(connection, stoppingToken);
                var channel = await OpenPublishChannelAsync(connection, stoppingToken);
                connection.RecoverySucceededAsync += OnRecoveredAsync;
                connection.ConnectionShutdownAsync += OnShutdownAsync;
                _connection = connection;
                _channel = channel;
                _ready.TrySetResult();
                LogConnected(factory.Endpoint.ToString(), options.Value.EventsQueue);
                return;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogConnectFailed(ex, factory.Endpoint.ToString(), delay.TotalSeconds);
                if (connection is not null)
                {
                    await CloseQuietlyAsync(connection);
                }

                try
                {
                    await Task.Delay(delay, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        var connection = _connection;
        _channel = null;
        _connection = null;
        if (connection is not null)
        {
            await CloseQuietlyAsync(connection);
        }
    }

    // The repair lock is not disposed: a repair still running at shutdown may release it, and a SemaphoreSlim whose
    // wait handle was never asked for holds nothing to free.
    public override void Dispose()
    {
        _connection?.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// Declares the events queue (durable, quorum, as the Relay declares it) and one durable fanout exchange per
    /// message type bound straight to it. Declaring what exists already is harmless; declaring it differently makes
    /// the broker refuse, which is logged and retried rather than hidden.
    /// </summary>
    private async Task DeclareTopologyAsync(IConnection connection, CancellationToken cancellationToken)
    {
        var queue = options.Value.EventsQueue;
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
            arguments: BrokerExtensions.EventsQueueArguments, cancellationToken: cancellationToken);
        foreach (var route in routes.All)
        {
            await channel.ExchangeDeclareAsync(route.Exchange, ExchangeType.Fanout, durable: true, autoDelete: false,
                cancellationToken: cancellationToken);
            await channel.QueueBindAsync(queue, route.Exchange, string.Empty, cancellationToken: cancellationToken);
        }

        await channel.CloseAsync(cancellationToken);
    }

    private static Task<IChannel> OpenPublishChannelAsync(IConnection connection, CancellationToken cancellationToken) =>
        // Tracking makes each publish await its own confirm and turn a nack or a return into PublishException. No
        // limiter on outstanding confirms: the endpoint's admission gate already bounds them.
        connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            cancellationToken);

    private async Task OnRecoveredAsync(object sender, AsyncEventArgs args)
    {
        LogRecovered();
        await RepairAsync();
    }

    private Task OnShutdownAsync(object sender, ShutdownEventArgs args)
    {
        if (args.Initiator != ShutdownInitiator.Application)
        {
            LogConnectionLost(args.ReplyCode, args.ReplyText);
            if (_ready.Task.IsCompleted)
            {
                _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        return Task.CompletedTask;
    }

    private void ScheduleRepair()
    {
        if (_connection is { IsOpen: true } && Interlocked.Exchange(ref _repairScheduled, 1) == 0)
        {
            _ = Task.Run(RepairAsync);
        }
    }

    /// <summary>Declares the topology again and replaces the publish channel if the broker closed it.</summary>
    private async Task RepairAsync()
    {
        await _repairLock.WaitAsync();
        try
        {
            Volatile.Write(ref _repairScheduled, 0);
            var connection = _connection;
            if (connection is not { IsOpen: true })
            {
                return; // The client is reconnecting; its recovery runs this again.
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10), time);
            await DeclareTopologyAsync(connection, timeout.Token);
            if (_channel is { IsOpen: false } closed)
            {
                _channel = await OpenPublishChannelAsync(connection, timeout.Token);
                await closed.DisposeAsync();
                LogChannelReopened();
            }

            _ready.TrySetResult();
        }
        catch (Exception ex)
        {
            LogRepairFailed(ex);
        }
        finally
        {
            _repairLock.Release();
        }
    }

    private async Task CloseQuietlyAsync(IConnection connection)
    {
        try
        {
            await connection.CloseAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex)
        {
            LogCloseFailed(ex);
        }
        finally
        {
            connection.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Connected to RabbitMQ at {Endpoint}; events are stored in queue {Queue}")]
    private partial void LogConnected(string endpoint, string queue);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Could not connect to RabbitMQ at {Endpoint} and declare the events topology; retrying in {DelaySeconds} s, answering 503 meanwhile")]
    private partial void LogConnectFailed(Exception exception, string endpoint, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Lost the connection to RabbitMQ ({ReplyCode} {ReplyText}); reconnecting, answering 503 meanwhile")]
    private partial void LogConnectionLost(ushort replyCode, string replyText);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconnected to RabbitMQ")]
    private partial void LogRecovered();

    [LoggerMessage(Level = LogLevel.Information, Message = "Reopened the publish channel to RabbitMQ")]
    private partial void LogChannelReopened();

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Could not declare the events topology again or reopen the publish channel; the next failed publish retries")]
    private partial void LogRepairFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing the connection to RabbitMQ failed")]
    private partial void LogCloseFailed(Exception exception);
}
