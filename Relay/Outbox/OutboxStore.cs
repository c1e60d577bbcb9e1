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

/// <summary>What one claim found: the deliveries claimed, and when the subscriber's next pending delivery falls due.</summary>
public sealed record ClaimResult(IReadOnlyList<ClaimedDelivery> Claimed, DateTimeOffset? NextDue);

/// <summary>An attempt to record and where it leaves its delivery: the status and, while pending, the next attempt time.</summary>
public sealed record AttemptOutcome(AttemptRecord Attempt, string Status, DateTimeOffset? NextAttemptAt);

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
public sealed class OutboxStore(NpgsqlDataSource database, TimeProvider time) : IAsyncDisposable, IDisposable
{
    private readonly DeliveryNotifier _notifier = new(database);

    /// <summary>The channel a commit of new deliveries notifies, with the subscriber's id as payload.</summary>
    public const string DeliveriesChannel = "relay_deliveries";

    /// <summary>
    /// Stores the event once and one pending delivery per matching subscriber, atomically. A second arrival
    /// of the same (type, id) changes nothing. Returns how many deliveries were created, or null for a duplicate.
    /// </summary>
    /// <remarks>
    /// One statement, so one round trip and one commit: the event insert and the delivery inserts that depend on it
    /// succeed or fail together. The lanes are notified after the commit, by <see cref="DeliveryNotifier"/>: a
    /// NOTIFY inside this transaction would serialise every consumer's commit behind one lock, fsync included.
    /// </remarks>
    public async Task<int?> StoreAsync(ReceivedEvent received, IReadOnlyList<Guid> subscriberIds, string? traceParent,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var command = database.CreateCommand("""
            with stored as (
                insert into events (event_type, event_id, timestamp_ms, dealer_uuid, department_uuid, entity_id, order_number,
                                    appointment_event, appointment_status, body, traceparent, received_at, stored_at)
                values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                on conflict (event_type, event_id) do nothing
                returning id
            ), created as (
                insert into deliveries (id, event_pk, subscriber_id, status, next_attempt_at, created_at)
                select d.id, stored.id, d.subscriber_id, 'pending', $13, $13
                from stored cross join unnest($14::uuid[], $15::uuid[]) as d(id, subscriber_id)
                returning subscriber_id
            )
            select (select count(*) from stored), (select count(*) from created)
            """);
        var routing = received.Routing;
        var parameters = command.Parameters;
        parameters.AddWithValue(received.Type);
        parameters.AddWithValue(received.Id);
        parameters.AddWithValue(received.Timestamp);
        parameters.AddWithValue(received.DealerUuid);
        parameters.AddWithValue((object?)routing.DepartmentUuid ?? DBNull.Value);
        parameters.AddWithValue((object?)routing.EntityId ?? DBNull.Value);
        parameters.AddWithValue((object?)routing.OrderNumber ?? DBNull.Value);
        parameters.AddWithValue((object?)routing.AppointmentEvent ?? DBNull.Value);
        parameters.AddWithValue((object?)routing.AppointmentStatus ?? DBNull.Value);
        parameters.AddWithValue(received.Body);
        parameters.AddWithValue((object?)traceParent ?? DBNull.Value);
        parameters.AddWithValue(received.ReceivedAt);
        parameters.AddWithValue(now);
        parameters.AddWithValue(subscriberIds.Select(_ => Guid.CreateVersion7(now)).ToArray());
        parameters.AddWithValue(subscriberIds.ToArray());

        int? created;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            // Already stored by an earlier arrival: its deliveries exist (or were made and finished).
            created = reader.GetInt64(0) == 0 ? null : (int)reader.GetInt64(1);
        }

        if (created > 0)
        {
            _notifier.Notify(subscriberIds);
        }

