using System.ComponentModel;
using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Routing;
using Aspire.Webhooks.Relay.Subscribers;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>A subscriber as the API shows it: everything but its secrets.</summary>
public sealed record SubscriberResponse
{
    public required Guid Id { get; init; }

    public required string Name { get; init; }

    public required string Url { get; init; }

    public required SubscriberFilter Filter { get; init; }

    public required RetryPolicy Retry { get; init; }

    public required int MaxConcurrency { get; init; }

    public double? RateLimitPerSecond { get; init; }

    [Description("None or PerEntity.")]
    public required string Ordering { get; init; }

    public required bool DropStale { get; init; }

    public required TimeSpan CoalesceWindow { get; init; }

    [Description("active, paused or disabled.")]
    public required string State { get; init; }

    [Description("Why the subscriber is paused or disabled.")]
    public string? StateReason { get; init; }

    [Description("Declared in Relay:Subscribers: change it there, not through the API.")]
    public required bool ManagedByConfiguration { get; init; }

    [Description("The secret is set in configuration, so it cannot be rotated through the API.")]
    public required bool SecretFromConfiguration { get; init; }

    [Description("Until when the secret before the last rotation signs requests too.")]
    public DateTimeOffset? PreviousSecretExpiresAt { get; init; }

    public DateTimeOffset? LastSuccessAt { get; init; }

    [Description("Since when every attempt has failed; empty after a success.")]
    public DateTimeOffset? FailingSince { get; init; }

    public static SubscriberResponse From(Subscriber subscriber, DateTimeOffset now) => new()
    {
        Id = subscriber.Id,
        Name = subscriber.Name,
        Url = subscriber.Url.ToString(),
        Filter = subscriber.Filter,
        Retry = subscriber.Retry,
        MaxConcurrency = subscriber.MaxConcurrency,
        RateLimitPerSecond = subscriber.RateLimitPerSecond,
        Ordering = subscriber.Ordering.ToString(),
        DropStale = subscriber.DropStale,
        CoalesceWindow = subscriber.CoalesceWindow,
        State = SubscriberStore.ToText(subscriber.State),
        StateReason = subscriber.StateReason,
        ManagedByConfiguration = subscriber.ManagedByConfiguration,
        SecretFromConfiguration = subscriber.SecretFromConfiguration,
        PreviousSecretExpiresAt = subscriber.PreviousSecret is not null && subscriber.PreviousSecretExpiresAt > now
            ? subscriber.PreviousSecretExpiresAt
            : null,
        LastSuccessAt = subscriber.LastSuccessAt,
        FailingSince = subscriber.FailingSince,
    };
}

/// <summary>The secrets that sign a subscriber's requests now.</summary>
/// <param name="Secret">Signs every request.</param>
/// <param name="PreviousSecret">The secret before the last rotation, while it still signs too.</param>
/// <param name="PreviousSecretExpiresAt">When the previous secret stops signing.</param>
public sealed record SubscriberSecret(string Secret, string? PreviousSecret, DateTimeOffset? PreviousSecretExpiresAt)
{
    public static SubscriberSecret From(Subscriber subscriber, DateTimeOffset now) =>
        subscriber.PreviousSecret is not null && subscriber.PreviousSecretExpiresAt > now
            ? new(subscriber.Secret, subscriber.PreviousSecret, subscriber.PreviousSecretExpiresAt)
            : new(subscriber.Secret, null, null);
}

/// <summary>A secret rotation: the new secret, and for how long the one it replaced keeps signing.</summary>
public sealed record RotateSecretRequest
{
    [Description("The new secret (whsec_ and base64 of at least 16 bytes); generated when left out.")]
    public string? Secret { get; init; }

    [Description("How long the replaced secret keeps signing too, so the subscriber can switch over (default 1.00:00:00, at most 7 days).")]
    public TimeSpan? Overlap { get; init; }
}

/// <summary>What a test event's request came back with.</summary>
/// <param name="Succeeded">The subscriber answered 2xx.</param>
/// <param name="WebhookId">The <c>webhook-id</c> the test request carried.</param>
/// <param name="StatusCode">The subscriber's status code; empty when no answer came.</param>
/// <param name="DurationMs">How long the request took.</param>
/// <param name="Error">Why the request failed without an answer (timeout, refused connection, ...).</param>
/// <param name="ResponseExcerpt">The start of the subscriber's answer.</param>
public sealed record TestEventResult(bool Succeeded, string WebhookId, int? StatusCode, double DurationMs, string? Error, string? ResponseExcerpt);
