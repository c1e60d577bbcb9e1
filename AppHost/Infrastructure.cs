using Microsoft.Extensions.Configuration;
using System.Diagnostics;

namespace Aspire.Webhooks.AppHost;

/// <summary>Where RabbitMQ and PostgreSQL come from: given servers, or containers.</summary>
internal static class Infrastructure
{
    /// <summary>
    /// Uses <c>ConnectionStrings:messaging</c> and <c>ConnectionStrings:relaydb</c> when they are configured (local
    /// servers, or managed services in production). Otherwise runs RabbitMQ and PostgreSQL as containers with data
    /// volumes, which needs a container runtime in run mode: without one, Aspire would wait for the containers
    /// forever, so the AppHost stops at once and says what to do instead.
    /// </summary>
    public static (IResourceBuilder<IResourceWithConnectionString> Messaging, IResourceBuilder<IResourceWithConnectionString> Database)
        AddBrokerAndDatabase(this IDistributedApplicationBuilder builder)
    {
        var givenMessaging = !string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("messaging"));
        var givenDatabase = !string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("relaydb"));
        if (builder.ExecutionContext.IsRunMode && (!givenMessaging || !givenDatabase) && !ContainerRuntimeAnswers())
        {
            throw new InvalidOperationException(
                "No container runtime answers and ConnectionStrings:messaging / ConnectionStrings:relaydb are not both set. " +
                "Run scripts/run.sh (it starts RabbitMQ and PostgreSQL on loopback and passes their connection strings), " +
                "or set ConnectionStrings__messaging and ConnectionStrings__relaydb.");
        }

        IResourceBuilder<IResourceWithConnectionString> messaging = givenMessaging
            ? builder.AddConnectionString("messaging").WithServerHealthCheck(builder)
            : builder.AddRabbitMQ("messaging").WithDataVolume().WithManagementPlugin();

        IResourceBuilder<IResourceWithConnectionString> database = givenDatabase
            ? builder.AddConnectionString("relaydb").WithServerHealthCheck(builder)
            : builder.AddPostgres("postgres").WithDataVolume().AddDatabase("relaydb");

        return (messaging, database);
    }

    /// <summary>
    /// Passes the AppHost's <c>Messaging:EventsQueue</c> and <c>Messaging:TopologyPrefix</c>, when set, to a service,
    /// so the Receiver and the Relay always agree on them (e.g. two environments sharing one broker).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithMessagingSettings(this IResourceBuilder<ProjectResource> service,
        IConfiguration configuration)
    {
        foreach (var key in new[] { "EventsQueue", "TopologyPrefix" })
        {
            if (configuration[$"Messaging:{key}"] is { Length: > 0 } value)
            {
                service.WithEnvironment($"Messaging__{key}", value);
            }
        }

        return service;
    }

    private static bool ContainerRuntimeAnswers()
    {
        foreach (var runtime in new[] { "docker", "podman" })
        {
            try
            {
                using var process = Process.Start(new ProcessStartInfo(runtime, "info")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                });
                if (process is null)
                {
                    continue;
                }

                if (process.WaitForExit(TimeSpan.FromSeconds(10)) && process.ExitCode == 0)
                {
                    return true;
                }

                if (!process.HasExited)
                {
                    process.Kill();
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Not installed.
            }
        }

        return false;
    }
}
