using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace Aspire.Webhooks.EndToEnd.Tests;

/// <summary>The deployment manifest azd reads: a change that breaks it must fail here, not at deploy time.</summary>
public sealed class ManifestTests
{
    [Fact]
    public async Task The_manifest_names_the_services_the_broker_the_database_and_the_secret_parameters()
    {
        var output = Path.Combine(Path.GetTempPath(), $"aspire-manifest-{Guid.NewGuid():N}.json");
        try
        {
            await GenerateManifestAsync(output);

            using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(output));
            var resources = manifest.RootElement.GetProperty("resources");
            Assert.StartsWith("project.", Type(resources, "receiver"), StringComparison.Ordinal);
            Assert.StartsWith("project.", Type(resources, "relay"), StringComparison.Ordinal);
            Assert.StartsWith("container.", Type(resources, "messaging"), StringComparison.Ordinal);
            Assert.StartsWith("container.", Type(resources, "postgres"), StringComparison.Ordinal);
            Assert.Equal("value.v0", Type(resources, "relaydb"));
            foreach (var secret in new[] { "mykaarma-signing-secret", "mykaarma-authorization-token" })
            {
                Assert.Equal("parameter.v0", Type(resources, secret));
                Assert.True(resources.GetProperty(secret).GetProperty("inputs").GetProperty("value").GetProperty("secret").GetBoolean());
            }

            // The demo subscriber is for local runs only.
            Assert.False(resources.TryGetProperty("demo-subscriber", out _));

            var receiverEnv = resources.GetProperty("receiver").GetProperty("env");
            Assert.Equal("{mykaarma-signing-secret.value}", receiverEnv.GetProperty("MyKaarma__SigningSecrets__0").GetString());
            Assert.Equal("{messaging.connectionString}", receiverEnv.GetProperty("ConnectionStrings__messaging").GetString());
            var relayEnv = resources.GetProperty("relay").GetProperty("env");
            Assert.Equal("{relaydb.connectionString}", relayEnv.GetProperty("ConnectionStrings__relaydb").GetString());
        }
        finally
        {
            File.Delete(output);
        }
    }

    private static string Type(JsonElement resources, string name) =>
        resources.TryGetProperty(name, out var resource)
            ? resource.GetProperty("type").GetString()!
            : throw new Xunit.Sdk.XunitException($"The manifest has no resource '{name}'.");

    /// <summary>Runs the AppHost with the manifest publisher, as azd does, from the build this test belongs to.</summary>
    private static async Task GenerateManifestAsync(string output)
    {
        var configuration = typeof(ManifestTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var start = new ProcessStartInfo("dotnet",
            ["run", "--project", Path.Combine(RepositoryRoot(), "AppHost"), "-c", configuration, "--no-build", "--no-launch-profile",
             "--", "--publisher", "manifest", "--output-path", output])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // A deployment gets its own broker and database; connection strings of this machine must not leak in.
        start.Environment.Remove("ConnectionStrings__messaging");
        start.Environment.Remove("ConnectionStrings__relaydb");
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0 && File.Exists(output),
            $"manifest generation failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Aspire.Webhooks.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Aspire.Webhooks.sln not found above the test output.");
    }
}
