using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>Telemetry, health checks and service discovery shared by every Aspire.Webhooks service.</summary>
public static class ServiceDefaultsExtensions
{
    public const string AliveTag = "live";
    public const string ReadyTag = "ready";

    /// <summary>Adds OpenTelemetry, default health checks and service discovery.</summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder, params string[] meterNames)
        where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry(meterNames);
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [AliveTag]);
        builder.Services.AddServiceDiscovery();
        // No resilience handler here: the Relay owns retries of subscriber calls, and stacking a second
        // retry layer under it would multiply attempts.
        builder.Services.ConfigureHttpClientDefaults(http => http.AddServiceDiscovery());
        return builder;
    }

    /// <summary>Logs, metrics and traces over OTLP when an endpoint is configured (the Aspire dashboard sets one); no tracing without one.</summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder, params string[] meterNames)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        var otel = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("MassTransit")
                .AddMeter(meterNames));

        // Traces are only worth their cost when someone collects them. Without an exporter, listening would still
        // make ASP.NET Core, HttpClient and MassTransit create, sample and propagate a span per request and per
        // message (3-6% of the Receiver's CPU under load) for nothing.
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.WithTracing(tracing => tracing
                    .AddSource(builder.Environment.ApplicationName)
                    .AddSource("MassTransit")
                    .AddAspNetCoreInstrumentation(aspnet =>
                        aspnet.Filter = context => !IsHealthEndpoint(context.Request.Path))
                    .AddHttpClientInstrumentation())
                .UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>Maps <c>/alive</c> (the process answers) and <c>/health</c> (its dependencies are reachable).</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        // Both endpoints report only the overall status, so they are safe to expose outside Development;
        // details go to the logs and to telemetry.
        app.MapHealthChecks("/health");
        app.MapHealthChecks("/alive", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(AliveTag),
        });
        return app;
    }

    private static bool IsHealthEndpoint(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments("/alive");
}
