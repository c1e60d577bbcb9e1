using System.Buffers.Text;
using Npgsql;
using NpgsqlTypes;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>What the delivery log is filtered by; every field is optional.</summary>
public sealed record DeliveryFilter
{
    public Guid? SubscriberId { get; init; }

    /// <summary>An API status (<see cref="DeliveryStatuses"/>).</summary>
    public string? Status { get; init; }

    public string? EventType { get; init; }

    public string? EventId { get; init; }

    public string? DealerUuid { get; init; }

    /// <summary>Created at or after.</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>Created before.</summary>
    public DateTimeOffset? To { get; init; }

    public int PageSize { get; init; } = 50;

    /// <summary>The position after which the page starts, from the previous page.</summary>
    public DeliveryCursor? After { get; init; }
}

/// <summary>A position in the delivery log, newest first: (created_at, id).</summary>
public sealed record DeliveryCursor(DateTimeOffset CreatedAt, Guid Id)
{
    /// <summary>An opaque token: microseconds since the epoch and the id (PostgreSQL keeps microseconds, so nothing is lost).</summary>
    public string Encode()
    {
        var micros = (CreatedAt.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;
        return Base64Url.EncodeToString(System.Text.Encoding.ASCII.GetBytes($"{micros}:{Id:N}"));
    }

    public static DeliveryCursor? TryDecode(string token)
    {
        try
        {
            var text = System.Text.Encoding.ASCII.GetString(Base64Url.DecodeFromChars(token));
            var parts = text.Split(':');
            return parts.Length == 2 &&
                long.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var micros) &&
                Guid.TryParseExact(parts[1], "N", out var id) &&
                micros < (DateTimeOffset.MaxValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10
                ? new DeliveryCursor(DateTimeOffset.UnixEpoch.AddTicks(micros * 10), id)
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>Reads the delivery log: deliveries with their events and attempts.</summary>
public sealed class DeliveryLogStore(NpgsqlDataSource database)
{
    /// <summary>The columns <see cref="ReadSummary"/> reads, from <c>deliveries d</c>, <c>events e</c> and <c>subscribers s</c>.</summary>
    internal const string SummaryColumns = """
        d.id, d.subscriber_id, s.name, e.event_type, e.event_id, e.dealer_uuid, d.status,
        (d.last_status_code is not null or d.last_error is not null) as failed_in_round, d.attempts, d.created_at,
        d.next_attempt_at, d.last_status_code, d.last_error, d.delivered_at, d.dead_at, d.skipped_at
        """;

    internal const string SummaryFrom = """
        deliveries d join events e on e.id = d.event_pk join subscribers s on s.id = d.subscriber_id
        """;

    /// <summary>One page, newest first, and whether another page follows.</summary>
    public async Task<(IReadOnlyList<DeliverySummary> Items, bool More)> QueryAsync(DeliveryFilter filter, CancellationToken cancellationToken)
    {
        // One statement for every combination: each condition is off when its parameter is null. Npgsql sends the
        // values with the statement, so PostgreSQL plans it with them and drops the conditions that are off.
        await using var command = database.CreateCommand($"""
            select {SummaryColumns}
            from {SummaryFrom}
            where ($1::uuid is null or d.subscriber_id = $1)
              and ($2::text is null or d.status = $2)
              and ($3::boolean is null or (d.last_status_code is not null or d.last_error is not null) = $3)
              and ($4::text is null or e.event_type = $4)
              and ($5::text is null or e.event_id = $5)
              and ($6::text is null or lower(e.dealer_uuid) = lower($6))
              and ($7::timestamptz is null or d.created_at >= $7)
              and ($8::timestamptz is null or d.created_at < $8)
              and ($9::timestamptz is null or (d.created_at, d.id) < ($9, $10::uuid))
            order by d.created_at desc, d.id desc
            limit $11
            """);
        var (status, failedInRound) = filter.Status switch
        {
            DeliveryStatuses.Pending => (DeliveryStatuses.Pending, (bool?)false),
            DeliveryStatuses.FailedRetrying => (DeliveryStatuses.Pending, true),
            var other => (other, null),
        };
        var parameters = command.Parameters;
        parameters.Add(Nullable(NpgsqlDbType.Uuid, filter.SubscriberId));
        parameters.Add(Nullable(NpgsqlDbType.Text, status));
        parameters.Add(Nullable(NpgsqlDbType.Boolean, failedInRound));
        parameters.Add(Nullable(NpgsqlDbType.Text, filter.EventType));
        parameters.Add(Nullable(NpgsqlDbType.Text, filter.EventId));
        parameters.Add(Nullable(NpgsqlDbType.Text, filter.DealerUuid));
        parameters.Add(Nullable(NpgsqlDbType.TimestampTz, filter.From));
        parameters.Add(Nullable(NpgsqlDbType.TimestampTz, filter.To));
        parameters.Add(Nullable(NpgsqlDbType.TimestampTz, filter.After?.CreatedAt));
        parameters.Add(Nullable(NpgsqlDbType.Uuid, filter.After?.Id));
        parameters.AddWithValue(filter.PageSize + 1);

        var items = new List<DeliverySummary>(filter.PageSize + 1);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(ReadSummary(reader));
        }

        var more = items.Count > filter.PageSize;
        return (more ? items[..filter.PageSize] : items, more);
    }

    /// <summary>One delivery with its event and attempts, or null.</summary>
    public async Task<DeliveryDetail?> FindAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var batch = database.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"""
            select {SummaryColumns}, e.department_uuid, e.entity_id, e.timestamp_ms, e.received_at
            from {SummaryFrom}
            where d.id = $1
            """) { Parameters = { new() { Value = id } } });
        batch.BatchCommands.Add(new NpgsqlBatchCommand("""
            select attempt, started_at, duration_ms, status_code, error, response_excerpt
            from delivery_attempts where delivery_id = $1
            order by attempt
            """) { Parameters = { new() { Value = id } } });
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var summary = ReadSummary(reader);
        var first = SummaryFieldCount;
        var e = new DeliveryEvent(summary.EventType, summary.EventId, summary.DealerUuid,
            reader.IsDBNull(first) ? null : reader.GetString(first),
            reader.IsDBNull(first + 1) ? null : reader.GetString(first + 1),
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(first + 2)),
            reader.GetFieldValue<DateTimeOffset>(first + 3));