        return created;
    }

    /// <summary>
    /// Claims up to <paramref name="limit"/> due deliveries of one subscriber for one attempt each. Rows locked by
    /// another replica are skipped, and a claimed row is pushed a lease into the future, so no other replica makes
    /// the same attempt while this one is at it. In the same round trip it reads when the subscriber's next pending
    /// delivery falls due (claimed ones included, at their lease's end), or null when it has none.
    /// </summary>
    public async Task<ClaimResult> ClaimAsync(Guid subscriberId, int limit, TimeSpan lease, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var batch = database.CreateBatch();
        batch.BatchCommands.Add(Command("""
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
            """, subscriberId, now, limit, now + lease));
        batch.BatchCommands.Add(Command(
            "select min(next_attempt_at) from deliveries where subscriber_id = $1 and status = 'pending'", subscriberId));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var claimed = new List<ClaimedDelivery>(limit);
        while (await reader.ReadAsync(cancellationToken))
        {
            claimed.Add(new ClaimedDelivery(reader.GetGuid(0), reader.GetInt32(1), subscriberId, reader.GetString(2),
                reader.GetString(3), reader.GetString(4), (byte[])reader[5], reader.IsDBNull(6) ? null : reader.GetString(6)));
        }

        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        DateTimeOffset? nextDue = reader.IsDBNull(0) ? null : reader.GetFieldValue<DateTimeOffset>(0);
        return new ClaimResult(claimed, nextDue);
    }

    /// <summary>
    /// Records attempts and moves their deliveries on, all in one statement (one commit for the lot). Each update is
    /// fenced by the attempt number, so a replica whose lease ran out cannot overwrite the outcome of the one that took
    /// the delivery over; a stale attempt leaves no trace, its attempt row included. Returns, per outcome in order,
    /// whether it was recorded.
    /// </summary>
    public async Task<bool[]> CompleteAsync(IReadOnlyList<AttemptOutcome> outcomes, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var command = database.CreateCommand("""
            with outcome as (
                select * from unnest($1::int[], $2::uuid[], $3::int[], $4::text[], $5::timestamptz[], $6::int[], $7::text[],
                                     $8::timestamptz[], $9::float8[], $10::text[])
                    as o(n, id, attempt, status, next_attempt_at, status_code, error, started_at, duration_ms, excerpt)
            ), updated as (
                update deliveries d set
                    status = o.status,
                    next_attempt_at = coalesce(o.next_attempt_at, d.next_attempt_at),
                    last_status_code = o.status_code,
                    last_error = o.error,
                    delivered_at = case when o.status = 'delivered' then $11 else d.delivered_at end,
                    dead_at = case when o.status = 'dead' then $11 else d.dead_at end
                from outcome o
                where d.id = o.id and d.attempts = o.attempt and d.status = 'pending'
                returning o.n
            ), recorded as (
                insert into delivery_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_excerpt)
                select o.id, o.attempt, o.started_at, o.duration_ms, o.status_code, o.error, o.excerpt
                from outcome o join updated u on u.n = o.n
            )
            select n from updated
            """);
        var count = outcomes.Count;
        var parameters = command.Parameters;
        parameters.AddWithValue(Enumerable.Range(0, count).ToArray());
        parameters.AddWithValue(outcomes.Select(o => o.Attempt.DeliveryId).ToArray());
        parameters.AddWithValue(outcomes.Select(o => o.Attempt.Attempt).ToArray());
        parameters.AddWithValue(outcomes.Select(o => o.Status).ToArray());
        parameters.AddWithValue(outcomes.Select(o => o.NextAttemptAt).ToArray());
        parameters.AddWithValue(outcomes.Select(o => o.Attempt.StatusCode).ToArray());
        parameters.AddWithValue(outcomes.Select(o => o.Attempt.Error).ToArray());
        parameters.AddWithValue(outcomes.Select(o => o.Attempt.StartedAt).ToArray());
        parameters.AddWithValue(outcomes.Select(o => o.Attempt.Duration.TotalMilliseconds).ToArray());
        parameters.AddWithValue(outcomes.Select(o => o.Attempt.ResponseExcerpt).ToArray());
        parameters.AddWithValue(now);

        var recorded = new bool[count];
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            recorded[reader.GetInt32(0)] = true;
        }

        return recorded;
    }

    public ValueTask DisposeAsync() => _notifier.DisposeAsync();

    // A container disposed synchronously still lets the last notifications go out.
    public void Dispose() => _notifier.DisposeAsync().AsTask().GetAwaiter().GetResult();

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
