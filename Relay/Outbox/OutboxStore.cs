using Aspire.Webhooks.Contracts;
using Npgsql;

namespace Aspire.Webhooks.Relay.Outbox;

/// <summary>A delivery claimed for one attempt, with what the request needs.</summary>
public sealed record ClaimedDelivery(
    Guid Id,
    int Attempt,
    Guid SubscriberId,
    string EventType,
    string EventId,
    string DealerUuid,
    byte[] Body,
    string? TraceParent);

/// <summary>The result of one attempt, as recorded.</summary>
public sealed record AttemptRecord(
    Guid DeliveryId,
    int Attempt,
    DateTimeOffset StartedAt,
    TimeSpan Duration,
    int? StatusCode,
    string? Error,
    string? ResponseExcerpt);

/// <summary>The <c>events</c>, <c>deliveries</c> and <c>delivery_attempts</c> tables.</summary>
public sealed class OutboxStore(NpgsqlDataSource database, TimeProvider time)
{
    /// <summary>The channel a commit of new deliveries notifies, with the subscriber's id as payload.</summary>
    public const string DeliveriesChannel = "relay_deliveries";

    /// <summary>
    /// Stores the event once and one pending delivery per matching subscriber, in one transaction. A second arrival
    /// of the same (type, id) changes nothing. Returns how many deliveries were created, or null for a duplicate.
    /// </summary>
    public async Task<int?> StoreAsync(ReceivedEvent received, IReadOnlyList<Guid> subscriberIds, string? traceParent,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        await using var insertEvent = new NpgsqlCommand("""
            insert into events (event_type, event_id, timestamp_ms, dealer_uuid, department_uuid, entity_id, order_number,
                                appointment_event, appointment_status, body, traceparent, received_at, stored_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            on conflict (event_type, event_id) do nothing
            returning id
            """, connection, transaction);
        var routing = received.Routing;
        insertEvent.Parameters.AddWithValue(received.Type);
        insertEvent.Parameters.AddWithValue(received.Id);
        insertEvent.Parameters.AddWithValue(received.Timestamp);
        insertEvent.Parameters.AddWithValue(received.DealerUuid);
        insertEvent.Parameters.AddWithValue((object?)routing.DepartmentUuid ?? DBNull.Value);
        insertEvent.Parameters.AddWithValue((object?)routing.EntityId ?? DBNull.Value);
        insertEvent.Parameters.AddWithValue((object?)routing.OrderNumber ?? DBNull.Value);
        insertEvent.Parameters.AddWithValue((object?)routing.AppointmentEvent ?? DBNull.Value);
        insertEvent.Parameters.AddWithValue((object?)routing.AppointmentStatus ?? DBNull.Value);
        insertEvent.Parameters.AddWithValue(received.Body);
        insertEvent.Parameters.AddWithValue((object?)traceParent ?? DBNull.Value);
        insertEvent.Parameters.AddWithValue(received.ReceivedAt);
        insertEvent.Parameters.AddWithValue(now);
        var eventPk = await insertEvent.ExecuteScalarAsync(cancellationToken);

        if (eventPk is not long pk)
        {
            // Already stored by an earlier arrival: its deliveries exist (or were made and finished).
            await transaction.CommitAsync(cancellationToken);
            return null;
        }

        if (subscriberIds.Count > 0)
        {
            await using var insertDeliveries = new NpgsqlBatch(connection, transaction)
            {
                BatchCommands =
                {
                    Command("""
                        insert into deliveries (id, event_pk, subscriber_id, status, next_attempt_at, created_at)
                        select d.id, $1, d.subscriber_id, 'pending', $4, $4
                        from unnest($2::uuid[], $3::uuid[]) as d(id, subscriber_id)
                        """, pk, subscriberIds.Select(_ => Guid.CreateVersion7(now)).ToArray(), subscriberIds.ToArray(), now),
                    // Delivered on commit, so a dispatcher never wakes for rows it cannot see yet.
                    Command($"select pg_notify('{DeliveriesChannel}', s::text) from unnest($1::uuid[]) as s",
                        subscriberIds.ToArray()),
                },
            };
            await insertDeliveries.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return subscriberIds.Count;
    }

    /// <summary>
    /// Claims up to <paramref name="limit"/> due deliveries of one subscriber for one attempt each. Rows locked by
    /// another replica are skipped, and a claimed row is pushed a lease into the future, so no other replica makes
    /// the same attempt while this one is at it.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedDelivery>> ClaimAsync(Guid subscriberId, int limit, TimeSpan lease,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var command = database.CreateCommand("""
            with due as (
                select id from deliveries
                where subscriber_id = $1 and status = 'pending' and next_attempt_at <= $2
                order by next_attempt_at, id
                limit $3
                for update skip locked
            ), claimed as (
                update deliveries d set attempts = d.attempts + 1, next_attempt_at = $4
                from due where d.id = due.id
                returning d.id, d.attempts, d.event_pk
            )
            select c.id, c.attempts, e.event_type, e.event_id, e.dealer_uuid, e.body, e.traceparent
            from claimed c join events e on e.id = c.event_pk
            order by c.id
            """);
        command.Parameters.AddWithValue(subscriberId);
        command.Parameters.AddWithValue(now);
        command.Parameters.AddWithValue(limit);
        command.Parameters.AddWithValue(now + lease);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var claimed = new List<ClaimedDelivery>(limit);
        while (await reader.ReadAsync(cancellationToken))
        {
            claimed.Add(new ClaimedDelivery(reader.GetGuid(0), reader.GetInt32(1), subscriberId, reader.GetString(2),
                reader.GetString(3), reader.GetString(4), (byte[])reader[5], reader.IsDBNull(6) ? null : reader.GetString(6)));
        }

        return claimed;
    }

    /// <summary>When the subscriber's next pending delivery falls due, or null when it has none.</summary>
    public async Task<DateTimeOffset?> NextDueAsync(Guid subscriberId, CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand(
            "select min(next_attempt_at) from deliveries where subscriber_id = $1 and status = 'pending'");
        command.Parameters.AddWithValue(subscriberId);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is DateTime due ? new DateTimeOffset(due, TimeSpan.Zero) : null;
    }

    /// <summary>
    /// Records an attempt and moves its delivery on. The update is fenced by the attempt number, so a replica
    /// whose lease ran out cannot overwrite the outcome of the one that took the delivery over.
    /// </summary>
    public async Task<bool> CompleteAsync(AttemptRecord attempt, string status, DateTimeOffset? nextAttemptAt,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(Command("""
            insert into delivery_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_excerpt)
            values ($1, $2, $3, $4, $5, $6, $7)
            """, attempt.DeliveryId, attempt.Attempt, attempt.StartedAt, attempt.Duration.TotalMilliseconds,
            (object?)attempt.StatusCode ?? DBNull.Value, (object?)attempt.Error ?? DBNull.Value,
            (object?)attempt.ResponseExcerpt ?? DBNull.Value));
        batch.BatchCommands.Add(Command("""
            update deliveries set
                status = $3,
                next_attempt_at = coalesce($4, next_attempt_at),
                last_status_code = $5,
                last_error = $6,
                delivered_at = case when $3 = 'delivered' then $7 else delivered_at end,
                dead_at = case when $3 = 'dead' then $7 else dead_at end
            where id = $1 and attempts = $2 and status = 'pending'
            """, attempt.DeliveryId, attempt.Attempt, status, (object?)nextAttemptAt ?? DBNull.Value,
            (object?)attempt.StatusCode ?? DBNull.Value, (object?)attempt.Error ?? DBNull.Value, now));
        await batch.ExecuteNonQueryAsync(cancellationToken);
        var updated = batch.BatchCommands[1].RecordsAffected == 1;
        if (updated)
        {
            await transaction.CommitAsync(cancellationToken);
        }

        // A stale attempt leaves no trace: the replica that took the delivery over records its own.
        return updated;
    }

    internal static NpgsqlBatchCommand Command(string sql, params object[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        return command;
    }
}
