using System.Threading.Channels;
using Aspire.Webhooks.Relay.Delivery;
using Npgsql;

namespace Aspire.Webhooks.Relay.Outbox;

/// <summary>
/// Stores consumed events in groups: whatever the consumers handed over while the previous group was being written goes
/// into the next statement, so under load many events share one round trip and one commit (one fsync), and when idle
/// an event is written at once. Each caller's task completes only after its group committed, so a message is still
/// acknowledged only once its event is stored; when the group fails, every caller in it fails and each message is
/// retried by the consumer's retry policy, as a message stored alone would be.
/// With <paramref name="lanes"/>, a delivery whose lane has a free slot now is stored already claimed and handed to the
/// lane once the group committed: it goes out without waiting for a claim, and the lane needs no round trip for it.
/// </summary>
public sealed class EventWriter : IAsyncDisposable, IDisposable
{
    private readonly OutboxStore _outbox;
    private readonly LaneDirectory? _lanes;
    private readonly int _maxGroup;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writing;

    public EventWriter(OutboxStore outbox, int maxGroup, LaneDirectory? lanes = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxGroup, 1);
        _outbox = outbox;
        _lanes = lanes;
        _maxGroup = maxGroup;
        _writing = Task.Run(WriteAsync);
    }

    /// <summary>Stores the event; completes once committed with the deliveries created, or null for a duplicate.</summary>
    public Task<int?> StoreAsync(EventToStore e, CancellationToken cancellationToken)
    {
        var pending = new Pending(e, new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
        {
            pending.Stored.SetException(new ObjectDisposedException(nameof(EventWriter)));
        }

        // A cancelled caller stops waiting; the message stays unacknowledged and is redelivered. If its group still
        // commits, the redelivery is a duplicate and creates nothing.
        return pending.Stored.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteAsync()
    {
        var group = new List<Pending>(_maxGroup);
        while (await _queue.Reader.WaitToReadAsync())
        {
            while (group.Count < _maxGroup && _queue.Reader.TryRead(out var pending))
            {
                group.Add(pending);
            }

            try
            {
                await WriteGroupAsync(group);
            }
            catch (PostgresException) when (group.Count > 1)
            {
                // The server refused the statement: one event may be what it cannot take. Stored one by one, only that
                // one fails, and the others are not held back by its retries.
                foreach (var pending in group)
                {
                    await WriteGroupAsync([pending]);
                }
            }

            group.Clear();
        }
    }

    private async Task WriteGroupAsync(IReadOnlyList<Pending> group)
    {
        var events = new EventToStore[group.Count];
        var reservations = new List<(int Event, DeliveryTarget Target, LaneReservation Slot)>();
        for (var i = 0; i < group.Count; i++)
        {
            events[i] = Reserve(i, group[i].Event, reservations);
        }

        int?[] created;
        try
        {
            created = await _outbox.StoreAsync(events, CancellationToken.None);
        }
        catch (Exception ex)
        {
            foreach (var (_, _, slot) in reservations)
            {
                slot.Release();
            }

            if (ex is PostgresException && group.Count > 1)
            {
                throw;
            }

            foreach (var pending in group)
            {
                pending.Stored.TrySetException(ex);
            }

            return;
        }

        foreach (var (index, target, slot) in reservations)
        {
            // Not stored (a duplicate): no delivery was created, claimed or not.
            if (created[index] is null)
            {
                slot.Release();
                continue;
            }

            var received = events[index].Event;
            slot.Hand(new ClaimedDelivery(target.ClaimedId!.Value, Attempt: 1, AttemptInRound: 1, target.SubscriberId,
                received.Type, received.Id, received.DealerUuid, received.Body, events[index].TraceParent));
        }

        for (var i = 0; i < group.Count; i++)
        {
            group[i].Stored.TrySetResult(created[i]);
        }
    }

    /// <summary>The event with each delivery its lane can take now marked claimed, the slots held noted in <paramref name="reservations"/>.</summary>
    private EventToStore Reserve(int index, EventToStore e, List<(int, DeliveryTarget, LaneReservation)> reservations)
    {
        if (_lanes is null)
        {
            return e;
        }

        DeliveryTarget[]? targets = null;
        for (var t = 0; t < e.Deliveries.Count; t++)
        {
            var target = e.Deliveries[t];
            if (target.EntityKey is not null || _lanes.TryReserve(target.SubscriberId) is not { } slot)
            {
                continue;
            }

            targets ??= [.. e.Deliveries];
            targets[t] = target with { ClaimedId = Guid.CreateVersion7(), ClaimLease = slot.Lease };
            reservations.Add((index, targets[t], slot));
        }

        return targets is null ? e : e with { Deliveries = targets };
    }

    /// <summary>Writes what is queued, then stops; the bus has stopped consuming before the container disposes this.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writing;
    }

    // A container disposed synchronously still lets the queued events be written.
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private sealed record Pending(EventToStore Event, TaskCompletionSource<int?> Stored);
}
