using Aspire.Webhooks.Receiver;
using Aspire.Webhooks.Receiver.ApiReference;
using Aspire.Webhooks.Receiver.Ingest;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults(ReceiverMetrics.MeterName);
builder.AddReceiverServices();
builder.AddReceiverApiReference();

var app = builder.Build();

app.UseForwardedHeaders();
app.UseExceptionHandler();
app.UseStatusCodePages();

app.MapDefaultEndpoints();
app.MapMyKaarmaWebhooks();
app.MapReceiverApiReference();

app.Run();

/// <summary>Visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
