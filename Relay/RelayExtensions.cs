using System.Data.Common;
using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Management;
using Aspire.Webhooks.Relay.Messaging;
using Aspire.Webhooks.Relay.Monitoring;
using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.Relay.Subscribers;
using Npgsql;

namespace Aspire.Webhooks.Relay;

public static class RelayExtensions
{
    public const string DatabaseConnectionName = "relaydb";

    /// <summary>Registers the outbox, routing, delivery and the bus, in the order they must start.</summary>
    public static IHostApplicationBuilder AddRelayServices(this IHostApplicationBuilder builder)
    {
        builder.AddNpgsqlDataSource(DatabaseConnectionName, configureDataSourceBuilder: PrepareHotStatements);
        builder.Services.TryAddSingleton(TimeProvider.System);

        builder.Services.AddOptions<RelayOptions>().BindConfiguration(RelayOptions.SectionName);
        builder.Services.AddOptions<DeliveryOptions>()
            .BindConfiguration(DeliveryOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.SectionName);

        builder.Services.TryAddSingleton<HostResolver>();
        builder.Services.AddSingleton<SubscriberUrlPolicy>();
        builder.Services.AddSingleton<SubscriberStore>();
        builder.Services.AddSingleton<SubscriberCache>();
        builder.Services.AddSingleton<OutboxStore>();
        builder.Services.AddSingleton<UnsentDeliveries>();
        builder.Services.AddSingleton<RelayMetrics>();
        builder.Services.AddSingleton<WebhookSender>();
        builder.Services.AddSingleton<DeliveryLaneFactory>();
        builder.Services.AddSingleton<LaneDirectory>();

        // Subscribers call arbitrary endpoints: no redirects followed, connections recycled so DNS changes are seen, and
        // every connection checked against the URL policy as it is made (a name may be re-pointed after registration).
        builder.Services.AddHttpClient(WebhookSender.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(services => new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                MaxConnectionsPerServer = 256,
                UseProxy = false,
                ConnectCallback = services.GetRequiredService<SubscriberUrlPolicy>().ConnectAsync,
            });

        // Hosted services start in registration order: the database and subscribers before the bus consumes.
        builder.Services.AddHostedService<RelayDatabaseStartup>();
        builder.AddRelayMessaging();
        builder.Services.AddHostedService<Dispatcher>();
        builder.Services.AddHostedService<RetentionService>();
        builder.Services.AddHostedService<OutboxMonitor>();
        builder.AddRelayManagement();
        return builder;
    }

    /// <summary>
    /// The outbox runs a handful of statements hundreds of times a second; prepared on each connection after a few
    /// uses, PostgreSQL no longer parses and plans them every time. A connection string that names the setting keeps
    /// its value (0 turns it off, as a transaction-pooling PgBouncer needs).
    /// </summary>
    private static void PrepareHotStatements(NpgsqlDataSourceBuilder database)
    {
        var named = new DbConnectionStringBuilder { ConnectionString = database.ConnectionString };
        if (!named.ContainsKey("Max Auto Prepare") && !named.ContainsKey("MaxAutoPrepare"))
        {
            database.ConnectionStringBuilder.MaxAutoPrepare = 32;
        }
    }
}
