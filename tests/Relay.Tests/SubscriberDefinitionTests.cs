using Aspire.Webhooks.Relay.Subscribers;

namespace Aspire.Webhooks.Relay.Tests;

public sealed class SubscriberDefinitionTests
{
    private static readonly DefinitionRules Rules = new(8, RequireHttps: true);

    private static IReadOnlyList<string> Errors(params SubscriberDefinition[] definitions) =>
        SubscriberDefinitions.Validate(definitions, Rules).Errors;

    [Fact]
    public void A_good_definition_gets_defaults_and_a_generated_secret()
    {
        var (subscribers, errors) = SubscriberDefinitions.Validate(
            [new SubscriberDefinition { Name = "crm", Url = "https://crm.example/hooks" }], Rules);
        Assert.Empty(errors);
        var crm = Assert.Single(subscribers);
        Assert.StartsWith(SigningSecret.Prefix, crm.Secret, StringComparison.Ordinal);
        Assert.True(SigningSecret.TryGetKey(crm.Secret, out var key) && key.Length == 32);
        Assert.Equal(10, crm.Retry.MaxAttempts);
        Assert.Equal(8, crm.MaxConcurrency);
        Assert.True(crm.ManagedByConfiguration);
    }

    [Fact]
    public void A_missing_url_is_named() =>
        Assert.Contains(Errors(new SubscriberDefinition { Name = "crm" }), e => e.Contains("Relay:Subscribers:0 ('crm'): Url is required", StringComparison.Ordinal));

    [Theory]
    [InlineData("not a url")]
    [InlineData("/relative/path")]
    [InlineData("ftp://files.example/x")]
    public void A_malformed_url_is_named(string url) =>
        Assert.Contains(Errors(new SubscriberDefinition { Name = "crm", Url = url }), e => e.Contains($"Url '{url}'", StringComparison.Ordinal));

    [Fact]
    public void An_unknown_event_type_is_named()
    {
        var definition = new SubscriberDefinition { Name = "crm", Url = "https://crm.example/h" };
        definition.Filter.EventTypes.Add("customer");
        Assert.Contains(Errors(definition), e => e.Contains("unknown event type 'customer'", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_name_a_duplicate_name_and_a_bad_secret_are_each_named()
    {
        var errors = Errors(
            new SubscriberDefinition { Url = "https://a.example/h" },
            new SubscriberDefinition { Name = "dup", Url = "https://a.example/h" },
            new SubscriberDefinition { Name = "dup", Url = "https://b.example/h" },
            new SubscriberDefinition { Name = "weak", Url = "https://c.example/h", Secret = "whsec_c2hvcnQ=" });
        Assert.Contains(errors, e => e.StartsWith("Relay:Subscribers:0:Name is required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Relay:Subscribers:2 ('dup'): the name is used", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("('weak'): Secret must be whsec_", StringComparison.Ordinal));
    }
}
