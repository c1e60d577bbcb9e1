using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>The Relay's own instruments.</summary>
public sealed class RelayMetrics
{
    public const string MeterName = "Aspire.Webhooks.Relay";

    private readonly Counter<long> _created;
    private readonly Counter<long> _outcomes;
    private readonly Histogram<double> _attemptDuration;
    private readonly Counter<long> _disabled;
    private volatile OutboxSnapshot _outbox = new(0, null, 0);

    public RelayMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _created = meter.CreateCounter<long>("webhooks.relay.deliveries.created", "{delivery}",
            "Deliveries written to the outbox.");
        _outcomes = meter.CreateCounter<long>("webhooks.relay.attempts", "{attempt}",
            "Delivery attempts by outcome: delivered, retry, dead_lettered, disabled (410 Gone).");
        _attemptDuration = meter.CreateHistogram<double>("webhooks.relay.attempt.duration", "ms",
            "Time a subscriber took to answer one attempt.");
        _disabled = meter.CreateCounter<long>("webhooks.relay.subscribers.disabled", "{subscriber}",
            "Subscribers disabled automatically, by reason: failing (no success within Relay:Delivery:AutoDisableAfter) or gone (410).");
        meter.CreateObservableGauge("webhooks.relay.outbox.pending", () => _outbox.Pending, "{delivery}",
            "Deliveries waiting for their next attempt, across all replicas.");
        meter.CreateObservableGauge("webhooks.relay.outbox.oldest_pending_age", () => _outbox.OldestPendingAge?.TotalSeconds ?? 0,
            "s", "How long the oldest pending delivery has waited since it was created.");
        meter.CreateObservableGauge("webhooks.relay.outbox.dead_lettered", () => _outbox.DeadLettered, "{delivery}",
            "Dead-lettered deliveries kept for inspection and replay.");
    }

    /// <summary>The outbox as last measured; gauges report it without querying the database when scraped.</summary>
    public OutboxSnapshot Outbox
    {
        get => _outbox;
        set => _outbox = value;
    }

    public void DeliveriesCreated(int count)
    {
        if (count > 0)
        {
            _created.Add(count);
        }
    }

    public void Attempt(string subscriber, string outcome, TimeSpan duration)
    {
        var tags = new TagList { { "subscriber", subscriber }, { "outcome", outcome } };
        _outcomes.Add(1, tags);
        _attemptDuration.Record(duration.TotalMilliseconds, tags);
    }

    /// <param name="reason"><c>failing</c> or <c>gone</c>.</param>
    public void SubscriberDisabled(string subscriber, string reason) =>
        _disabled.Add(1, new TagList { { "subscriber", subscriber }, { "reason", reason } });
}

/// <summary>The outbox's size and age at one moment.</summary>
public sealed record OutboxSnapshot(long Pending, TimeSpan? OldestPendingAge, long DeadLettered);
