using System.Net;
using System.Net.Sockets;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.EndToEnd.Tests;

/// <summary>
/// The whole AppHost, started once for the tests that drive it: against the given (or containerised) servers, on
/// its own database and queue, with the dashboard on a loopback port that needs no login.
/// </summary>
public sealed class RunningSystem : IAsyncLifetime
{
    private static readonly TimeSpan Startup = TimeSpan.FromMinutes(3);

    private readonly RabbitMqServer _rabbit = new();
    private readonly PostgresServer _postgres = new();
    private readonly string _queue = RabbitMqServer.UniqueQueueName("apphost-e2e");
    private string _database = string.Empty;

    public DistributedApplication App { get; private set; } = null!;

    public Uri DashboardUrl { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await _rabbit.InitializeAsync();
        await _postgres.InitializeAsync();
        _database = await _postgres.CreateDatabaseAsync("apphost_e2e");

        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
        [
            $"--ConnectionStrings:messaging={_rabbit.ConnectionString}",
            $"--ConnectionStrings:relaydb={_database}",
            $"--Messaging:EventsQueue={_queue}",
            $"--Messaging:TopologyPrefix={_queue}.",
            $"--ASPNETCORE_URLS=http://127.0.0.1:{FreePort()}",
            $"--ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL=http://127.0.0.1:{FreePort()}",
            "--ASPIRE_ALLOW_UNSECURED_TRANSPORT=true",
            "--ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS=true",
        ], (options, _) => options.DisableDashboard = false);
        App = await builder.BuildAsync();
        using var timeout = new CancellationTokenSource(Startup);
        await App.StartAsync(timeout.Token);
        // The broker and the database report health too (the AppHost checks the servers behind the connection strings).
        foreach (var resource in new[] { "messaging", "relaydb", "receiver", "relay", "demo-subscriber" })
        {
            await App.ResourceNotifications.WaitForResourceHealthyAsync(resource, timeout.Token);
        }

        // The testing host gives the dashboard a port of its own choosing.
        await App.ResourceNotifications.WaitForResourceAsync("aspire-dashboard", KnownResourceStates.Running, timeout.Token);
        DashboardUrl = App.GetEndpoint("aspire-dashboard", "http");
    }

    public async Task DisposeAsync()
    {
        if (App is not null)
        {
            await App.DisposeAsync();
        }

        await PostgresServer.DropDatabaseAsync(_database);
        await _rabbit.DeleteQueueAsync(_queue);
        await _rabbit.DisposeAsync();
        await _postgres.DisposeAsync();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class RunningSystemCollection : ICollectionFixture<RunningSystem>
{
    public const string Name = "Running system";
}
