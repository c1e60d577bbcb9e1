var builder = DistributedApplication.CreateBuilder(args);

// The broker comes from a connection string for now (scripts/local-services.sh provides one on loopback);
// the AppHost issue adds containers where a container runtime answers.
var messaging = builder.AddConnectionString("messaging");

builder.AddProject<Projects.Receiver>("receiver")
    .WithReference(messaging)
    .WithExternalHttpEndpoints();

builder.Build().Run();
