using Aspire.Webhooks.TestSupport;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>Outside Development a Receiver without its secrets must not start at all.</summary>
public sealed class StartupValidationTests
{
    [Theory]
    [InlineData("MyKaarma:SigningSecrets:0", "MyKaarma:SigningSecrets")]
    [InlineData("MyKaarma:SigningSecrets:1", "MyKaarma:SigningSecrets")]
    [InlineData("MyKaarma:AuthorizationTokens:0", "MyKaarma:AuthorizationTokens")]
    public async Task Without_a_secret_or_token_the_start_fails_naming_the_key(string removedKey, string namedKey)
    {
        // Both signing secrets must go for the list to be empty.
        var removals = removedKey.StartsWith("MyKaarma:SigningSecrets", StringComparison.Ordinal)
            ? new[] { ("MyKaarma:SigningSecrets:0", (string?)""), ("MyKaarma:SigningSecrets:1", (string?)"") }
            : [(removedKey, (string?)"")];
        await using var factory = new ReceiverFactory("amqp://guest:guest@127.0.0.1:1/", "unused", removals);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => Task.Run(() => factory.CreateClient()));

        var validation = Assert.IsType<OptionsValidationException>(Unwrap(error));
        Assert.Contains(validation.Failures, f => f.Contains(namedKey, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_malformed_allowlist_entry_fails_the_start_naming_it()
    {
        await using var factory = new ReceiverFactory("amqp://guest:guest@127.0.0.1:1/", "unused",
            ("MyKaarma:AllowedIps:1", "not-an-address"));

        var error = await Assert.ThrowsAnyAsync<Exception>(() => Task.Run(() => factory.CreateClient()));

        var validation = Assert.IsType<OptionsValidationException>(Unwrap(error));
        Assert.Contains(validation.Failures, f => f.Contains("MyKaarma:AllowedIps:1 'not-an-address'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_publish_timeout_beyond_mykaarmas_budget_fails_the_start()
    {
        await using var factory = new ReceiverFactory("amqp://guest:guest@127.0.0.1:1/", "unused",
            ("Messaging:PublishTimeout", "00:00:06"));

        var error = await Assert.ThrowsAnyAsync<Exception>(() => Task.Run(() => factory.CreateClient()));

        var validation = Assert.IsType<OptionsValidationException>(Unwrap(error));
        Assert.Contains(validation.Failures, f => f.Contains("Messaging:PublishTimeout", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("127.0.0.1:5672")]
    [InlineData("http://127.0.0.1:5672/")]
    public async Task A_missing_or_non_amqp_broker_uri_fails_the_start_naming_the_key(string connectionString)
    {
        await using var factory = new ReceiverFactory(connectionString, "unused");

        var error = await Assert.ThrowsAnyAsync<Exception>(() => Task.Run(() => factory.CreateClient()));

        Assert.Contains("ConnectionStrings:messaging", Unwrap(error).Message, StringComparison.Ordinal);
    }

    private static Exception Unwrap(Exception error)
    {
        while (error is AggregateException or InvalidOperationException && error.InnerException is not null)
        {
            error = error.InnerException;
        }

        return error;
    }
}
