using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Routing;

namespace Aspire.Webhooks.Relay.Subscribers;

public enum SubscriberState
{
    Active,
    Paused,
    Disabled,
}

/// <summary>A downstream endpoint, its rules and its delivery policy, as stored in PostgreSQL.</summary>
public sealed record Subscriber
{
    public required Guid Id { get; init; }

    public required string Name { get; init; }

    public required Uri Url { get; init; }

    public required string Secret { get; init; }

    public required SubscriberFilter Filter { get; init; }

    public required RetryPolicy Retry { get; init; }

    public required int MaxConcurrency { get; init; }

    public SubscriberState State { get; init; } = SubscriberState.Active;

    public string? StateReason { get; init; }

    public bool ManagedByConfiguration { get; init; }
}
