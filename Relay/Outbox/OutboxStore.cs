using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Relay.Subscribers;
using Npgsql;
using NpgsqlTypes;

namespace Aspire.Webhooks.Relay.Outbox;

/// <summary>A delivery claimed for one attempt, with what the request needs.</summary>
/// <param name="Attempt">The attempt's number over the delivery's life; outcomes are fenced by it.</param>
/// <param name="AttemptInRound">The attempt's number since the delivery was created or last replayed; retry limits count this.</param>
public sealed record ClaimedDelivery(
    Guid Id,
    int Attempt,
    int AttemptInRound,
    Guid SubscriberId,
    string EventType,
    string EventId,
    string DealerUuid,
    byte[] Body,
    string? TraceParent);

/// <summary>An event to store, the deliveries it makes, and the trace its deliveries continue.</summary>
public sealed record EventToStore(ReceivedEvent Event, IReadOnlyList<DeliveryTarget> Deliveries, string? TraceParent)
{
    /// <summary>An event going to each of these subscribers, none of them with stream options.</summary>
    public EventToStore(ReceivedEvent @event, IReadOnlyList<Guid> subscriberIds, string? traceParent)
        : this(@event, [.. subscriberIds.Select(id => new DeliveryTarget(id))], traceParent)
    {
    }
}

/// <summary>
/// One delivery to create. <paramref name="EntityKey"/> is set only for a subscriber with stream options and an event
/// about an entity (see <see cref="For"/>); the delivery then carries it and the event's timestamp, and with a
/// <paramref name="CoalesceWindow"/> its first attempt waits for the end of the entity's window.
/// </summary>
public sealed record DeliveryTarget(Guid SubscriberId, string? EntityKey = null, TimeSpan CoalesceWindow = default)
{
    /// <summary>
    /// Set when a lane of this replica holds a slot for the delivery: it is stored with this id already claimed for its
    /// first attempt, for <see cref="ClaimLease"/>, and the lane sends it after the commit. Only for a delivery without an
    /// entity key.
    /// </summary>
    public Guid? ClaimedId { get; init; }

    public TimeSpan ClaimLease { get; init; }

    /// <summary>The delivery of <paramref name="received"/> to <paramref name="subscriber"/>, with the entity it is about when the subscriber's options need it.</summary>
    public static DeliveryTarget For(Subscriber subscriber, ReceivedEvent received) =>
        subscriber.UsesEntityOptions && EntityKeyOf(received) is { } key
            ? new DeliveryTarget(subscriber.Id, key, subscriber.CoalesceWindow)
            : new DeliveryTarget(subscriber.Id);

    /// <summary>
    /// The entity an event is about, as <c>type:entity id</c> (the same as <c>event_type || ':' || entity_id</c> of
    /// the events table), or null for an event without an entity id: such events are never held, skipped or coalesced.
    /// </summary>
    public static string? EntityKeyOf(ReceivedEvent received) =>
        string.IsNullOrEmpty(received.Routing.EntityId) ? null : $"{received.Type}:{received.Routing.EntityId}";
}

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
/// <param name="unsent">Counts and logs deliveries the stream options settle without a request; optional outside the Relay's container.</param>
public sealed class OutboxStore(NpgsqlDataSource database, TimeProvider time, UnsentDeliveries? unsent = null) : IAsyncDisposable, IDisposable
{
    /// <summary>The most deliveries one claim skips as stale, or supersedes, per option; the next claim goes on with the rest.</summary>
    internal const int SettleBatch = 1000;

    private readonly DeliveryNotifier _notifier = new(database);

    /// <summary>The channel a commit of new deliveries notifies, with the subscriber's id as payload.</summary>
    public const string DeliveriesChannel = "relay_deliveries";

    /// <summary>
    /// Stores the event once and one pending delivery per matching subscriber, atomically. A second arrival
    /// of the same (type, id) changes nothing. Returns how many deliveries were created, or null for a duplicate.
    /// </summary>
    public async Task<int?> StoreAsync(ReceivedEvent received, IReadOnlyList<Guid> subscriberIds, string? traceParent,
        CancellationToken cancellationToken) =>
        (await StoreAsync([new EventToStore(received, subscriberIds, traceParent)], cancellationToken))[0];

