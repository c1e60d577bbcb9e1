using Aspire.Webhooks.Relay.Delivery;
using Npgsql;

namespace Aspire.Webhooks.Relay.Monitoring;

/// <summary>
/// Measures the outbox every few seconds for the depth and age gauges. One small aggregate query per interval,
/// rather than one per metrics scrape, keeps the cost independent of how often telemetry is collected.
/// </summary>
public sealed partial class OutboxMonitor(
    NpgsqlDataSource database,
    RelayMetrics metrics,
    TimeProvider time,
    ILogger<OutboxMonitor> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                metrics.Outbox = await MeasureAsync(stoppingToken);
                await Task.Delay(Interval, time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogFailed(ex);
                await Task.Delay(Interval, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    public async Task<OutboxSnapshot> MeasureAsync(CancellationToken cancellationToken)
    {
        // Only the statuses measured are read: finished rows (delivered, and skipped or superseded by the stream
        // options, which can be most of a coalescing subscriber's) would only make the query slower.
        await using var command = database.CreateCommand("""
            select count(*) filter (where status = 'pending'),
                   min(created_at) filter (where status = 'pending'),
                   count(*) filter (where status = 'dead')
            from deliveries where status in ('pending', 'dead')
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        TimeSpan? age = reader.IsDBNull(1) ? null : time.GetUtcNow() - reader.GetFieldValue<DateTimeOffset>(1);
        return new OutboxSnapshot(reader.GetInt64(0), age, reader.GetInt64(2));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Measuring the outbox failed; the gauges keep their last values")]
    private partial void LogFailed(Exception exception);
}
