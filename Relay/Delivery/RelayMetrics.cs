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

    public RelayMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _created = meter.CreateCounter<long>("webhooks.relay.deliveries.created", "{delivery}",
            "Deliveries written to the outbox.");
        _outcomes = meter.CreateCounter<long>("webhooks.relay.attempts", "{attempt}",
            "Delivery attempts by outcome: delivered, retry, dead_lettered, paused.");
        _attemptDuration = meter.CreateHistogram<double>("webhooks.relay.attempt.duration", "ms",
            "Time a subscriber took to answer one attempt.");
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
}
