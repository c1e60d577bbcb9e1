using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>Wires the management API: API keys, its stores, problem details and its OpenAPI document.</summary>
public static partial class ManagementExtensions
{
    /// <summary>Registers the management API's authentication, stores and API reference.</summary>
    public static IHostApplicationBuilder AddRelayManagement(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ApiKeyOptions>().BindConfiguration(ApiKeyOptions.SectionName).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ApiKeyOptions>, ApiKeyOptionsValidator>();
        builder.Services.AddOptions<ManagementOptions>()
            .BindConfiguration(ManagementOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddProblemDetails();
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        ApiKeyAuthenticationHandler.AddPolicies(builder.Services.AddAuthorizationBuilder());

        builder.Services.AddSingleton<JsonBodyReader>();
        builder.Services.AddSingleton<DeliveryLogStore>();
        builder.Services.AddSingleton<ReplayStore>();
        builder.Services.AddSingleton<IdempotencyStore>();
        builder.Services.AddSingleton<StatsStore>();
        builder.AddManagementApiReference();
        return builder;
    }

    /// <summary>Maps <c>/api</c>, every endpoint behind an API key, and the OpenAPI document and Scalar page that describe it.</summary>
    public static WebApplication MapRelayManagementApi(this WebApplication app)
    {
        if (!app.Services.GetRequiredService<IOptions<ApiKeyOptions>>().Value.AnyConfigured)
        {
            LogNoKeys(app.Logger);
        }

        var api = app.MapGroup("/api")
            .RequireAuthorization(ApiKeyAuthenticationHandler.ApiPolicy)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        api.MapSubscriberEndpoints();
        api.MapDeliveryEndpoints();
        api.MapReplayEndpoints();
        api.MapStatsEndpoints();

        app.MapManagementApiReference();
        return app;
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "No API key is configured: the management API refuses every request. Set Relay:AdminApiKeys:0 to enable it")]
    private static partial void LogNoKeys(ILogger logger);
}
