using Aspire.Webhooks.TestSupport;
using Npgsql;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>
/// What a Relay test needs of its own: a database, a queue (and topology prefix), a subscriber sink and an event
/// sender; disposing removes them along with every Relay, in-process or child process, the test started.
/// </summary>
public sealed class RelayScenario(RabbitMqServer rabbit, PostgresServer postgres) : IAsyncLifetime
{
    public const string Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    private readonly List<IAsyncDisposable> _owned = [];

    public string Queue { get; } = RabbitMqServer.UniqueQueueName("relay-tests");

    /// <summary>Connection string of this test's database, direct (not through any proxy).</summary>
    public string Database { get; private set; } = string.Empty;

    public SubscriberSink Sink { get; private set; } = null!;

    public EventSender Sender { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // The server is shared (with benchmarks, too): a Relay's pool is kept well under max_connections.
        Database = new NpgsqlConnectionStringBuilder(await postgres.CreateDatabaseAsync("relay_tests")) { MaxPoolSize = 20 }
            .ConnectionString;
        Sink = await SubscriberSink.StartAsync();
        Sender = await EventSender.StartAsync(rabbit.ConnectionString, Queue + ".");
    }

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }

        await Sender.DisposeAsync();
        await Sink.DisposeAsync();
        await rabbit.DeleteQueueAsync(Queue);
        await rabbit.DeleteQueueAsync(Queue + "_error");
        await PostgresServer.DropDatabaseAsync(Database);
    }

    /// <summary>Disposed with the scenario, before the database is dropped.</summary>
    public T Own<T>(T disposable) where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    /// <summary>An in-process Relay; <paramref name="settings"/> may override any key, the database's too.</summary>
    public Task<RelayHost> StartRelayAsync(IEnumerable<KeyValuePair<string, string?>> settings) =>
        Own(new RelayHost(rabbit.ConnectionString, Database, Queue, settings)).StartAsync();

    /// <summary>The settings a Relay child process needs to use this scenario's broker, queue and database.</summary>
    public IEnumerable<KeyValuePair<string, string?>> ProcessSettings(IEnumerable<KeyValuePair<string, string?>> settings) =>
        new Dictionary<string, string?>
        {
            ["ConnectionStrings:messaging"] = rabbit.ConnectionString,
            ["ConnectionStrings:relaydb"] = Database,
            ["Messaging:EventsQueue"] = Queue,
            ["Messaging:TopologyPrefix"] = Queue + ".",
        }.Concat(settings);

    /// <summary>Messages MassTransit moved to the queue's error queue: events the Relay gave up on.</summary>
    public async Task<uint> FaultedMessagesAsync() => await rabbit.MessageCountAsync(Queue + "_error") ?? 0;

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async Task<List<(T1, T2)>> RowsAsync<T1, T2>(string sql)
    {
        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(T1, T2)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetFieldValue<T1>(0), reader.GetFieldValue<T2>(1)));
        }

        return rows;
    }
}
