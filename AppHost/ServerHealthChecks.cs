using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RabbitMQ.Client;

namespace Aspire.Webhooks.AppHost;

/// <summary>
/// Health for servers given as connection strings. Aspire checks its containers itself; a connection string is
/// only text, so without these the dashboard could not show the local or managed servers as healthy, and
/// <c>WaitFor</c> would start the services before the servers answer.
/// </summary>
internal static class ServerHealthChecks
{
    public static IResourceBuilder<IResourceWithConnectionString> WithServerHealthCheck(
        this IResourceBuilder<IResourceWithConnectionString> resource, IDistributedApplicationBuilder builder)
    {
        if (resource.Resource is not ConnectionStringResource)
        {
            return resource;
        }

        var connectionString = builder.Configuration.GetConnectionString(resource.Resource.Name)!;
        var name = $"{resource.Resource.Name}-reachable";
        if (resource.Resource.Name == "messaging")
        {
            builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(name,
                _ => new RabbitMqReachable(new Uri(connectionString)), HealthStatus.Unhealthy, tags: null, timeout: TimeSpan.FromSeconds(5)));
        }
        else
        {
            builder.Services.AddHealthChecks().AddNpgSql(connectionString, name: name, timeout: TimeSpan.FromSeconds(5));
        }

        return resource.WithHealthCheck(name);
    }

    /// <summary>Opens and closes one AMQP connection: the broker accepts the credentials and the virtual host.</summary>
    private sealed class RabbitMqReachable(Uri uri) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                await using var connection = await new ConnectionFactory { Uri = uri, ClientProvidedName = "apphost-health" }
                    .CreateConnectionAsync(cancellationToken);
                return HealthCheckResult.Healthy();
            }
            catch (Exception ex)
            {
                return HealthCheckResult.Unhealthy("RabbitMQ does not accept a connection.", ex);
            }
        }
    }
}
