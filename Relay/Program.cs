using Aspire.Webhooks.Relay;
using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Management;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults(RelayMetrics.MeterName);
builder.AddRelayServices();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();

app.MapDefaultEndpoints();
app.MapRelayManagementApi();

app.Run();

/// <summary>Visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
