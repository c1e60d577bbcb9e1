using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Aspire.Webhooks.EndToEnd.Tests;

/// <summary>
/// What a partner sees: the Receiver's Scalar page renders the webhook endpoint. What an operator sees: the Relay's
/// Scalar page renders the management API, which answers to the key the AppHost generated.
/// </summary>
[Collection(RunningSystemCollection.Name)]
public sealed class ApiReferenceBrowserTests(RunningSystem system)
{
    [Fact]
    public async Task The_scalar_page_renders_the_webhook_endpoint()
    {
        var receiver = system.App.GetEndpoint("receiver", "http");
        var (playwright, browser) = await Browser.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1600, Height = 1000 } });
            await page.GotoAsync(new Uri(receiver, "/scalar").ToString());
            try
            {
                await Assertions.Expect(page.GetByText("Receive one myKaarma webhook event").First)
                    .ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
                await Assertions.Expect(page.GetByText("/webhooks/mykaarma").First)
                    .ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
            }
            finally
            {
                await page.ScreenshotAsync(new PageScreenshotOptions
                {
                    Path = Path.Combine(Browser.ArtifactsDirectory, "receiver-scalar.png"),
                    FullPage = false,
                });
            }
        }
    }

    [Fact]
    public async Task The_relays_scalar_page_renders_the_management_api_and_how_to_authenticate()
    {
        var relay = system.App.GetEndpoint("relay", "http");
        var (playwright, browser) = await Browser.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1600, Height = 1000 } });
            await page.GotoAsync(new Uri(relay, "/scalar").ToString());
            try
            {
                var visible = new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 };
                await Assertions.Expect(page.GetByText("Aspire.Webhooks Relay management API").First).ToBeVisibleAsync(visible);
                await Assertions.Expect(page.GetByText("List the subscribers").First).ToBeVisibleAsync(visible);
                await Assertions.Expect(page.GetByText("/api/subscribers/{id}/rotate-secret").First).ToBeVisibleAsync(visible);
                foreach (var tag in new[] { "Deliveries", "Replay", "Statistics" })
                {
                    await Assertions.Expect(page.GetByText(tag, new PageGetByTextOptions { Exact = true }).First).ToBeVisibleAsync(visible);
                }

                // The authentication box names the header the key goes in.
                await Assertions.Expect(page.GetByText("X-Api-Key").First).ToBeVisibleAsync(visible);
            }
            finally
            {
                await page.ScreenshotAsync(new PageScreenshotOptions
                {
                    Path = Path.Combine(Browser.ArtifactsDirectory, "relay-scalar.png"),
                    FullPage = false,
                });
            }
        }
    }

    [Fact]
    public async Task The_relays_management_api_answers_to_the_key_the_apphost_generated_and_refuses_others()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var parameter = system.App.Services.GetRequiredService<DistributedApplicationModel>().Resources
            .OfType<ParameterResource>().Single(p => p.Name == "relay-admin-api-key");
        var key = await parameter.GetValueAsync(timeout.Token);
        Assert.False(string.IsNullOrEmpty(key));
        using var client = system.App.CreateHttpClient("relay");

        using (var anonymous = await client.GetAsync("/api/subscribers", timeout.Token))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/subscribers");
        request.Headers.Add("X-Api-Key", key);
        using var response = await client.SendAsync(request, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var subscribers = (await response.Content.ReadFromJsonAsync<JsonElement[]>(timeout.Token))!;
        // The demo subscribers come from the AppHost's configuration.
        Assert.Contains(subscribers, s => s.GetProperty("name").GetString() == "demo-all" &&
            s.GetProperty("managedByConfiguration").GetBoolean());
    }
}
