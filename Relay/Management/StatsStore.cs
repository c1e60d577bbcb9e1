using System.ComponentModel;
using Npgsql;
using NpgsqlTypes;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>How a subscriber is doing: its backlog, the last hour's attempts, and its state.</summary>
public sealed record SubscriberStats
{
    public required Guid SubscriberId { get; init; }

    public required string Name { get; init; }

    [Description("active, paused or disabled.")]
    public required string State { get; init; }

    [Description("Why the subscriber is paused or disabled.")]
    public string? StateReason { get; init; }

    [Description("Deliveries waiting to be sent, retries included.")]
    public required long Pending { get; init; }

    [Description("Seconds since the oldest pending delivery was created; empty without any.")]
    public double? OldestPendingAgeSeconds { get; init; }

    [Description("Attempts in the last hour that the subscriber answered 2xx.")]
    public required long DeliveredLastHour { get; init; }

    [Description("Attempts in the last hour that failed: any other answer, a timeout or a connection error.")]
    public required long FailedLastHour { get; init; }

    [Description("Median attempt duration over the last hour, in milliseconds.")]
    public double? P50DurationMs { get; init; }

    [Description("95th percentile attempt duration over the last hour, in milliseconds.")]
    public double? P95DurationMs { get; init; }

    public DateTimeOffset? LastSuccessAt { get; init; }

    [Description("Since when every attempt has failed; empty after a success.")]
    public DateTimeOffset? FailingSince { get; init; }
}

/// <summary>Per-subscriber statistics, computed from the outbox when asked.</summary>
public sealed class StatsStore(NpgsqlDataSource database)
{
    public static readonly TimeSpan Window = TimeSpan.FromHours(1);

    /// <summary>Every subscriber's statistics, or one subscriber's (an empty list when it does not exist).</summary>
    public async Task<IReadOnlyList<SubscriberStats>> ReadAsync(Guid? subscriberId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand("""
            select s.id, s.name, s.state, s.state_reason, s.last_success_at, s.failing_since,
                   p.pending, p.oldest, a.delivered, a.failed, a.p50, a.p95
            from subscribers s
            cross join lateral (
                select count(*) as pending, min(d.created_at) as oldest
                from deliveries d where d.subscriber_id = s.id and d.status = 'pending'
            ) p
            cross join lateral (
                select count(*) filter (where t.status_code between 200 and 299) as delivered,
                       count(*) filter (where t.status_code is null or t.status_code not between 200 and 299) as failed,
                       percentile_cont(0.5) within group (order by t.duration_ms) as p50,
                       percentile_cont(0.95) within group (order by t.duration_ms) as p95
                from delivery_attempts t join deliveries d on d.id = t.delivery_id
                where d.subscriber_id = s.id and t.started_at >= $2
            ) a
            where ($1::uuid is null or s.id = $1)
            order by s.name
            """);
        command.Parameters.Add(DeliveryLogStore.Nullable(NpgsqlDbType.Uuid, subscriberId));
        command.Parameters.AddWithValue(now - Window);
        var stats = new List<SubscriberStats>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            stats.Add(new SubscriberStats
            {
                SubscriberId = reader.GetGuid(0),
                Name = reader.GetString(1),
                State = reader.GetString(2),
                StateReason = reader.IsDBNull(3) ? null : reader.GetString(3),
                LastSuccessAt = reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
                FailingSince = reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                Pending = reader.GetInt64(6),
                OldestPendingAgeSeconds = reader.IsDBNull(7) ? null : Math.Max(0, (now - reader.GetFieldValue<DateTimeOffset>(7)).TotalSeconds),
                DeliveredLastHour = reader.GetInt64(8),
                FailedLastHour = reader.GetInt64(9),
                P50DurationMs = reader.IsDBNull(10) ? null : reader.GetDouble(10),
                P95DurationMs = reader.IsDBNull(11) ? null : reader.GetDouble(11),
            });
        }

        return stats;
    }
}
