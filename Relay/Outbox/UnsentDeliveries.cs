using System.Diagnostics;
using System.Diagnostics.Metrics;
using Aspire.Webhooks.Relay.Delivery;

namespace Aspire.Webhooks.Relay.Outbox;

/// <summary>A delivery a stream option settled without a request: <c>skipped</c> as stale, or <c>superseded</c>.</summary>
public sealed record SettledDelivery(Guid Id, string Status, string Reason);

/// <summary>
/// Counts and logs the deliveries that the stream options settle without sending them, so an operator sees how much
/// <c>DropStale</c> and <c>CoalesceWindow</c> hold back. Each one also keeps its reason in its row (<c>last_error</c>).
/// </summary>
public sealed partial class UnsentDeliveries
{
    private readonly Counter<long> _settled;
    private readonly ILogger _logger;

    public UnsentDeliveries(IMeterFactory meterFactory, ILogger<UnsentDeliveries> logger)
    {
        _settled = meterFactory.Create(RelayMetrics.MeterName).CreateCounter<long>("webhooks.relay.deliveries.unsent", "{delivery}",
            "Deliveries settled without a request by a subscriber's stream options, by status: skipped (stale) or superseded.");
        _logger = logger;
    }

    public void Settled(string subscriber, IReadOnlyList<SettledDelivery> deliveries)
    {
        foreach (var group in deliveries.GroupBy(d => d.Status))
        {
            _settled.Add(group.Count(), new TagList { { "subscriber", subscriber }, { "status", group.Key } });
        }

        foreach (var delivery in deliveries)
        {
            LogSettled(delivery.Id, subscriber, delivery.Status, delivery.Reason);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Delivery {DeliveryId} to {Subscriber} is {Status} and will not be sent: {Reason}")]
    private partial void LogSettled(Guid deliveryId, string subscriber, string status, string reason);
}
