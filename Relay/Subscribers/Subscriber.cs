using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Routing;

namespace Aspire.Webhooks.Relay.Subscribers;

public enum SubscriberState
{
    Active,
    Paused,
    Disabled,
}

/// <summary>How a subscriber's deliveries about one entity are ordered.</summary>
public enum DeliveryOrdering
{
    /// <summary>Deliveries go out as they fall due, as many at once as the concurrency limit allows.</summary>
    None,

    /// <summary>Events about one entity go out one at a time, in myKaarma-timestamp order.</summary>
    PerEntity,
}

/// <summary>A downstream endpoint, its rules and its delivery policy, as stored in PostgreSQL.</summary>
public sealed record Subscriber
{
    public required Guid Id { get; init; }

    public required string Name { get; init; }

    public required Uri Url { get; init; }

    public required string Secret { get; init; }

    /// <summary>The secret before the last rotation; it signs too until <see cref="PreviousSecretExpiresAt"/>.</summary>
    public string? PreviousSecret { get; init; }

    public DateTimeOffset? PreviousSecretExpiresAt { get; init; }

    public required SubscriberFilter Filter { get; init; }

    public required RetryPolicy Retry { get; init; }

    public required int MaxConcurrency { get; init; }

    /// <summary>Requests per second per Relay replica; null for no limit.</summary>
    public double? RateLimitPerSecond { get; init; }

    public DeliveryOrdering Ordering { get; init; } = DeliveryOrdering.None;

    /// <summary>Skip an event older, by myKaarma's timestamp, than one already delivered about the same entity.</summary>
    public bool DropStale { get; init; }

    /// <summary>Within this window only the latest event about an entity is delivered; zero turns coalescing off.</summary>
    public TimeSpan CoalesceWindow { get; init; } = TimeSpan.Zero;

    public SubscriberState State { get; init; } = SubscriberState.Active;

    public string? StateReason { get; init; }

    public bool ManagedByConfiguration { get; init; }

    /// <summary>The secret is set in configuration, which is applied again at every start.</summary>
    public bool SecretFromConfiguration { get; init; }

    public DateTimeOffset? LastSuccessAt { get; init; }

    /// <summary>Since when every attempt has failed; null after a success.</summary>
    public DateTimeOffset? FailingSince { get; init; }

    /// <summary>Whether deliveries carry the entity key and timestamp the stream options need.</summary>
    public bool UsesEntityOptions => Ordering != DeliveryOrdering.None || DropStale || CoalesceWindow > TimeSpan.Zero;

    /// <summary>The secrets that sign a request sent at <paramref name="now"/>: the current one, then the previous during its overlap.</summary>
    public IReadOnlyList<string> SigningSecrets(DateTimeOffset now) =>
        PreviousSecret is not null && PreviousSecretExpiresAt > now ? [Secret, PreviousSecret] : [Secret];
}
