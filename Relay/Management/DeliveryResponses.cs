using System.ComponentModel;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>The statuses a delivery shows in the API.</summary>
public static class DeliveryStatuses
{
    /// <summary>Waiting for its first attempt of this round.</summary>
    public const string Pending = "pending";

    /// <summary>Waiting for another attempt after a failed one.</summary>
    public const string FailedRetrying = "failed-retrying";

    public const string Delivered = "delivered";

    /// <summary>Given up on after the last attempt or a permanent refusal: kept for inspection and replay.</summary>
    public const string Dead = "dead";

    /// <summary>Not sent: older than an event already delivered about the same entity.</summary>
    public const string Skipped = "skipped";

    /// <summary>Not sent: a later event about the same entity arrived within the coalescing window.</summary>
    public const string Superseded = "superseded";

    public static IReadOnlyList<string> All { get; } = [Pending, FailedRetrying, Delivered, Dead, Skipped, Superseded];

    /// <summary>The API status of a stored delivery: a pending one with a failed attempt in this round is failed-retrying.</summary>
    public static string Of(string stored, bool failedInRound) =>
        stored == Pending && failedInRound ? FailedRetrying : stored;
}

/// <summary>One delivery of one event to one subscriber.</summary>
public sealed record DeliverySummary
{
    public required Guid Id { get; init; }

    public required Guid SubscriberId { get; init; }

    public required string SubscriberName { get; init; }

    public required string EventType { get; init; }

    public required string EventId { get; init; }

    public required string DealerUuid { get; init; }

    [Description("pending, failed-retrying, delivered, dead, skipped or superseded.")]
    public required string Status { get; init; }

    [Description("Attempts made over the delivery's life, replays included.")]
    public required int Attempts { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    [Description("When the next attempt is due, while pending.")]
    public DateTimeOffset? NextAttemptAt { get; init; }

    public int? LastStatusCode { get; init; }

    public string? LastError { get; init; }

    public DateTimeOffset? DeliveredAt { get; init; }

    public DateTimeOffset? DeadAt { get; init; }

    public DateTimeOffset? SkippedAt { get; init; }
}

/// <summary>One page of deliveries, newest first.</summary>
/// <param name="Items">The deliveries of this page.</param>
/// <param name="Next">Pass as <c>after</c> for the next page; empty on the last page.</param>
public sealed record DeliveryPage(IReadOnlyList<DeliverySummary> Items, string? Next);

/// <summary>The event a delivery carries, without its body.</summary>
/// <param name="Type">The envelope's type.</param>
/// <param name="Id">myKaarma's event id.</param>
/// <param name="DealerUuid">The envelope's dealer.</param>
/// <param name="DepartmentUuid">The department, when the event has one.</param>
/// <param name="EntityId">The customer, appointment, order or MPI the event is about.</param>
/// <param name="Timestamp">When the change happened at myKaarma.</param>
/// <param name="ReceivedAt">When the Receiver accepted the event.</param>
public sealed record DeliveryEvent(string Type, string Id, string DealerUuid, string? DepartmentUuid, string? EntityId,
    DateTimeOffset Timestamp, DateTimeOffset ReceivedAt);

/// <summary>One request made for a delivery.</summary>
/// <param name="Attempt">The attempt's number over the delivery's life.</param>
/// <param name="StartedAt">When the request was sent.</param>
/// <param name="DurationMs">How long it took.</param>
/// <param name="StatusCode">The subscriber's answer; empty when none came.</param>
/// <param name="Error">Why the attempt failed.</param>
/// <param name="ResponseExcerpt">The start of the subscriber's answer.</param>
public sealed record DeliveryAttempt(int Attempt, DateTimeOffset StartedAt, double DurationMs, int? StatusCode, string? Error,
    string? ResponseExcerpt);

/// <summary>A delivery with its event and every attempt made.</summary>
public sealed record DeliveryDetail(DeliverySummary Delivery, DeliveryEvent Event, IReadOnlyList<DeliveryAttempt> Attempts);

/// <summary>What a replay of dead-lettered deliveries did.</summary>
/// <param name="Replayed">Deliveries made pending again.</param>
/// <param name="MoreRemaining">More dead-lettered deliveries matched than the limit allowed; replay again for the rest.</param>
public sealed record ReplayResult(int Replayed, bool MoreRemaining);

/// <summary>What a backfill did.</summary>
/// <param name="Created">Deliveries created for stored events that match the subscriber's rules and that it had not had.</param>
/// <param name="MoreRemaining">More events matched than the limit allowed; backfill again (with a new key) for the rest.</param>
public sealed record BackfillResult(int Created, bool MoreRemaining);

/// <summary>A backfill: the stored events received in [since, until) are matched against the subscriber's current rules.</summary>
public sealed record BackfillRequest
{
    [Description("Events received at or after this time (ISO 8601).")]
    public DateTimeOffset? Since { get; init; }

    [Description("Events received before this time; now when left out.")]
    public DateTimeOffset? Until { get; init; }

    [Description("The most deliveries to create; Relay:Management:MaxReplayCount when left out, and at most that.")]
    public int? Limit { get; init; }
}
