using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.TestSupport;
using Aspire.Webhooks.ServiceDefaults;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Npgsql;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>A Relay on its own database and queue, with subscribers given as configuration.</summary>
public sealed class RelayHost : WebApplicationFactory<Aspire.Webhooks.Relay.Delivery.RelayMetrics>
{
    private readonly Dictionary<string, string?> _settings;

    public RelayHost(string messaging, string database, string queue, IEnumerable<KeyValuePair<string, string?>> settings)
    {
        Database = database;
        _settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:messaging"] = messaging,
            ["ConnectionStrings:relaydb"] = database,
            ["Messaging:EventsQueue"] = queue,
            ["Messaging:TopologyPrefix"] = queue + ".",
            ["Relay:Delivery:PollInterval"] = "00:00:00.500",
            ["Relay:Delivery:RequestTimeout"] = "00:00:02",
            ["Logging:LogLevel:Default"] = "Warning",
            // The sinks are plain http on loopback.
            ["Relay:AllowPrivateNetworkTargets"] = "true",
            ["Relay:RequireHttps"] = "false",
        };
        foreach (var (key, value) in settings)
        {
            _settings[key] = value;
        }
    }

    public string Database { get; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
    }

    /// <summary>Starts the host and waits until it is healthy: the queue is bound and the database migrated.</summary>
    public async Task<RelayHost> StartAsync()
    {
        using var client = CreateClient();
        await Eventually.ReturnsAsync(async () =>
        {
            using var response = await client.GetAsync("/health");
            return response.StatusCode;
        }, status => status == System.Net.HttpStatusCode.OK, because: "the Relay becomes healthy");
        return this;
    }

    public async Task<T> ScalarAsync<T>(string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }
}

/// <summary>Builds subscriber definitions as configuration keys.</summary>
public sealed class SubscriberConfig
{
    private readonly List<KeyValuePair<string, string?>> _settings = [];
    private int _count;

    public SubscriberConfig Add(string name, Uri url, string? secret = null, int? maxAttempts = null, string? baseDelay = null,
        string? maxDelay = null, int? maxConcurrency = null, params (string Field, string[] Values)[] filter)
    {
        var prefix = $"Relay:Subscribers:{_count++}";
        Set($"{prefix}:Name", name);
        Set($"{prefix}:Url", url.ToString());
        Set($"{prefix}:Secret", secret);
        Set($"{prefix}:Retry:MaxAttempts", maxAttempts?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Set($"{prefix}:Retry:BaseDelay", baseDelay);
        Set($"{prefix}:Retry:MaxDelay", maxDelay);
        Set($"{prefix}:MaxConcurrency", maxConcurrency?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var (field, values) in filter)
        {
            for (var i = 0; i < values.Length; i++)
            {
                Set($"{prefix}:Filter:{field}:{i}", values[i]);
            }
        }

        return this;
    }

    public IEnumerable<KeyValuePair<string, string?>> Settings => _settings;

    private void Set(string key, string? value)
    {
        if (value is not null)
        {
            _settings.Add(new(key, value));
        }
    }
}

/// <summary>Publishes event messages the way the Receiver does.</summary>
public sealed class EventSender : IAsyncDisposable
{
    private readonly IBusControl _bus;

    private EventSender(IBusControl bus) => _bus = bus;

    /// <param name="topologyPrefix">The Relay's <c>Messaging:TopologyPrefix</c>, so only that Relay sees these events.</param>
    public static async Task<EventSender> StartAsync(string connectionString, string topologyPrefix)
    {
        var bus = Bus.Factory.CreateUsingRabbitMq(rabbit =>
        {
            rabbit.Host(new Uri(connectionString));
            rabbit.UseTopologyPrefix(topologyPrefix);
        });
        await bus.StartAsync();
        return new EventSender(bus);
    }

    public Task SendAsync(ReceivedEvent e)
    {
        var message = Events.Message(e);
        return _bus.Publish(message, message.GetType(), context => context.MessageId = EventIdentity.MessageId(e.Type, e.Id));
    }

    public async ValueTask DisposeAsync() => await _bus.StopAsync();
}
