using Microsoft.Playwright;

namespace Aspire.Webhooks.EndToEnd.Tests;

/// <summary>Headless Chromium driven by Playwright, using the machine's browser (scripts/browser.sh provides it).</summary>
public static class Browser
{
    /// <summary>Where screenshots are kept as test artifacts.</summary>
    public static string ArtifactsDirectory { get; } =
        Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots")).FullName;

    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        var executable = Environment.GetEnvironmentVariable("CHROMIUM_PATH");
        if (string.IsNullOrWhiteSpace(executable) || !File.Exists(executable))
        {
            executable = new[] { "/usr/bin/chromium", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable" }
                .FirstOrDefault(File.Exists)
                ?? throw new InvalidOperationException(
                    "No Chromium for the browser checks: run scripts/test.sh (it installs Debian's chromium) or set CHROMIUM_PATH.");
        }

        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = executable,
            Headless = true,
            // A closed network: nothing in the background may try to reach the internet.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        });
        return (playwright, browser);
    }
}