    /// <summary>
    /// Stores a group of events and their deliveries in one statement, so one round trip and one commit: every event
    /// of the group is stored with all its deliveries, or nothing is. Each event is stored once by (type, id); one
    /// already stored, or named earlier in the same group, creates nothing. Returns, per event in order, how many
    /// deliveries were created, or null for a duplicate.
    /// </summary>
    /// <remarks>
    /// The lanes are notified after the commit, by <see cref="DeliveryNotifier"/>: a NOTIFY inside this transaction
    /// would serialise every commit behind one lock, fsync included. Events are inserted in (type, id) order, so two
    /// replicas storing overlapping groups wait for each other instead of deadlocking.
    /// Deliveries with an entity key are inserted by a statement of their own, so the others keep the plain insert:
    /// an entity delivery carries the key and the event's timestamp, and with a coalescing window its first attempt
    /// is at the end of the entity's open window (that of a not yet attempted delivery of the same entity whose first
    /// attempt is still ahead), or of a new window from now. Anchored at the window's first event, a steady stream of
    /// events about one entity delays each at most one window and never starves the entity.
    /// </remarks>
    public async Task<int?[]> StoreAsync(IReadOnlyList<EventToStore> events, CancellationToken cancellationToken)
    {
        var results = new int?[events.Count];
        // A (type, id) named twice in one group would make ON CONFLICT meet a row of its own statement, which
        // PostgreSQL refuses: only the first is written, the others are duplicates once it commits.
        var unique = new List<EventToStore>(events.Count);
        var first = new Dictionary<(string Type, string Id), int>(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            if (first.TryAdd((events[i].Event.Type, events[i].Event.Id), i))
            {
                unique.Add(events[i]);
            }
        }

        unique.Sort((a, b) => (string.CompareOrdinal(a.Event.Type, b.Event.Type), string.CompareOrdinal(a.Event.Id, b.Event.Id))
            switch { (0, var byId) => byId, (var byType, _) => byType });

        var now = time.GetUtcNow();
        await using var command = database.CreateCommand("""
            with input as (
                select * from unnest($1::int[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                                     $8::text[], $9::text[], $10::text[], $11::bytea[], $12::text[], $13::timestamptz[])
                    with ordinality as i(n, event_type, event_id, timestamp_ms, dealer_uuid, department_uuid, entity_id,
                                         order_number, appointment_event, appointment_status, body, traceparent, received_at, position)
            ), stored as (
                insert into events (event_type, event_id, timestamp_ms, dealer_uuid, department_uuid, entity_id, order_number,
                                    appointment_event, appointment_status, body, traceparent, received_at, stored_at)
                select event_type, event_id, timestamp_ms, dealer_uuid, department_uuid, entity_id, order_number,
                       appointment_event, appointment_status, body, traceparent, received_at, $14
                from input
                order by position
                on conflict (event_type, event_id) do nothing
                returning id, event_type, event_id
            ), created as (
                insert into deliveries (id, event_pk, subscriber_id, status, attempts, next_attempt_at, created_at)
                select d.id, stored.id, d.subscriber_id, 'pending', d.attempts, $14 + d.lease_ms * interval '1 millisecond', $14
                from stored
                join input i on i.event_type = stored.event_type and i.event_id = stored.event_id
                join unnest($15::int[], $16::uuid[], $17::uuid[], $23::int[], $24::bigint[])
                    as d(n, id, subscriber_id, attempts, lease_ms) on d.n = i.n
            ), created_for_entities as (
                insert into deliveries (id, event_pk, subscriber_id, status, next_attempt_at, created_at, entity_key, event_timestamp_ms)
                select d.id, stored.id, d.subscriber_id, 'pending',
                       case when d.coalesce_ms = 0 then $14 else coalesce(
                           (select min(w.next_attempt_at) from deliveries w
                            where w.subscriber_id = d.subscriber_id and w.entity_key = d.entity_key and w.status = 'pending'
                              and w.attempts = w.attempt_base and w.next_attempt_at > $14),
                           $14 + d.coalesce_ms * interval '1 millisecond') end,
                       $14, d.entity_key, i.timestamp_ms
                from stored
                join input i on i.event_type = stored.event_type and i.event_id = stored.event_id
                join unnest($18::int[], $19::uuid[], $20::uuid[], $21::text[], $22::bigint[])
                    as d(n, id, subscriber_id, entity_key, coalesce_ms) on d.n = i.n
            )
            select i.n from stored join input i on i.event_type = stored.event_type and i.event_id = stored.event_id
            """);
        var parameters = command.Parameters;
        parameters.AddWithValue(unique.Select(e => first[(e.Event.Type, e.Event.Id)]).ToArray());
        parameters.AddWithValue(unique.Select(e => e.Event.Type).ToArray());
        parameters.AddWithValue(unique.Select(e => e.Event.Id).ToArray());
        parameters.AddWithValue(unique.Select(e => e.Event.Timestamp).ToArray());
        parameters.AddWithValue(unique.Select(e => e.Event.DealerUuid).ToArray());
        parameters.AddWithValue(unique.Select(e => e.Event.Routing.DepartmentUuid).ToArray());
        parameters.AddWithValue(unique.Select(e => e.Event.Routing.EntityId).ToArray());
        parameters.AddWithValue(unique.Select(e => e.Event.Routing.OrderNumber).ToArray());
        parameters.AddWithValue(unique.Select(e => e.Event.Routing.AppointmentEvent).ToArray());
        parameters.AddWithValue(unique.Select(e => e.Event.Routing.AppointmentStatus).ToArray());
        parameters.Add(new NpgsqlParameter { Value = unique.Select(e => e.Event.Body).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        parameters.AddWithValue(unique.Select(e => e.TraceParent).ToArray());
        parameters.AddWithValue(unique.Select(e => e.Event.ReceivedAt).ToArray());
        parameters.AddWithValue(now);
        var deliveries = unique.SelectMany(e => e.Deliveries.Select(d => (N: first[(e.Event.Type, e.Event.Id)], Target: d))).ToList();
        var plain = deliveries.Where(d => d.Target.EntityKey is null).ToList();
        parameters.AddWithValue(plain.Select(d => d.N).ToArray());
        parameters.AddWithValue(plain.Select(d => d.Target.ClaimedId ?? Guid.CreateVersion7(now)).ToArray());
        parameters.AddWithValue(plain.Select(d => d.Target.SubscriberId).ToArray());
        var forEntities = deliveries.Where(d => d.Target.EntityKey is not null).ToList();
        parameters.AddWithValue(forEntities.Select(d => d.N).ToArray());
        parameters.AddWithValue(forEntities.Select(_ => Guid.CreateVersion7(now)).ToArray());
        parameters.AddWithValue(forEntities.Select(d => d.Target.SubscriberId).ToArray());
        parameters.AddWithValue(forEntities.Select(d => d.Target.EntityKey!).ToArray());
        parameters.AddWithValue(forEntities.Select(d => (long)d.Target.CoalesceWindow.TotalMilliseconds).ToArray());
        // A delivery stored claimed has its first attempt under way: attempt 1, its lease running.
        parameters.AddWithValue(plain.Select(d => d.Target.ClaimedId is null ? 0 : 1).ToArray());
        parameters.AddWithValue(plain.Select(d => d.Target.ClaimedId is null ? 0L : (long)d.Target.ClaimLease.TotalMilliseconds).ToArray());

        var created = new bool[events.Count];
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                created[reader.GetInt32(0)] = true;
            }
        }

        var notify = new HashSet<Guid>();
        for (var i = 0; i < events.Count; i++)
        {
            // Not stored by this group (an earlier arrival was, or an earlier member of the group): a duplicate.
            if (created[i])
            {
                results[i] = events[i].Deliveries.Count;
                // Claimed ones are the lanes' already; only what waits unclaimed needs a claim to be woken.
                notify.UnionWith(events[i].Deliveries.Where(d => d.ClaimedId is null).Select(d => d.SubscriberId));
            }
        }

        if (notify.Count > 0)
        {
            _notifier.Notify(notify);
        }

        return results;
    }

