using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Subscribers;
using DbUp;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aspire.Webhooks.Relay.Outbox;

/// <summary>
/// Before the Relay consumes anything: checks the configured subscribers, applies the schema migrations, writes
/// the subscribers and loads them for routing. Registered ahead of the message bus, so no event is routed
/// against an empty or stale subscriber list.
/// </summary>
public sealed partial class RelayDatabaseStartup(
    NpgsqlDataSource database,
    SubscriberStore store,
    SubscriberCache cache,
    SubscriberUrlPolicy urlPolicy,
    IOptions<RelayOptions> relayOptions,
    IOptions<DeliveryOptions> deliveryOptions,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<RelayDatabaseStartup> logger) : IHostedService
{
    // Any fixed number shared by all replicas: the one that holds it migrates while the others wait.
    private const long MigrationLockKey = 0x5265_6C61_7944_4231;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var (subscribers, valid) = SubscriberDefinitions.Validate(relayOptions.Value.Subscribers,
            urlPolicy.Rules(deliveryOptions.Value.DefaultMaxConcurrency));
        var errors = valid.ToList();
        foreach (var subscriber in subscribers)
        {
            if (await urlPolicy.CheckTargetAsync(subscriber.Url, cancellationToken) is { } refused)
            {
                // Names are trimmed when checked; the definition is found by its trimmed name.
                var index = relayOptions.Value.Subscribers.FindIndex(d => d.Name?.Trim() == subscriber.Name);
                errors.Add($"Relay:Subscribers:{index} ('{subscriber.Name}'): Url is refused: {refused}");
            }
        }

        if (errors.Count > 0)
        {
            throw new OptionsValidationException(RelayOptions.SectionName, typeof(RelayOptions), errors);
        }

        // PostgreSQL may come up after the Relay (a fresh deployment), restart under it, or be out of connection slots
        // for a moment: every step is retried while the failure is transient, rather than crash-looping the Relay.
        var delay = TimeSpan.FromMilliseconds(250);
        while (true)
        {
            try
            {
                await MigrateAsync(cancellationToken);
                foreach (var subscriber in subscribers)
                {
                    var definition = relayOptions.Value.Subscribers.First(d => d.Name?.Trim() == subscriber.Name);
                    await store.UpsertAsync(subscriber, keepStoredSecret: definition.Secret is null, cancellationToken);
                }

                // A subscriber taken out of configuration would otherwise stay locked against the API for good.
                foreach (var (id, name) in await store.ReleaseFromConfigurationAsync([.. subscribers.Select(s => s.Name)], cancellationToken))
                {
                    LogReleased(name, id);
                }

                var loaded = await cache.RefreshAsync(cancellationToken);
                LogReady(subscribers.Count, loaded.Count);
                return;
            }
            catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                LogWaiting(ex.GetBaseException().Message, delay.TotalSeconds);
                await Task.Delay(delay, time, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// A failure that waiting can cure: the server unreachable or starting, out of connection slots, or the database not
    /// created yet. A wrong password or a broken migration is not, and stops the start with its own message.
    /// </summary>
    internal static bool IsTransient(Exception exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            if (ex is PostgresException { SqlState: "53300" or "57P03" or "3D000" } || ex is NpgsqlException { IsTransient: true })
            {
                return true;
            }
        }

        return false;
    }

    private async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand("select pg_advisory_lock($1)", connection))
        {
            lockCommand.Parameters.AddWithValue(MigrationLockKey);
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        try
        {
            var upgrade = DeployChanges.To
                // The data source hides the password from its ConnectionString; DbUp opens its own connections.
                .PostgresqlDatabase(configuration.GetConnectionString(RelayExtensions.DatabaseConnectionName))
                .WithScriptsEmbeddedInAssembly(typeof(RelayDatabaseStartup).Assembly,
                    name => name.Contains(".Outbox.Migrations.", StringComparison.Ordinal))
                .WithTransactionPerScript()
                .LogTo(new MigrationLog(logger))
                .Build()
                .PerformUpgrade();
            if (!upgrade.Successful)
            {
                throw new InvalidOperationException($"Applying migration {upgrade.ErrorScript?.Name} failed.", upgrade.Error);
            }
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("select pg_advisory_unlock($1)", connection);
            unlock.Parameters.AddWithValue(MigrationLockKey);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Relay database ready: {Configured} subscribers from configuration, {Total} in all")]
    private partial void LogReady(int configured, int total);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Subscriber {Subscriber} ({SubscriberId}) is no longer in Relay:Subscribers: it is kept, with its deliveries, and is managed through the management API from now on")]
    private partial void LogReleased(string subscriber, Guid subscriberId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "PostgreSQL is not ready yet ({Error}); trying again in {DelaySeconds} s")]
    private partial void LogWaiting(string error, double delaySeconds);

    private sealed class MigrationLog(ILogger logger) : DbUp.Engine.Output.IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) => logger.LogTrace(format, args);

        public void LogDebug(string format, params object[] args) => logger.LogDebug(format, args);

        public void LogInformation(string format, params object[] args) => logger.LogInformation(format, args);

        public void LogWarning(string format, params object[] args) => logger.LogWarning(format, args);

        public void LogError(string format, params object[] args) => logger.LogError(format, args);

        public void LogError(Exception ex, string format, params object[] args) => logger.LogError(ex, format, args);
    }
}
