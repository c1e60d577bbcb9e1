using System.Collections.Concurrent;
using Aspire.Webhooks.Relay.Outbox;

namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>
/// The delivery lanes this replica runs, by subscriber id. The dispatcher keeps it up to date; the event writer asks it
/// for room in a lane before it stores an event, so a delivery a lane can send at once is stored already claimed and
/// handed to the lane after the commit, without a claim's round trip or a second read of the body.
/// </summary>
public sealed class LaneDirectory
{
    internal ConcurrentDictionary<Guid, DeliveryLane> Lanes { get; } = new();

    /// <summary>
    /// A slot in the subscriber's lane for a delivery about to be stored, or null when the lane cannot take it now:
    /// no lane here (paused, disabled, another replica's), full, rate-limited, with stream options, or with due
    /// deliveries already waiting in the database (those go first).
    /// </summary>
    public LaneReservation? TryReserve(Guid subscriberId) =>
        Lanes.TryGetValue(subscriberId, out var lane) && lane.TryReserve() ? new LaneReservation(lane) : null;
}

/// <summary>
/// A slot held in a lane for one delivery while its event is stored: <see cref="Hand"/> it the delivery once the
/// commit that stored it claimed is done, or <see cref="Release"/> the slot when nothing was stored. Exactly one of the
/// two, once.
/// </summary>
public sealed class LaneReservation
{
    private readonly DeliveryLane _lane;
    private int _settled;

    internal LaneReservation(DeliveryLane lane) => _lane = lane;

    /// <summary>How long the stored claim keeps other replicas off the delivery, as a claim made by the lane would.</summary>
    public TimeSpan Lease => _lane.Lease;

    /// <summary>Sends the delivery, stored claimed for its first attempt, in the slot held for it.</summary>
    public void Hand(ClaimedDelivery delivery)
    {
        if (Interlocked.Exchange(ref _settled, 1) == 0)
        {
            _lane.Hand(delivery);
        }
    }

    /// <summary>Gives the slot back: the event was a duplicate, or its group was not stored.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _settled, 1) == 0)
        {
            _lane.Release();
        }
    }
}
