using Microsoft.Extensions.Configuration;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Aspire.Webhooks.AppHost;

/// <summary>One demo subscriber as the AppHost's configuration describes it (section <c>Demo:Subscribers</c>).</summary>
internal sealed class DemoSubscriberRule
{
    public string Name { get; set; } = string.Empty;

    public Dictionary<string, List<string>> Filter { get; set; } = [];
}

/// <summary>The run-mode demo: a subscriber that verifies what it receives, and a command that sends it events.</summary>
internal static class DemoSetup
{
    public const string SendSamplesCommand = "send-sample-events";

    /// <summary>Adds the demo subscriber and registers the configured rules with the Relay.</summary>
    public static IResourceBuilder<ProjectResource> AddDemoSubscriber(this IDistributedApplicationBuilder builder,
        IResourceBuilder<ProjectResource> relay)
    {
        // A fresh secret each run: the demo subscriber and the Relay are its only holders.
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var demo = builder.AddProject<Projects.DemoSubscriber>("demo-subscriber")
            .WithEnvironment("Demo__Secret", secret)
            .WithHttpHealthCheck("/health");

        var rules = builder.Configuration.GetSection("Demo:Subscribers").Get<List<DemoSubscriberRule>>() ?? [];
        if (rules.Count == 0)
        {
            rules.Add(new DemoSubscriberRule { Name = "demo-all" });
        }

        var endpoint = demo.GetEndpoint("http");
        for (var i = 0; i < rules.Count; i++)
        {
            var prefix = $"Relay__Subscribers__{i}__";
            relay.WithEnvironment(prefix + "Name", rules[i].Name)
                .WithEnvironment(prefix + "Url", ReferenceExpression.Create($"{endpoint}/webhooks/{rules[i].Name}"))
                .WithEnvironment(prefix + "Secret", secret);
            foreach (var (field, values) in rules[i].Filter)
            {
                for (var j = 0; j < values.Count; j++)
                {
                    relay.WithEnvironment($"{prefix}Filter__{field}__{j}", values[j]);
                }
            }
        }

        // The demo subscriber listens on plain http on this machine: the Relay is told that such a target is wanted.
        relay.WithEnvironment("Relay__AllowPrivateNetworkTargets", "true")
            .WithEnvironment("Relay__RequireHttps", "false")
            .WaitFor(demo);
        return demo;
    }

    /// <summary>A dashboard command on the Receiver that posts the vendor document's four examples, signed, with fresh ids.</summary>
    public static IResourceBuilder<ProjectResource> WithSendSampleEventsCommand(this IResourceBuilder<ProjectResource> receiver,
        string samplesDirectory, IResourceBuilder<ParameterResource> signingSecret, IResourceBuilder<ParameterResource> authorizationToken)
    {
        var endpoint = receiver.GetEndpoint("http");
        return receiver.WithCommand(SendSamplesCommand, "Send sample events", async context =>
        {
            var secret = await signingSecret.Resource.GetValueAsync(context.CancellationToken);
            var token = await authorizationToken.Resource.GetValueAsync(context.CancellationToken);
            using var client = new HttpClient { BaseAddress = new Uri(endpoint.Url), Timeout = TimeSpan.FromSeconds(10) };
            var accepted = 0;
            foreach (var file in Directory.GetFiles(samplesDirectory, "*.json").Order())
            {
                var envelope = JsonNode.Parse(await File.ReadAllTextAsync(file, context.CancellationToken))!.AsObject();
                envelope["id"] = Guid.NewGuid().ToString();
                var body = Encoding.UTF8.GetBytes(envelope.ToJsonString());
                using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/mykaarma") { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
                request.Headers.TryAddWithoutValidation("x-authorization-token", token);
                request.Headers.TryAddWithoutValidation("mykaarma-signature-token",
                    "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret ?? string.Empty), body)));
                using var response = await client.SendAsync(request, context.CancellationToken);
                context.Logger.LogInformation("Sent {Sample}: {Status}", Path.GetFileName(file), (int)response.StatusCode);
                if (response.IsSuccessStatusCode)
                {
                    accepted++;
                }
            }

            return accepted == 4
                ? CommandResults.Success()
                : CommandResults.Failure($"{accepted} of 4 sample events were accepted; see the Receiver's logs.");
        }, new CommandOptions
        {
            Description = "Posts the four example events of myKaarma's document to the Receiver, signed, with fresh ids.",
            IconName = "Send",
            UpdateState = context => context.ResourceSnapshot.HealthStatus == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy
                ? ResourceCommandState.Enabled
                : ResourceCommandState.Disabled,
        });
    }
}
