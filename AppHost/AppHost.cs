using Aspire.Webhooks.AppHost;

var builder = DistributedApplication.CreateBuilder(args);

var (messaging, relaydb) = builder.AddBrokerAndDatabase();

// myKaarma's credentials: asked for at deployment; generated once and kept in user secrets for local runs.
var signingSecret = builder.ExecutionContext.IsRunMode
    ? builder.AddParameter("mykaarma-signing-secret", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true)
    : builder.AddParameter("mykaarma-signing-secret", secret: true);
var authorizationToken = builder.ExecutionContext.IsRunMode
    ? builder.AddParameter("mykaarma-authorization-token", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true)
    : builder.AddParameter("mykaarma-authorization-token", secret: true);
// The key of the Relay's management API (X-Api-Key), kept the same way.
var relayAdminApiKey = builder.ExecutionContext.IsRunMode
    ? builder.AddParameter("relay-admin-api-key", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true)
    : builder.AddParameter("relay-admin-api-key", secret: true);

var receiver = builder.AddProject<Projects.Receiver>("receiver")
    .WithMessagingSettings(builder.Configuration)
    .WithReference(messaging)
    .WaitFor(messaging)
    .WithEnvironment("MyKaarma__SigningSecrets__0", signingSecret)
    .WithEnvironment("MyKaarma__AuthorizationTokens__0", authorizationToken)
    .WithExternalHttpEndpoints()
    .WithHttpHealthCheck("/health");

var relay = builder.AddProject<Projects.Relay>("relay")
    .WithMessagingSettings(builder.Configuration)
    .WithReference(messaging)
    .WithReference(relaydb)
    .WaitFor(messaging)
    .WaitFor(relaydb)
    .WithEnvironment("Relay__AdminApiKeys__0", relayAdminApiKey)
    .WithHttpHealthCheck("/health");

if (builder.ExecutionContext.IsRunMode)
{
    builder.AddDemoSubscriber(relay);
    receiver.WithSendSampleEventsCommand(Path.Combine(builder.AppHostDirectory, "..", "samples", "mykaarma"),
        signingSecret, authorizationToken);
}

builder.Build().Run();
