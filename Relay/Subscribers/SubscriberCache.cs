namespace Aspire.Webhooks.Relay.Subscribers;

/// <summary>
/// The subscribers as last read from PostgreSQL. Routing reads it for every event, so it is read once at start
/// and refreshed by the dispatcher rather than queried per event.
/// </summary>
public sealed class SubscriberCache(SubscriberStore store)
{
    private volatile IReadOnlyList<Subscriber> _current = [];
    private volatile bool _loaded;

    public IReadOnlyList<Subscriber> Current => _loaded
        ? _current
        : throw new InvalidOperationException("Subscribers have not been loaded yet.");

    public async Task<IReadOnlyList<Subscriber>> RefreshAsync(CancellationToken cancellationToken)
    {
        var subscribers = await store.ListAsync(cancellationToken);
        _current = subscribers;
        _loaded = true;
        return subscribers;
    }
}