    /// <summary>
    /// Claims up to <paramref name="limit"/> due deliveries of one subscriber for one attempt each. Rows locked by
    /// another replica are skipped, and a claimed row is pushed a lease into the future, so no other replica makes
    /// the same attempt while this one is at it. In the same round trip it reads when the subscriber's next pending
    /// delivery falls due (claimed ones included, at their lease's end), or null when it has none.
    /// </summary>
    /// <remarks>
    /// A subscriber with stream options gets the same round trip, with its options applied first, each statement
    /// seeing the one before (a batch is one transaction, and each statement takes a new snapshot):
    /// <list type="bullet">
    /// <item><c>DropStale</c>: due deliveries older than one already delivered about the same entity become <c>skipped</c>.</item>
    /// <item><c>CoalesceWindow</c>: due first attempts with a later due first attempt about the same entity become
    /// <c>superseded</c>, so one per entity and window is claimed: the latest.</item>
    /// <item><c>Ordering: PerEntity</c>: only an entity's head is claimed, the pending delivery with the earliest
    /// (timestamp, event), and only while no other delivery of the entity is in flight.</item>
    /// </list>
    /// Deliveries held behind their entity's head are due but not claimable; the next due time then counts only what
    /// falls due later (a retry, a window's end, a lease's end), so the lane does not spin on them: a finished request
    /// wakes it, and the poll interval covers heads finished by another replica.
    /// </remarks>
    public async Task<ClaimResult> ClaimAsync(Subscriber subscriber, int limit, TimeSpan lease, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var subscriberId = subscriber.Id;
        var ordered = subscriber.Ordering == DeliveryOrdering.PerEntity;
        var coalescing = subscriber.CoalesceWindow > TimeSpan.Zero;
        await using var batch = database.CreateBatch();
        // The claim's commit does not wait for its WAL flush: under load the lanes otherwise spend most of their time
        // queued behind fsyncs. Nothing depends on a claim surviving a PostgreSQL crash: the outcome of its attempt is
        // committed durably, which flushes the claim's WAL first (the log is written in order); a claim lost to a crash
        // only lets the delivery be attempted again at once rather than when the lease ends, as at-least-once allows.
        // A skip or supersession lost that way is made again by the next claim.
        batch.BatchCommands.Add(Command("select set_config('synchronous_commit', 'off', true)"));
        if (subscriber.DropStale)
        {
            batch.BatchCommands.Add(Command("""
                with stale as (
                    select d.id, later.event_pk, later.event_timestamp_ms
                    from deliveries d
                    cross join lateral (
                        select l.event_pk, l.event_timestamp_ms from deliveries l
                        where l.subscriber_id = $1 and l.status = 'delivered' and l.entity_key = d.entity_key
                          and l.event_timestamp_ms > d.event_timestamp_ms
                        order by l.event_timestamp_ms desc
                        limit 1) later
                    where d.subscriber_id = $1 and d.status = 'pending' and d.next_attempt_at <= $2 and d.entity_key is not null
                    order by d.next_attempt_at, d.id
                    limit $3
                    for update of d skip locked
                )
                update deliveries u set status = 'skipped', skipped_at = $2,
                    last_error = format('Skipped as stale: %s event %s, timestamp %s, about %s was already delivered.',
                                        e.event_type, e.event_id, s.event_timestamp_ms, u.entity_key)
                from stale s join events e on e.id = s.event_pk
                where u.id = s.id
                returning u.id, u.last_error
                """, subscriberId, now, SettleBatch));
        }

        if (coalescing)
        {
            batch.BatchCommands.Add(Command("""
                with superseded as (
                    select d.id, later.event_pk, later.event_timestamp_ms
                    from deliveries d
                    cross join lateral (
                        select l.event_pk, l.event_timestamp_ms from deliveries l
                        where l.subscriber_id = $1 and l.status = 'pending' and l.entity_key = d.entity_key
                          and l.attempts = l.attempt_base and l.next_attempt_at <= $2
                          and (l.event_timestamp_ms, l.event_pk) > (d.event_timestamp_ms, d.event_pk)
                        order by l.event_timestamp_ms desc, l.event_pk desc
                        limit 1) later
                    where d.subscriber_id = $1 and d.status = 'pending' and d.next_attempt_at <= $2 and d.entity_key is not null
                      and d.attempts = d.attempt_base
                    order by d.next_attempt_at, d.id
                    limit $3
                    for update of d skip locked
                )
                update deliveries u set status = 'superseded', skipped_at = $2,
                    last_error = format('Superseded within the coalescing window by %s event %s, timestamp %s, the latest about %s.',
                                        e.event_type, e.event_id, s.event_timestamp_ms, u.entity_key)
                from superseded s join events e on e.id = s.event_pk
                where u.id = s.id
                returning u.id, u.last_error
                """, subscriberId, now, SettleBatch));
        }

        if (ordered || coalescing)
        {
            // The same claim, with the rows held by the options left out: $5 turns on per-entity ordering (an entity's
            // head only, and none while another delivery of the entity is in flight: claimed, its lease running, its
            // attempt not yet recorded), $6 coalescing (a first attempt waits while a later first attempt of its
            // entity is due: the supersession above takes it, or the next claim's does when it had more than a batch).
            batch.BatchCommands.Add(Command("""
                with due as (
                    select d.id from deliveries d
                    where d.subscriber_id = $1 and d.status = 'pending' and d.next_attempt_at <= $2
                      and (not $5 or d.entity_key is null or not exists (
                          select 1 from deliveries p
                          where p.subscriber_id = $1 and p.status = 'pending' and p.entity_key = d.entity_key and p.id <> d.id
                            and ((p.event_timestamp_ms, p.event_pk) < (d.event_timestamp_ms, d.event_pk)
                                 or (p.next_attempt_at > $2 and p.attempts > p.attempt_base and not exists (
                                     select 1 from delivery_attempts a where a.delivery_id = p.id and a.attempt = p.attempts)))))
                      and (not $6 or d.entity_key is null or d.attempts > d.attempt_base or not exists (
                          select 1 from deliveries l
                          where l.subscriber_id = $1 and l.status = 'pending' and l.entity_key = d.entity_key
                            and l.attempts = l.attempt_base and l.next_attempt_at <= $2
                            and (l.event_timestamp_ms, l.event_pk) > (d.event_timestamp_ms, d.event_pk)))
                    order by d.next_attempt_at, d.id
                    limit $3
                    for update skip locked
                ), claimed as (
                    update deliveries d set attempts = d.attempts + 1, next_attempt_at = $4
                    from due where d.id = due.id
                    returning d.id, d.attempts, d.attempts - d.attempt_base as attempt_in_round, d.event_pk
                )
                select c.id, c.attempts, c.attempt_in_round, e.event_type, e.event_id, e.dealer_uuid, e.body, e.traceparent
                from claimed c join events e on e.id = c.event_pk
                order by c.id
                """, subscriberId, now, limit, now + lease, ordered, coalescing));
            batch.BatchCommands.Add(Command(
                "select min(next_attempt_at) from deliveries where subscriber_id = $1 and status = 'pending' and next_attempt_at > $2",
                subscriberId, now));
        }
        else
        {
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
                    returning d.id, d.attempts, d.attempts - d.attempt_base as attempt_in_round, d.event_pk
                )
                select c.id, c.attempts, c.attempt_in_round, e.event_type, e.event_id, e.dealer_uuid, e.body, e.traceparent
                from claimed c join events e on e.id = c.event_pk
                order by c.id
                """, subscriberId, now, limit, now + lease));
            batch.BatchCommands.Add(Command(
                "select min(next_attempt_at) from deliveries where subscriber_id = $1 and status = 'pending'", subscriberId));
        }

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        var settled = new List<SettledDelivery>();
        var moreToSettle = false;
        foreach (var (applies, status) in new[] { (subscriber.DropStale, "skipped"), (coalescing, "superseded") })
        {
            if (!applies)
            {
                continue;
            }

            var count = 0;
            while (await reader.ReadAsync(cancellationToken))
            {
                settled.Add(new SettledDelivery(reader.GetGuid(0), status, reader.GetString(1)));
                count++;
            }

            moreToSettle |= count == SettleBatch;
            await reader.NextResultAsync(cancellationToken);
        }

        var claimed = new List<ClaimedDelivery>(limit);
        while (await reader.ReadAsync(cancellationToken))
        {
            claimed.Add(new ClaimedDelivery(reader.GetGuid(0), reader.GetInt32(1), reader.GetInt32(2), subscriberId, reader.GetString(3),
                reader.GetString(4), reader.GetString(5), (byte[])reader[6], reader.IsDBNull(7) ? null : reader.GetString(7)));
        }

        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        DateTimeOffset? nextDue = reader.IsDBNull(0) ? null : reader.GetFieldValue<DateTimeOffset>(0);
        // A full batch of skips or supersessions may have left more: the lane claims again at once.
        if (moreToSettle)
        {
            nextDue = now;
        }

        if (settled.Count > 0)
        {
            unsent?.Settled(subscriber.Name, settled);
        }

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
