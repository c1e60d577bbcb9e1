using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>The management API's OpenAPI document (<c>/openapi/v1.json</c>) and Scalar page (<c>/scalar</c>), both open.</summary>
public static class ApiReference
{
    public const string Title = "Aspire.Webhooks Relay management API";
    public const string SecuritySchemeName = "ApiKey";

    /// <summary>Adds the OpenAPI document, with the API-key scheme every operation requires.</summary>
    public static IHostApplicationBuilder AddManagementApiReference(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOpenApi(options => options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = Title;
            document.Info.Description =
                "Subscribers, the delivery log, replay and backfill, and statistics of the Relay. Every request carries an API " +
                $"key in the {ApiKeyAuthenticationHandler.HeaderName} header: a key from Relay:AdminApiKeys may do anything, one " +
                "from Relay:ReadOnlyApiKeys only read (GET). Errors are problem details naming the field, query parameter or header.";
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[SecuritySchemeName] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = ApiKeyAuthenticationHandler.HeaderName,
                Description = "A key from Relay:AdminApiKeys (full access) or Relay:ReadOnlyApiKeys (GET only).",
            };
            document.Security ??= [];
            document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SecuritySchemeName, document)] = [] });
            return Task.CompletedTask;
        }));
        return builder;
    }

    /// <summary>Maps <c>/openapi/v1.json</c> and the Scalar page at <c>/scalar</c>, which asks for the key.</summary>
    public static WebApplication MapManagementApiReference(this WebApplication app)
    {
        app.MapOpenApi();
        app.MapScalarApiReference(options => options
            .WithTitle(Title)
            .AddPreferredSecuritySchemes(SecuritySchemeName)
            .DisableTelemetry()
            .DisableAgent());
        return app;
    }
}
