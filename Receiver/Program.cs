using Aspire.Webhooks.Receiver;
using Aspire.Webhooks.Receiver.Ingest;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults(ReceiverMetrics.MeterName);
builder.AddReceiverServices();

var app = builder.Build();

app.UseForwardedHeaders();
app.UseExceptionHandler();
app.UseStatusCodePages();

app.MapDefaultEndpoints();
app.MapMyKaarmaWebhooks();

app.Run();

/// <summary>Visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
