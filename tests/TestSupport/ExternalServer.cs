namespace Aspire.Webhooks.TestSupport;

/// <summary>
/// Finds a server for the tests: the one named by a connection-string environment variable (the local servers
/// that scripts/local-services.sh starts), otherwise a Testcontainers container where Docker answers. When neither
/// is there the tests fail with a message saying how to get one; they never skip silently.
/// </summary>
public static class ExternalServer
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static async Task<(string ConnectionString, IAsyncDisposable? Container)> ResolveAsync(
        string variable,
        Func<Task<(string, IAsyncDisposable)>> startContainer,
        string description)
    {
        var configured = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return (configured, null);
        }

        try
        {
            var (connectionString, container) = await startContainer();
            return (connectionString, container);
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException(
                $"No {description} for the tests: {variable} is not set and Testcontainers could not start one " +
                $"({ex.GetType().Name}: {ex.Message}). Run the tests with scripts/test.sh, which starts the local servers, " +
                $"or export {variable}." + (InCi ? " (CI=true: a missing server is a failure.)" : string.Empty), ex);
        }
    }
}
