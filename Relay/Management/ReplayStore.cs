using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Relay.Subscribers;
using Npgsql;
using NpgsqlTypes;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>Why one delivery was not replayed.</summary>
public enum ReplayRefusal
{
    None,
    NotFound,
    StillPending,
}

/// <summary>
/// Replays and backfills, each run inside the transaction <see cref="IdempotencyStore"/> opened. A replayed delivery
/// starts a new round: pending and due now, its retry count starting again from its current attempt number
/// (<c>attempt_base</c>), its last outcome cleared.
/// </summary>
public sealed class ReplayStore
{
    /// <summary>How many stored events a backfill reads per query while it looks for matches.</summary>
    internal const int BackfillPageSize = 1000;

    private const string Replay = """
        status = 'pending', next_attempt_at = $2, attempt_base = attempts, last_status_code = null, last_error = null,
        delivered_at = null, dead_at = null, skipped_at = null
        """;

    /// <summary>Replays one delivery that is not pending; returns it as it is now, or why it was not replayed.</summary>
    public async Task<(DeliverySummary? Replayed, ReplayRefusal Refusal)> ReplayDeliveryAsync(
        NpgsqlConnection connection, Guid id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"update deliveries set {Replay} where id = $1 and status <> 'pending'")
        {
            Parameters = { new() { Value = id }, new() { Value = now } },
        });
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            $"select {DeliveryLogStore.SummaryColumns} from {DeliveryLogStore.SummaryFrom} where d.id = $1")
        {
            Parameters = { new() { Value = id } },
        });
        // The update returns no rows, so the reader starts on the select's.
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return (null, ReplayRefusal.NotFound);
        }

        var delivery = DeliveryLogStore.ReadSummary(reader);
        return batch.BatchCommands[0].RecordsAffected == 1 ? (delivery, ReplayRefusal.None) : (null, ReplayRefusal.StillPending);
    }

    /// <summary>Replays up to <paramref name="limit"/> dead-lettered deliveries of a subscriber, oldest first.</summary>
    public async Task<ReplayResult> ReplayDeadAsync(NpgsqlConnection connection, Guid subscriberId, DateTimeOffset? since, int limit,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        // One snapshot: the count of dead deliveries includes the ones this statement replays.
        await using var command = new NpgsqlCommand($"""
            with dead as (
                select id, dead_at from deliveries
                where subscriber_id = $1 and status = 'dead' and ($3::timestamptz is null or dead_at >= $3)
            ), chosen as (
                select d.id from deliveries d join dead on dead.id = d.id
                order by dead.dead_at, d.id
                limit $4
                for update of d
            ), replayed as (
                update deliveries set {Replay}
                from chosen where deliveries.id = chosen.id
                returning deliveries.id
            )
            select (select count(*) from replayed), (select count(*) from dead)
            """, connection);
        command.Parameters.AddWithValue(subscriberId);
        command.Parameters.AddWithValue(now);
        command.Parameters.Add(DeliveryLogStore.Nullable(NpgsqlDbType.TimestampTz, since));
        command.Parameters.AddWithValue(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var replayed = (int)reader.GetInt64(0);
        return new ReplayResult(replayed, reader.GetInt64(1) > replayed);
    }

    /// <summary>
    /// Creates a pending delivery to <paramref name="subscriber"/> for each stored event received in
    /// [<paramref name="since"/>, <paramref name="until"/>) that its current rules match and that it has no delivery
    /// of yet, oldest first, up to <paramref name="limit"/>.
    /// </summary>
    public async Task<BackfillResult> BackfillAsync(NpgsqlConnection connection, Subscriber subscriber, DateTimeOffset since,
        DateTimeOffset until, int limit, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // The rules are the subscriber's own code (SubscriberFilter), so events are matched here rather than in SQL;
        // only the routing columns are read, never the bodies.
        var matches = new List<(long EventPk, string? EntityKey, long? TimestampMs)>();
        (DateTimeOffset ReceivedAt, long Id)? position = null;
        var more = false;
        while (!more)
        {
            await using var page = new NpgsqlCommand("""
                select e.id, e.received_at, e.event_type, e.dealer_uuid, e.department_uuid, e.entity_id, e.order_number,
                       e.appointment_event, e.appointment_status, e.timestamp_ms
                from events e
                where e.received_at >= $2 and e.received_at < $3
                  and ($4::timestamptz is null or (e.received_at, e.id) > ($4, $5::bigint))
                  and not exists (select 1 from deliveries d where d.event_pk = e.id and d.subscriber_id = $1)
                order by e.received_at, e.id
                limit $6
                """, connection);
            page.Parameters.AddWithValue(subscriber.Id);
            page.Parameters.AddWithValue(since);
            page.Parameters.AddWithValue(until);
            page.Parameters.Add(DeliveryLogStore.Nullable(NpgsqlDbType.TimestampTz, position?.ReceivedAt));
            page.Parameters.Add(DeliveryLogStore.Nullable(NpgsqlDbType.Bigint, position?.Id));
            page.Parameters.AddWithValue(BackfillPageSize);
            var read = 0;
            await using (var reader = await page.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    read++;
                    var eventPk = reader.GetInt64(0);
                    position = (reader.GetFieldValue<DateTimeOffset>(1), eventPk);
                    var eventType = reader.GetString(2);
                    var entityId = reader.IsDBNull(5) ? null : reader.GetString(5);
                    var routing = new EventRouting
                    {
                        DealerUuid = reader.GetString(3),
                        DepartmentUuid = reader.IsDBNull(4) ? null : reader.GetString(4),
                        EntityId = entityId,
                        OrderNumber = reader.IsDBNull(6) ? null : reader.GetString(6),
                        AppointmentEvent = reader.IsDBNull(7) ? null : reader.GetString(7),
                        AppointmentStatus = reader.IsDBNull(8) ? null : reader.GetString(8),
                    };
                    if (!subscriber.Filter.Matches(eventType, routing))
                    {
                        continue;
                    }

                    if (matches.Count == limit)
                    {
                        more = true;
                        break;
                    }

                    // The entity key convention: set only when the subscriber uses a stream option and the event names its entity.
                    var keyed = entityId is not null && subscriber.UsesEntityOptions;
                    matches.Add((eventPk, keyed ? $"{eventType}:{entityId}" : null, keyed ? reader.GetInt64(9) : null));
                }
            }

            if (read < BackfillPageSize)
            {
                break;
            }
        }

        if (matches.Count == 0)
        {
            return new BackfillResult(0, more);
        }

        // An event stored meanwhile may have got its delivery from the consumer: that one is kept, none is added.
        await using var insert = new NpgsqlCommand("""
            insert into deliveries (id, event_pk, subscriber_id, status, next_attempt_at, created_at, entity_key, event_timestamp_ms)
            select i.id, i.event_pk, $1, 'pending', $2, $2, i.entity_key, i.event_timestamp_ms
            from unnest($3::uuid[], $4::bigint[], $5::text[], $6::bigint[]) as i(id, event_pk, entity_key, event_timestamp_ms)
            on conflict (event_pk, subscriber_id) do nothing
            """, connection);
        insert.Parameters.AddWithValue(subscriber.Id);
        insert.Parameters.AddWithValue(now);
        insert.Parameters.AddWithValue(matches.Select(_ => Guid.CreateVersion7(now)).ToArray());
        insert.Parameters.AddWithValue(matches.Select(m => m.EventPk).ToArray());
        insert.Parameters.AddWithValue(matches.Select(m => m.EntityKey).ToArray());
        insert.Parameters.AddWithValue(matches.Select(m => m.TimestampMs).ToArray());
        var created = await insert.ExecuteNonQueryAsync(cancellationToken);
        return new BackfillResult(created, more);
    }
}
