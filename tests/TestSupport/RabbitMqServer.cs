using RabbitMQ.Client;
using Testcontainers.RabbitMq;
using Xunit;

namespace Aspire.Webhooks.TestSupport;

/// <summary>A RabbitMQ broker shared by a test collection, plus helpers to inspect and clean its queues.</summary>
public sealed class RabbitMqServer : IAsyncLifetime
{
    public const string Variable = "ConnectionStrings__messaging";

    private IAsyncDisposable? _container;

    public string ConnectionString { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        (ConnectionString, _container) = await ExternalServer.ResolveAsync(Variable, async () =>
        {
            var container = new RabbitMqBuilder("rabbitmq:3.13-alpine").Build();
            await container.StartAsync();
            return (container.GetConnectionString(), (IAsyncDisposable)container);
        }, "RabbitMQ broker");

        // Fail here, with the address, rather than later inside a test with a timeout.
        await using var connection = await ConnectAsync();
    }

    public async Task DisposeAsync()
    {
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }

    public Task<IConnection> ConnectAsync() =>
        new ConnectionFactory { Uri = new Uri(ConnectionString), ClientProvidedName = "tests" }.CreateConnectionAsync();

    /// <summary>A queue name no other test uses.</summary>
    public static string UniqueQueueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>How many messages the queue holds, or null when it does not exist.</summary>
    public async Task<uint?> MessageCountAsync(string queue)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            var ok = await channel.QueueDeclarePassiveAsync(queue);
            return ok.MessageCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return null;
        }
    }

    /// <summary>How many consumers the queue has; it must exist.</summary>
    public async Task<uint> ConsumerCountAsync(string queue)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).ConsumerCount;
    }

    public async Task DeleteQueueAsync(string queue)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeleteAsync(queue);
        await channel.ExchangeDeleteAsync(queue);

        // The message exchanges of a test that prefixed its topology with its queue name.
        foreach (var type in new[]
                 {
                     typeof(Contracts.CustomerEventReceived), typeof(Contracts.AppointmentEventReceived),
                     typeof(Contracts.ServiceOrderEventReceived), typeof(Contracts.MpiEventReceived),
                     typeof(Contracts.UnknownEventReceived),
                 })
        {
            await channel.ExchangeDeleteAsync($"{queue}.{type.Namespace}:{type.Name}");
        }
    }
}
