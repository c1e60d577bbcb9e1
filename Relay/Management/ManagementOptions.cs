using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>The API keys of the management API, read from the <c>Relay</c> section.</summary>
public sealed class ApiKeyOptions
{
    public const string SectionName = "Relay";

    /// <summary>The shortest key accepted: shorter keys are guessable.</summary>
    public const int MinKeyLength = 16;

    /// <summary>Keys with full access (<c>Relay:AdminApiKeys:0</c>, ...). With no key at all, every <c>/api</c> request is refused.</summary>
    public List<string> AdminApiKeys { get; set; } = [];

    /// <summary>Keys that may only read (<c>GET</c>); secrets stay hidden from them.</summary>
    public List<string> ReadOnlyApiKeys { get; set; } = [];

    public bool AnyConfigured => AdminApiKeys.Count > 0 || ReadOnlyApiKeys.Count > 0;
}

/// <summary>Refuses to start with a key that is blank or too short, naming it.</summary>
internal sealed class ApiKeyOptionsValidator : IValidateOptions<ApiKeyOptions>
{
    public ValidateOptionsResult Validate(string? name, ApiKeyOptions options)
    {
        var errors = Check(options.AdminApiKeys, "Relay:AdminApiKeys").Concat(Check(options.ReadOnlyApiKeys, "Relay:ReadOnlyApiKeys")).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static IEnumerable<string> Check(List<string> keys, string key)
    {
        for (var i = 0; i < keys.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(keys[i]) || keys[i].Trim().Length < ApiKeyOptions.MinKeyLength)
            {
                yield return $"{key}:{i} must be at least {ApiKeyOptions.MinKeyLength} characters long.";
            }
        }
    }
}

/// <summary>The <c>Relay:Management</c> section.</summary>
public sealed class ManagementOptions
{
    public const string SectionName = "Relay:Management";

    /// <summary>
    /// The most deliveries one replay or backfill request may create or replay, and the default of its <c>limit</c>;
    /// a request that leaves more says so, and the next request takes the rest.
    /// </summary>
    [Range(1, 100_000)]
    public int MaxReplayCount { get; set; } = 1000;

    /// <summary>How long an <c>Idempotency-Key</c> is remembered with its answer.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan IdempotencyKeyLifetime { get; set; } = TimeSpan.FromHours(24);
}
