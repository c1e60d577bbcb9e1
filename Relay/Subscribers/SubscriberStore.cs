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
        max_concurrency, state, state_reason, managed_by_config, previous_secret, previous_secret_expires_at,
        secret_from_config, rate_limit_per_second, ordering, drop_stale, coalesce_window_ms, last_success_at, failing_since
        """;

    /// <summary>The columns a definition sets, in the order of <see cref="Columns"/> up to <c>coalesce_window_ms</c>.</summary>
    private const string InsertColumns = """
        id, name, url, secret, filter, retry_max_attempts, retry_base_delay_ms, retry_max_delay_ms,
        max_concurrency, state, state_reason, managed_by_config, secret_from_config, rate_limit_per_second, ordering,
        drop_stale, coalesce_window_ms
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
            insert into subscribers ({InsertColumns}, created_at, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)
            on conflict (name) do update set
                url = excluded.url,
                secret = case when $19 then subscribers.secret else excluded.secret end,
                filter = excluded.filter,
                retry_max_attempts = excluded.retry_max_attempts,
                retry_base_delay_ms = excluded.retry_base_delay_ms,
                retry_max_delay_ms = excluded.retry_max_delay_ms,
                max_concurrency = excluded.max_concurrency,
                managed_by_config = excluded.managed_by_config,
                secret_from_config = excluded.secret_from_config,
                rate_limit_per_second = excluded.rate_limit_per_second,
                ordering = excluded.ordering,
                drop_stale = excluded.drop_stale,
                coalesce_window_ms = excluded.coalesce_window_ms,
                updated_at = excluded.updated_at
            returning {Columns}
            """);
        batch.BatchCommands.Add(command);
        AddDefinitionParameters(command.Parameters, subscriber);
        command.Parameters.AddWithValue(time.GetUtcNow());
        command.Parameters.AddWithValue(keepStoredSecret);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return Read(reader);
    }

    /// <summary>
    /// Hands the subscribers marked as managed by configuration whose names are not in <paramref name="configuredNames"/>
    /// over to the management API: they keep their id, secret, state and deliveries, and may be changed or deleted
    /// there from now on. Returns the subscribers released.
    /// </summary>
    public async Task<IReadOnlyList<(Guid Id, string Name)>> ReleaseFromConfigurationAsync(IReadOnlyCollection<string> configuredNames,
        CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand($"""
            with released as (
                update subscribers set managed_by_config = false, secret_from_config = false, updated_at = $2
                where managed_by_config and not (name = any($1))
                returning id, name
            )
            select id, name, pg_notify('{ChangesChannel}', id::text) from released
            """);
        command.Parameters.AddWithValue(configuredNames.ToArray());
        command.Parameters.AddWithValue(time.GetUtcNow());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var released = new List<(Guid, string)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            released.Add((reader.GetGuid(0), reader.GetString(1)));
        }

        return released;
    }

    /// <summary>Binds $1 to $17: the columns of <see cref="InsertColumns"/>, in order.</summary>
    internal static void AddDefinitionParameters(NpgsqlParameterCollection parameters, Subscriber subscriber)
    {
        parameters.AddWithValue(subscriber.Id);
        parameters.AddWithValue(subscriber.Name);
        parameters.AddWithValue(subscriber.Url.ToString());
        parameters.AddWithValue(subscriber.Secret);
        parameters.AddWithValue(NpgsqlDbType.Jsonb, JsonSerializer.Serialize(subscriber.Filter));
        parameters.AddWithValue(subscriber.Retry.MaxAttempts);
        parameters.AddWithValue((long)subscriber.Retry.BaseDelay.TotalMilliseconds);
        parameters.AddWithValue((long)subscriber.Retry.MaxDelay.TotalMilliseconds);
        parameters.AddWithValue(subscriber.MaxConcurrency);
        parameters.AddWithValue(ToText(subscriber.State));
        parameters.AddWithValue((object?)subscriber.StateReason ?? DBNull.Value);
        parameters.AddWithValue(subscriber.ManagedByConfiguration);
        parameters.AddWithValue(subscriber.SecretFromConfiguration);
        parameters.AddWithValue(NpgsqlDbType.Double, (object?)subscriber.RateLimitPerSecond ?? DBNull.Value);
        parameters.AddWithValue(ToText(subscriber.Ordering));
        parameters.AddWithValue(subscriber.DropStale);
        parameters.AddWithValue((long)subscriber.CoalesceWindow.TotalMilliseconds);
    }

    public async Task SetStateAsync(Guid id, SubscriberState state, string? reason, CancellationToken cancellationToken)
    {
        await using var batch = database.CreateBatch();
        batch.BatchCommands.Add(OutboxStore.Command(
            """
            update subscribers set state = $2, state_reason = $3, updated_at = $4,
                failing_since = case when $2 = 'active' then null else failing_since end
            where id = $1
            """,
            id, ToText(state), (object?)reason ?? DBNull.Value, time.GetUtcNow()));
        batch.BatchCommands.Add(OutboxStore.Command($"select pg_notify('{ChangesChannel}', $1::text)", id));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Keeps <c>last_success_at</c> and <c>failing_since</c> in step with recorded attempts: a success sets the first
    /// and ends any failing streak, a failure starts a streak unless one runs. A row is written only when a value
    /// changes, and <c>last_success_at</c> only once it is <paramref name="resolution"/> old.
    /// </summary>
    public async Task RecordHealthAsync(IEnumerable<(Guid SubscriberId, bool Succeeded)> results, TimeSpan resolution,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var batch = database.CreateBatch();
        // A statement per subscriber, in id order: replicas recording at the same time lock the rows in the same order
        // and so never deadlock, as one statement over several rows could.
        foreach (var (id, succeeded) in results.OrderBy(r => r.SubscriberId))
        {
            batch.BatchCommands.Add(succeeded
                ? OutboxStore.Command("""
                    update subscribers set last_success_at = $2, failing_since = null
                    where id = $1 and (failing_since is not null or last_success_at is null or last_success_at < $3)
                    """, id, now, now - resolution)
                : OutboxStore.Command("update subscribers set failing_since = $2 where id = $1 and failing_since is null", id, now));
        }

        if (batch.BatchCommands.Count > 0)
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Disables an active subscriber and tells every replica, so its lanes stop; its deliveries stay pending. Given
    /// <paramref name="failingSince"/>, only while that failing streak still runs, so a success recorded meanwhile by
    /// another replica wins. True when this call disabled it.
    /// </summary>
    public async Task<bool> DisableAsync(Guid id, string reason, DateTimeOffset? failingSince, CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand($"""
            with disabled as (
                update subscribers set state = 'disabled', state_reason = $2, updated_at = $3
                where id = $1 and state = 'active' and ($4::timestamptz is null or failing_since = $4)
                returning id
            )
            select pg_notify('{ChangesChannel}', id::text) from disabled
            """);
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(reason);
        command.Parameters.AddWithValue(time.GetUtcNow());
        command.Parameters.AddWithValue(NpgsqlDbType.TimestampTz, (object?)failingSince ?? DBNull.Value);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken);
    }

    /// <summary>
    /// The last failure among the subscriber's waiting deliveries (the one retried last), for saying why it is
    /// disabled when this replica has not tried it itself; null when none has failed.
    /// </summary>
    public async Task<(int? StatusCode, string? Error)?> LastFailureAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand("""
            select last_status_code, last_error from deliveries
            where subscriber_id = $1 and status = 'pending' and (last_status_code is not null or last_error is not null)
            order by next_attempt_at desc
            limit 1
            """);
        command.Parameters.AddWithValue(id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? (reader.IsDBNull(0) ? null : reader.GetInt32(0), reader.IsDBNull(1) ? null : reader.GetString(1))
            : null;
    }

    public async Task<Subscriber?> FindAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand($"select {Columns} from subscribers where id = $1");
        command.Parameters.AddWithValue(id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    /// <summary>Creates a subscriber through the management API; a name already taken throws (see <see cref="IsNameTaken"/>).</summary>
    public async Task<Subscriber> CreateAsync(Subscriber subscriber, CancellationToken cancellationToken)
    {
        await using var batch = database.CreateBatch();
        var command = new NpgsqlBatchCommand($"""
            insert into subscribers ({InsertColumns}, created_at, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)
            returning {Columns}
            """);
        AddDefinitionParameters(command.Parameters, subscriber);
        command.Parameters.AddWithValue(time.GetUtcNow());
        batch.BatchCommands.Add(command);
        batch.BatchCommands.Add(OutboxStore.Command($"select pg_notify('{ChangesChannel}', $1::text)", subscriber.Id));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return Read(reader);
    }

    /// <summary>
    /// Replaces the definition of a subscriber not managed by configuration, keeping its state, its id and, when
    /// <paramref name="keepStoredSecret"/>, its secret. A secret given replaces the previous one of a rotation too, so
    /// only the given secret signs from now on. Null when there is no such subscriber.
    /// </summary>
    public async Task<Subscriber?> ReplaceAsync(Guid id, Subscriber definition, bool keepStoredSecret, CancellationToken cancellationToken)
    {
        await using var batch = database.CreateBatch();
        var command = new NpgsqlBatchCommand($"""
            update subscribers set
                name = $2, url = $3, secret = case when $4 then secret else $5 end,
                previous_secret = case when $4 then previous_secret end,
                previous_secret_expires_at = case when $4 then previous_secret_expires_at end,
                filter = $6,
                retry_max_attempts = $7, retry_base_delay_ms = $8, retry_max_delay_ms = $9, max_concurrency = $10,
                rate_limit_per_second = $11, ordering = $12, drop_stale = $13, coalesce_window_ms = $14, updated_at = $15
            where id = $1 and not managed_by_config
            returning {Columns}
            """);
        var parameters = command.Parameters;
        parameters.AddWithValue(id);
        parameters.AddWithValue(definition.Name);
        parameters.AddWithValue(definition.Url.ToString());
        parameters.AddWithValue(keepStoredSecret);
        parameters.AddWithValue(definition.Secret);
        parameters.AddWithValue(NpgsqlDbType.Jsonb, JsonSerializer.Serialize(definition.Filter));
        parameters.AddWithValue(definition.Retry.MaxAttempts);
        parameters.AddWithValue((long)definition.Retry.BaseDelay.TotalMilliseconds);
        parameters.AddWithValue((long)definition.Retry.MaxDelay.TotalMilliseconds);
        parameters.AddWithValue(definition.MaxConcurrency);
        parameters.AddWithValue(NpgsqlDbType.Double, (object?)definition.RateLimitPerSecond ?? DBNull.Value);
        parameters.AddWithValue(ToText(definition.Ordering));
        parameters.AddWithValue(definition.DropStale);
        parameters.AddWithValue((long)definition.CoalesceWindow.TotalMilliseconds);
        parameters.AddWithValue(time.GetUtcNow());
        batch.BatchCommands.Add(command);
        batch.BatchCommands.Add(OutboxStore.Command($"select pg_notify('{ChangesChannel}', $1::text)", id));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    /// <summary>Deletes a subscriber not managed by configuration, and with it its deliveries; false when there is none.</summary>
    public async Task<bool> DeleteAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var batch = database.CreateBatch();
        batch.BatchCommands.Add(OutboxStore.Command("delete from subscribers where id = $1 and not managed_by_config", id));
        batch.BatchCommands.Add(OutboxStore.Command($"select pg_notify('{ChangesChannel}', $1::text)", id));
        await batch.ExecuteNonQueryAsync(cancellationToken);
        return batch.BatchCommands[0].RecordsAffected == 1;
    }

    /// <summary>
    /// Makes <paramref name="secret"/> the signing secret; the one it replaces keeps signing too until
    /// <paramref name="previousExpiresAt"/>. Null when there is no such subscriber or its secret comes from configuration.
    /// </summary>
    public async Task<Subscriber?> RotateSecretAsync(Guid id, string secret, DateTimeOffset previousExpiresAt, CancellationToken cancellationToken)
    {
        await using var batch = database.CreateBatch();
        batch.BatchCommands.Add(OutboxStore.Command($"""
            update subscribers set previous_secret = secret, previous_secret_expires_at = $3, secret = $2, updated_at = $4
            where id = $1 and not secret_from_config
            returning {Columns}
            """, id, secret, previousExpiresAt, time.GetUtcNow()));
        batch.BatchCommands.Add(OutboxStore.Command($"select pg_notify('{ChangesChannel}', $1::text)", id));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    /// <summary>Whether <paramref name="exception"/> says another subscriber already has the name.</summary>
    public static bool IsNameTaken(Exception exception) =>
        exception is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: "subscribers_name_key" };

    internal static Subscriber Read(NpgsqlDataReader reader) => new()
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
        PreviousSecret = reader.IsDBNull(12) ? null : reader.GetString(12),
        PreviousSecretExpiresAt = reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13),
        SecretFromConfiguration = reader.GetBoolean(14),
        RateLimitPerSecond = reader.IsDBNull(15) ? null : reader.GetDouble(15),
        Ordering = reader.GetString(16) == "per_entity" ? DeliveryOrdering.PerEntity : DeliveryOrdering.None,
        DropStale = reader.GetBoolean(17),
        CoalesceWindow = TimeSpan.FromMilliseconds(reader.GetInt64(18)),
        LastSuccessAt = reader.IsDBNull(19) ? null : reader.GetFieldValue<DateTimeOffset>(19),
        FailingSince = reader.IsDBNull(20) ? null : reader.GetFieldValue<DateTimeOffset>(20),
    };

    /// <summary>All the subscriber columns, for queries elsewhere that read whole subscribers with <see cref="Read"/>.</summary>
    internal static string SelectColumns => Columns;

    internal static string ToText(SubscriberState state) => state.ToString().ToLowerInvariant();

    internal static string ToText(DeliveryOrdering ordering) => ordering == DeliveryOrdering.PerEntity ? "per_entity" : "none";
}