        await reader.NextResultAsync(cancellationToken);
        var attempts = new List<DeliveryAttempt>();
        while (await reader.ReadAsync(cancellationToken))
        {
            attempts.Add(new DeliveryAttempt(reader.GetInt32(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetDouble(2),
                reader.IsDBNull(3) ? null : reader.GetInt32(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5)));
        }

        return new DeliveryDetail(summary, e, attempts);
    }

    private const int SummaryFieldCount = 16;

    /// <summary>Reads the <see cref="SummaryColumns"/>, which come first in the row.</summary>
    internal static DeliverySummary ReadSummary(NpgsqlDataReader reader) => new()
    {
        Id = reader.GetGuid(0),
        SubscriberId = reader.GetGuid(1),
        SubscriberName = reader.GetString(2),
        EventType = reader.GetString(3),
        EventId = reader.GetString(4),
        DealerUuid = reader.GetString(5),
        Status = DeliveryStatuses.Of(reader.GetString(6), reader.GetBoolean(7)),
        Attempts = reader.GetInt32(8),
        CreatedAt = reader.GetFieldValue<DateTimeOffset>(9),
        NextAttemptAt = reader.GetString(6) == DeliveryStatuses.Pending ? reader.GetFieldValue<DateTimeOffset>(10) : null,
        LastStatusCode = reader.IsDBNull(11) ? null : reader.GetInt32(11),
        LastError = reader.IsDBNull(12) ? null : reader.GetString(12),
        DeliveredAt = reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13),
        DeadAt = reader.IsDBNull(14) ? null : reader.GetFieldValue<DateTimeOffset>(14),
        SkippedAt = reader.IsDBNull(15) ? null : reader.GetFieldValue<DateTimeOffset>(15),
    };

    internal static NpgsqlParameter Nullable<T>(NpgsqlDbType type, T? value) where T : struct =>
        new() { NpgsqlDbType = type, Value = value.HasValue ? value.Value : DBNull.Value };

    internal static NpgsqlParameter Nullable(NpgsqlDbType type, string? value) =>
        new() { NpgsqlDbType = type, Value = (object?)value ?? DBNull.Value };
}
