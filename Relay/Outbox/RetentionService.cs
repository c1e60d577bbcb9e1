using Microsoft.Extensions.Options;
using Npgsql;

namespace Aspire.Webhooks.Relay.Outbox;

/// <summary>Purges what no longer needs keeping, in small batches so it never holds long locks.</summary>
public sealed partial class RetentionService(
    NpgsqlDataSource database,
    IOptions<RetentionOptions> options,
    TimeProvider time,
    ILogger<RetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var (deliveries, events) = await PurgeAsync(stoppingToken);
                if (deliveries + events > 0)
                {
                    LogPurged(deliveries, events);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(ex);
            }

            try
            {
                await Task.Delay(options.Value.Interval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Deletes old finished deliveries (delivered, or skipped and superseded by the stream options, after the delivered
    /// age; dead-lettered after theirs), then events that have no delivery left and are past the age.
    /// </summary>
    public async Task<(int Deliveries, int Events)> PurgeAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var deliveredBefore = now - options.Value.Delivered;
        var deadBefore = now - options.Value.DeadLettered;
        int deliveries = 0, events = 0, batch;
        do
        {
            await using var command = database.CreateCommand("""
                delete from deliveries where id in (
                    select id from deliveries
                    where (status = 'delivered' and delivered_at < $1) or (status = 'dead' and dead_at < $2)
                       or (status in ('skipped', 'superseded') and skipped_at < $1)
                    limit 1000)
                """);
            command.Parameters.AddWithValue(deliveredBefore);
            command.Parameters.AddWithValue(deadBefore);
            batch = await command.ExecuteNonQueryAsync(cancellationToken);
            deliveries += batch;
        }
        while (batch > 0);

        do
        {
            await using var command = database.CreateCommand("""
                delete from events where id in (
                    select e.id from events e
                    where e.stored_at < $1 and not exists (select 1 from deliveries d where d.event_pk = e.id)
                    limit 1000)
                """);
            command.Parameters.AddWithValue(deliveredBefore);
            batch = await command.ExecuteNonQueryAsync(cancellationToken);
            events += batch;
        }
        while (batch > 0);

        return (deliveries, events);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention purged {Deliveries} deliveries and {Events} events")]
    private partial void LogPurged(int deliveries, int events);

    [LoggerMessage(Level = LogLevel.Error, Message = "Retention purge failed; it runs again at the next interval")]
    private partial void LogFailed(Exception exception);
}
