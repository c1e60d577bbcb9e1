using Microsoft.Playwright;

namespace Aspire.Webhooks.EndToEnd.Tests;

/// <summary>What a person sees: the Aspire dashboard lists every resource as running.</summary>
[Collection(RunningSystemCollection.Name)]
public sealed class DashboardBrowserTests(RunningSystem system)
{
    [Fact]
    public async Task The_dashboard_lists_every_resource_as_running()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1600, Height = 1000 } });
            await page.GotoAsync(system.DashboardUrl.ToString());
            var screenshot = Path.Combine(Browser.ArtifactsDirectory, "dashboard-resources.png");
            try
            {
                for (var attempt = 1; ; attempt++)
                {
                    try
                    {
                        await ExpectEveryServiceRunningAsync(page);
                        break;
                    }
                    catch (PlaywrightException) when (attempt < 3)
                    {
                        // The dashboard's own page can break (its Blazor circuit throws while rendering, and it shows
                        // its "unhandled error" bar over an empty grid); a person would reload it, so the test does too.
                        // Only then: a service that is not running still fails the test.
                        if (!await page.GetByText(DashboardPageFailed).IsVisibleAsync())
                        {
                            throw;
                        }

                        await page.ReloadAsync();
                    }
                }
            }
            finally
            {
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
            }
        }
    }

    private const string DashboardPageFailed = "An unhandled error has occurred.";

    private static async Task ExpectEveryServiceRunningAsync(IPage page)
    {
        // The broker and the database are connection strings here, listed under Parameters, not as processes.
        // Each service's row in the resources grid shows the state "Running".
        foreach (var resource in new[] { "receiver", "relay", "demo-subscriber" })
        {
            var row = page.GetByRole(AriaRole.Row).Filter(new LocatorFilterOptions
            {
                Has = page.GetByText(resource, new PageGetByTextOptions { Exact = true }),
            });
            await Assertions.Expect(row).ToHaveCountAsync(1, new LocatorAssertionsToHaveCountOptions { Timeout = 30_000 });
            await Assertions.Expect(row).ToContainTextAsync("Running", new LocatorAssertionsToContainTextOptions { Timeout = 30_000 });
        }
    }
}
