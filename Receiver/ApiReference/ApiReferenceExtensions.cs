using Aspire.Webhooks.Receiver.Ingest;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Aspire.Webhooks.Receiver.ApiReference;

/// <summary>The Receiver's contract for partners: an OpenAPI document and a Scalar API reference page.</summary>
public static class ApiReferenceExtensions
{
    /// <summary>Adds the OpenAPI document, with the two headers myKaarma signs its requests with.</summary>
    public static IHostApplicationBuilder AddReceiverApiReference(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "Aspire.Webhooks Receiver";
                document.Info.Description =
                    "The URL myKaarma posts its webhook events to. Every request carries x-authorization-token and " +
                    "mykaarma-signature-token (sha256= and the hex HMAC-SHA256 of the exact body under the shared " +
                    "secret). A 202 means the event is durably stored; any other answer makes myKaarma retry.";
                return Task.CompletedTask;
            });
            options.AddOperationTransformer(async (operation, context, cancellationToken) =>
            {
                if (context.Description.ActionDescriptor.EndpointMetadata.OfType<EndpointNameMetadata>()
                    .Any(n => n.EndpointName == WebhookEndpoints.EndpointName))
                {
                    // Described here rather than with Accepts(): that metadata would make routing refuse any other
                    // content type with 415, and the endpoint takes the body whatever its Content-Type.
                    var envelope = await context.GetOrCreateSchemaAsync(typeof(MyKaarmaEventEnvelope), null, cancellationToken);
                    operation.RequestBody = new OpenApiRequestBody
                    {
                        Required = true,
                        Description = "myKaarma's event envelope. myKaarma sends it as text/plain; any Content-Type is accepted.",
                        Content = new Dictionary<string, OpenApiMediaType>
                        {
                            ["text/plain"] = new() { Schema = envelope },
                            ["application/json"] = new() { Schema = envelope },
                        },
                    };
                    operation.Parameters ??= [];
                    operation.Parameters.Add(Header(RequestAuthenticator.AuthorizationHeader,
                        "One of the configured authorization tokens (MyKaarma:AuthorizationTokens)."));
                    operation.Parameters.Add(Header(RequestAuthenticator.SignatureHeader,
                        "sha256= followed by the hex HMAC-SHA256 of the raw body under one of MyKaarma:SigningSecrets."));
                }
            });
        });
        return builder;
    }

    /// <summary>Maps <c>/openapi/v1.json</c> and the Scalar page at <c>/scalar</c>.</summary>
    public static WebApplication MapReceiverApiReference(this WebApplication app)
    {
        app.MapOpenApi();
        app.MapScalarApiReference(options => options.WithTitle("Aspire.Webhooks Receiver"));
        return app;
    }

    private static OpenApiParameter Header(string name, string description) => new()
    {
        Name = name,
        In = ParameterLocation.Header,
        Required = true,
        Description = description,
        Schema = new OpenApiSchema { Type = JsonSchemaType.String },
    };
}
