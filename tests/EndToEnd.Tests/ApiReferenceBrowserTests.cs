using Aspire.Hosting.Testing;
using Microsoft.Playwright;

namespace Aspire.Webhooks.EndToEnd.Tests;

/// <summary>What a partner sees: the Receiver's Scalar page renders the webhook endpoint.</summary>
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
}
