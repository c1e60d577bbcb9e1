using System.Threading.Channels;
using Npgsql;

namespace Aspire.Webhooks.Relay.Outbox;

/// <summary>
/// Tells every replica's dispatcher (<c>NOTIFY relay_deliveries</c>, the subscriber's id as payload) that committed
/// deliveries wait. Subscribers named while the previous notification was being sent go out together, once each.
/// PostgreSQL serialises the commits of transactions that NOTIFY; sent here, on their own and without writes, they
/// cost no fsync under that lock and never hold back the transactions that store events. A notification lost to a
/// crash or an outage is covered by the dispatcher's poll interval.
/// </summary>
public sealed class DeliveryNotifier : IAsyncDisposable
{
    private readonly NpgsqlDataSource _database;
    private readonly Channel<Guid> _queue = Channel.CreateUnbounded<Guid>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _sending;

    public DeliveryNotifier(NpgsqlDataSource database)
    {
        _database = database;
        _sending = Task.Run(SendAsync);
    }

    /// <summary>Call after the deliveries committed, so no dispatcher wakes for rows it cannot see yet.</summary>
    public void Notify(IEnumerable<Guid> subscriberIds)
    {
        foreach (var id in subscriberIds)
        {
            _queue.Writer.TryWrite(id);
        }
    }

    private async Task SendAsync()
    {
        var pending = new HashSet<Guid>();
        while (await _queue.Reader.WaitToReadAsync())
        {
            while (_queue.Reader.TryRead(out var id))
            {
                pending.Add(id);
            }

            try
            {
                await using var command = _database.CreateCommand(
                    $"select pg_notify('{OutboxStore.DeliveriesChannel}', s::text) from unnest($1::uuid[]) as s");
                command.Parameters.AddWithValue(pending.ToArray());
                await command.ExecuteNonQueryAsync();
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // The dispatchers' poll interval picks the deliveries up; nothing is lost, only later.
            }

            pending.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _sending;
    }
}
