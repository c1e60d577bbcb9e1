using Aspire.Webhooks.Relay;
using Aspire.Webhooks.Relay.Delivery;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults(RelayMetrics.MeterName);
builder.AddRelayServices();

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();

/// <summary>Visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
