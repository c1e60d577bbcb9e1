using System.Threading.Channels;
using Npgsql;

namespace Aspire.Webhooks.Relay.Outbox;

/// <summary>
/// Stores consumed events in groups: whatever the consumers handed over while the previous group was being written goes
/// into the next statement, so under load many events share one round trip and one commit (one fsync), and when idle
/// an event is written at once. Each caller's task completes only after its group committed, so a message is still
/// acknowledged only once its event is stored; when the group fails, every caller in it fails and each message is
/// retried by the consumer's retry policy, as a message stored alone would be.
/// </summary>
public sealed class EventWriter : IAsyncDisposable, IDisposable
{
    private readonly OutboxStore _outbox;
    private readonly int _maxGroup;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writing;

    public EventWriter(OutboxStore outbox, int maxGroup)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxGroup, 1);
        _outbox = outbox;
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
        try
        {
            var created = await _outbox.StoreAsync([.. group.Select(p => p.Event)], CancellationToken.None);
            for (var i = 0; i < group.Count; i++)
            {
                group[i].Stored.TrySetResult(created[i]);
            }
        }
        catch (PostgresException) when (group.Count > 1)
        {
            throw;
        }
        catch (Exception ex)
        {
            foreach (var pending in group)
            {
                pending.Stored.TrySetException(ex);
            }
        }
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
