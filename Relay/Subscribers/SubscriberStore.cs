using System.Text.Json;
using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.Relay.Routing;
using Npgsql;
using NpgsqlTypes;

namespace Aspire.Webhooks.Relay.Subscribers;

/// <summary>The <c>subscribers</c> table.</summary>
public sealed class SubscriberStore(NpgsqlDataSource database, TimeProvider time)
{
    /// <summary>Notified on every change, so each replica's dispatcher re-reads the subscribers at once.</summary>
    public const string ChangesChannel = "relay_subscribers";

    private const string Columns = """
        id, name, url, secret, filter, retry_max_attempts, retry_base_delay_ms, retry_max_delay_ms,
        max_concurrency, state, state_reason, managed_by_config
        """;

    public async Task<IReadOnlyList<Subscriber>> ListAsync(CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand($"select {Columns} from subscribers order by name");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var subscribers = new List<Subscriber>();
        while (await reader.ReadAsync(cancellationToken))
        {
            subscribers.Add(Read(reader));
        }

        return subscribers;
    }

    public async Task<Subscriber?> FindByNameAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand($"select {Columns} from subscribers where name = $1");
        command.Parameters.AddWithValue(name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    /// <summary>Creates the subscriber, or updates the one with its name; keeps the stored secret when none is given.</summary>
    public async Task<Subscriber> UpsertAsync(Subscriber subscriber, bool keepStoredSecret, CancellationToken cancellationToken)
    {
        await using var batch = database.CreateBatch();
        batch.BatchCommands.Add(OutboxStore.Command($"select pg_notify('{ChangesChannel}', $1)", subscriber.Name));
        var command = new NpgsqlBatchCommand($"""
            insert into subscribers ({Columns}, created_at, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
            on conflict (name) do update set
                url = excluded.url,
                secret = case when $14 then subscribers.secret else excluded.secret end,
                filter = excluded.filter,
                retry_max_attempts = excluded.retry_max_attempts,
                retry_base_delay_ms = excluded.retry_base_delay_ms,
                retry_max_delay_ms = excluded.retry_max_delay_ms,
                max_concurrency = excluded.max_concurrency,
                managed_by_config = excluded.managed_by_config,
                updated_at = excluded.updated_at
            returning {Columns}
            """);
        batch.BatchCommands.Add(command);
        command.Parameters.AddWithValue(subscriber.Id);
        command.Parameters.AddWithValue(subscriber.Name);
        command.Parameters.AddWithValue(subscriber.Url.ToString());
        command.Parameters.AddWithValue(subscriber.Secret);
        command.Parameters.AddWithValue(NpgsqlDbType.Jsonb, JsonSerializer.Serialize(subscriber.Filter));
        command.Parameters.AddWithValue(subscriber.Retry.MaxAttempts);
        command.Parameters.AddWithValue((long)subscriber.Retry.BaseDelay.TotalMilliseconds);
        command.Parameters.AddWithValue((long)subscriber.Retry.MaxDelay.TotalMilliseconds);
        command.Parameters.AddWithValue(subscriber.MaxConcurrency);
        command.Parameters.AddWithValue(ToText(subscriber.State));
        command.Parameters.AddWithValue((object?)subscriber.StateReason ?? DBNull.Value);
        command.Parameters.AddWithValue(subscriber.ManagedByConfiguration);
        command.Parameters.AddWithValue(time.GetUtcNow());
        command.Parameters.AddWithValue(keepStoredSecret);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return Read(reader);
    }

    public async Task SetStateAsync(Guid id, SubscriberState state, string? reason, CancellationToken cancellationToken)
    {
        await using var batch = database.CreateBatch();
        batch.BatchCommands.Add(OutboxStore.Command(
            "update subscribers set state = $2, state_reason = $3, updated_at = $4 where id = $1",
            id, ToText(state), (object?)reason ?? DBNull.Value, time.GetUtcNow()));
        batch.BatchCommands.Add(OutboxStore.Command($"select pg_notify('{ChangesChannel}', $1::text)", id));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    private static Subscriber Read(NpgsqlDataReader reader) => new()
    {
        Id = reader.GetGuid(0),
        Name = reader.GetString(1),
        Url = new Uri(reader.GetString(2)),
        Secret = reader.GetString(3),
        Filter = JsonSerializer.Deserialize<SubscriberFilter>(reader.GetString(4))!,
        Retry = new RetryPolicy
        {
            MaxAttempts = reader.GetInt32(5),
            BaseDelay = TimeSpan.FromMilliseconds(reader.GetInt64(6)),
            MaxDelay = TimeSpan.FromMilliseconds(reader.GetInt64(7)),
        },
        MaxConcurrency = reader.GetInt32(8),
        State = Enum.Parse<SubscriberState>(reader.GetString(9), ignoreCase: true),
        StateReason = reader.IsDBNull(10) ? null : reader.GetString(10),
        ManagedByConfiguration = reader.GetBoolean(11),
    };

    private static string ToText(SubscriberState state) => state.ToString().ToLowerInvariant();
}
