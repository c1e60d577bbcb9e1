using System.Diagnostics.Metrics;

namespace Aspire.Webhooks.Receiver.Ingest;

/// <summary>The Receiver's own instruments: what it accepted, what it refused and why, and how long the broker took.</summary>
public sealed class ReceiverMetrics
{
    public const string MeterName = "Aspire.Webhooks.Receiver";

    private readonly Counter<long> _accepted;
    private readonly Counter<long> _rejected;
    private readonly Histogram<double> _publishDuration;

    public ReceiverMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _accepted = meter.CreateCounter<long>("webhooks.receiver.accepted", "{event}",
            "Events durably stored in the broker and answered 202.");
        _rejected = meter.CreateCounter<long>("webhooks.receiver.rejected", "{request}",
            "Requests refused, by reason.");
        _publishDuration = meter.CreateHistogram<double>("webhooks.receiver.publish.duration", "ms",
            "Time from publishing an event to the broker's confirm.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 3000] });
    }

    public void Accepted(string type, bool knownType) =>
        _accepted.Add(1, new KeyValuePair<string, object?>("event.type", knownType ? type : "unknown"));

    public void Rejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void PublishDuration(TimeSpan elapsed, string outcome) =>
        _publishDuration.Record(elapsed.TotalMilliseconds, new KeyValuePair<string, object?>("outcome", outcome));
}

/// <summary>The values of the <c>reason</c> tag on <c>webhooks.receiver.rejected</c>.</summary>
public static class RejectionReasons
{
    public const string IpNotAllowed = "ip_not_allowed";
    public const string Unauthorized = "unauthorized";
    public const string BadSignature = "bad_signature";
    public const string TooLarge = "too_large";
    public const string InvalidEnvelope = "invalid_envelope";
    public const string BrokerUnavailable = "broker_unavailable";
    public const string Overloaded = "overloaded";
}
