using System.Net;
using Aspire.Webhooks.Receiver.Ingest;
using Aspire.Webhooks.Receiver.Messaging;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver;

public static class ReceiverExtensions
{
    /// <summary>Registers everything the Receiver needs: options, request checks, metrics and the broker.</summary>
    public static IHostApplicationBuilder AddReceiverServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IValidateOptions<MyKaarmaOptions>, MyKaarmaOptionsValidator>();
        builder.Services.AddOptions<MyKaarmaOptions>()
            .BindConfiguration(MyKaarmaOptions.SectionName)
            .ValidateOnStart();

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<AdmissionGate>();
        builder.Services.AddSingleton<RequestAuthenticator>();
        builder.Services.AddSingleton<ReceiverMetrics>();
        builder.Services.AddProblemDetails();

        // X-Forwarded-For is believed only when it comes from a proxy the operator named (e.g. the ingress);
        // otherwise anyone could claim to be myKaarma's address. With no proxy named the header is ignored:
        // the middleware would otherwise trust every sender when both of its lists are empty.
        builder.Services.AddOptions<ForwardedHeadersOptions>()
            .Configure<IOptions<MyKaarmaOptions>>((forwarded, mykaarma) =>
            {
                forwarded.ForwardedHeaders = mykaarma.Value.TrustedProxies.Count == 0
                    ? ForwardedHeaders.None
                    : ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
                forwarded.KnownProxies.Clear();
                forwarded.KnownIPNetworks.Clear();
                foreach (var network in IpNetworks.ParseAll(mykaarma.Value.TrustedProxies))
                {
                    forwarded.KnownIPNetworks.Add(network);
                }
            });

        builder.AddReceiverMessaging();
        return builder;
    }
}
