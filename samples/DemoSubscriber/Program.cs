using Aspire.Webhooks.DemoSubscriber;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddSingleton<ReceivedWebhooks>();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapDemoWebhooks();

app.Run();
