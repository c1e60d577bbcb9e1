namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>How long a subscriber's delivery keeps being retried. Defaults reach about a day in ten attempts.</summary>
public sealed record RetryPolicy
{
    public static readonly RetryPolicy Default = new();

    public int MaxAttempts { get; init; } = 10;

    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromHours(12);
}
