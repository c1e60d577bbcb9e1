using Aspire.Webhooks.ServiceDefaults;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Aspire.Webhooks.Receiver.Messaging;

public static class MessagingExtensions
{
    /// <summary>Adds the broker connection and the publisher, with a topology that stores every event even before any Relay runs.</summary>
    public static IHostApplicationBuilder AddReceiverMessaging(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<MessagingOptions>()
            .BindConfiguration(MessagingOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        // Fails at start, naming the key, rather than at the first webhook.
        BrokerExtensions.GetBrokerUri(builder.Configuration);

        builder.Services.AddSingleton<MessageRoutes>();
        builder.Services.AddSingleton<BrokerConnection>();
        builder.Services.AddHostedService(services => services.GetRequiredService<BrokerConnection>());
        builder.Services.AddSingleton<EventPublisher>();
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            "messaging",
            services => services.GetRequiredService<BrokerConnection>(),
            HealthStatus.Unhealthy,
            [ServiceDefaultsExtensions.ReadyTag]));
        return builder;
    }
}
