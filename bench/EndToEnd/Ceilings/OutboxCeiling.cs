using System.Diagnostics;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.EndToEndBench.Load;
using Aspire.Webhooks.LoadGen.Workload;
using Aspire.Webhooks.Relay.Outbox;
using HdrHistogram;
using Npgsql;

namespace Aspire.Webhooks.EndToEndBench.Ceilings;

/// <summary>The outbox ceiling: how many events/s PostgreSQL stores with the Relay's statements and concurrency.</summary>
public sealed record OutboxCeilingResult(int Writers, double DeliveriesPerEvent, double MeasuredSeconds, long Stored,
    double StoredPerSecond, Percentiles Latency);

/// <summary>
/// Stores events with the Relay's own <see cref="EventWriter"/> and <see cref="OutboxStore"/> - the same statements, the
/// same grouping into one transaction per group - from as many writers as the Relay's consumer runs at once, into a schema of its own in the bench database built
/// from the Relay's migrations. Each event gets the deliveries its type got in the load runs, so the fan-out is the
/// measured one. Nothing else writes meanwhile: this is what the outbox alone can take on this machine.
/// </summary>
public static class OutboxCeiling
{
    private const string Schema = "outbox_ceiling";

    public static async Task<OutboxCeilingResult> RunAsync(string connectionString, string migrationsDirectory,
        SampleEvents samples, int writers, TimeSpan warmUp, TimeSpan duration, CancellationToken cancellationToken)
    {
        await using var admin = NpgsqlDataSource.Create(connectionString);
        var fanOut = await ObservedFanOutAsync(admin, cancellationToken);
        await CreateSchemaAsync(admin, migrationsDirectory, cancellationToken);
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString) { SearchPath = Schema };
            await using var database = NpgsqlDataSource.Create(builder.ConnectionString);
            var subscribers = await CeilingSubscribersAsync(database, cancellationToken);
            var routes = fanOut.ToDictionary(f => f.Key,
                f => (IReadOnlyList<Guid>)[.. f.Value.Select(name => subscribers[name])], StringComparer.Ordinal);
            await using var store = new OutboxStore(database, TimeProvider.System);
            await using var writer = new EventWriter(store, writers);

            var phase = LoadPhase.StartingNow("outbox", warmUp, duration);
            var latency = new LongConcurrentHistogram(1, 60_000_000, 3);
            long stored = 0, deliveries = 0;
            await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
            {
                while (Stopwatch.GetTimestamp() < phase.End)
                {
                    var received = Event(samples.Next());
                    var targets = routes.GetValueOrDefault(received.Type) ?? [];
                    var started = Stopwatch.GetTimestamp();
                    await writer.StoreAsync(new EventToStore(received, targets, null), cancellationToken);
                    if (started >= phase.MeasureFrom)
                    {
                        Interlocked.Increment(ref stored);
                        Interlocked.Add(ref deliveries, targets.Count);
                        latency.RecordValue(Math.Max(1, Stopwatch.GetElapsedTime(started).Ticks / 10));
                    }
                }
            }, cancellationToken)));

            var seconds = LoadPhase.Seconds(Stopwatch.GetTimestamp() - phase.MeasureFrom);
            return new OutboxCeilingResult(writers, stored == 0 ? 0 : Math.Round((double)deliveries / stored, 2),
                Math.Round(seconds, 2), stored, Math.Round(stored / seconds, 1), Percentiles.From(latency));
        }
        finally
        {
            await using var drop = admin.CreateCommand($"drop schema if exists {Schema} cascade");
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    /// <summary>Per event type, the subscribers its events were delivered to in the load runs.</summary>
    private static async Task<Dictionary<string, string[]>> ObservedFanOutAsync(NpgsqlDataSource database,
        CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand("""
            select e.event_type, array_agg(distinct s.name order by s.name)
            from public.deliveries d
            join public.events e on e.id = d.event_pk
            join public.subscribers s on s.id = d.subscriber_id
            group by e.event_type
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var fanOut = new Dictionary<string, string[]>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            fanOut[reader.GetString(0)] = reader.GetFieldValue<string[]>(1);
        }

        return fanOut;
    }

    private static async Task CreateSchemaAsync(NpgsqlDataSource database, string migrationsDirectory,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using (var create = new NpgsqlCommand($"drop schema if exists {Schema} cascade; create schema {Schema}; set search_path = {Schema}", connection))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        foreach (var script in Directory.GetFiles(migrationsDirectory, "*.sql").Order(StringComparer.Ordinal))
        {
            await using var migrate = new NpgsqlCommand(await File.ReadAllTextAsync(script, cancellationToken), connection);
            await migrate.ExecuteNonQueryAsync(cancellationToken);
        }

        // The Relay's subscribers under new ids, so the notifications these commits send wake none of its lanes.
        await using var copy = new NpgsqlCommand($"""
            insert into {Schema}.subscribers select * from public.subscribers;
            update {Schema}.subscribers set id = gen_random_uuid();
            set search_path to default;
            """, connection);
        await copy.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<Dictionary<string, Guid>> CeilingSubscribersAsync(NpgsqlDataSource database,
        CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand("select name, id from subscribers");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new Dictionary<string, Guid>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids[reader.GetString(0)] = reader.GetGuid(1);
        }

        return ids;
    }

    private static ReceivedEvent Event(SignedEvent signed)
    {
        var type = signed.Sample switch
        {
            "customer" => EventTypes.Customers,
            "appointment" => EventTypes.Appointments,
            "service-order" => EventTypes.ServiceOrders,
            "mpi" => EventTypes.Mpis,
            var other => other,
        };
        const string dealer = "cb731d36fd635ddd6ef8dd43500892b0c0249d1c01a46dbcc445a809c0a8e3b2";
        return new ReceivedEvent
        {
            Id = WebhookPoster.TopLevelId(signed.Body),
            Type = type,
            Timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            DealerUuid = dealer,
            Routing = new EventRouting { DealerUuid = dealer },
            ReceivedAt = DateTimeOffset.UtcNow,
            Body = signed.Body,
        };
    }
}
