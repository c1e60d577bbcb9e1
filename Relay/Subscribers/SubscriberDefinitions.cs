using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Routing;

namespace Aspire.Webhooks.Relay.Subscribers;

/// <summary>A problem with one field of a subscriber definition, e.g. <c>Url</c> or <c>Filter:EventTypes</c>.</summary>
public sealed record DefinitionError(string Field, string Message);

/// <summary>What a definition is checked against: the defaults it falls back on, and whether its URL must be HTTPS.</summary>
public sealed record DefinitionRules(int DefaultMaxConcurrency, bool RequireHttps)
{
    /// <summary>The longest coalescing window: deliveries wait this long before their first attempt.</summary>
    public static readonly TimeSpan MaxCoalesceWindow = TimeSpan.FromMinutes(5);
}

/// <summary>Turns definitions (configuration or API input) into subscribers, or into messages naming each bad field.</summary>
public static class SubscriberDefinitions
{
    /// <summary>Checks the configured definitions; each error names its configuration key, e.g. <c>Relay:Subscribers:0 ('crm'): Url is required.</c></summary>
    public static (IReadOnlyList<Subscriber> Subscribers, IReadOnlyList<string> Errors) Validate(
        IReadOnlyList<SubscriberDefinition> definitions, DefinitionRules rules)
    {
        var subscribers = new List<Subscriber>();
        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);

        for (var i = 0; i < definitions.Count; i++)
        {
            var definition = definitions[i];
            var key = $"Relay:Subscribers:{i}";
            var label = string.IsNullOrWhiteSpace(definition.Name) ? key : $"{key} ('{definition.Name}')";
            var (subscriber, problems) = Check(definition, rules);
            foreach (var problem in problems)
            {
                errors.Add(problem.Field == "Name" && string.IsNullOrWhiteSpace(definition.Name)
                    ? $"{key}:Name is required."
                    : $"{label}: {problem.Message}");
            }

            if (!string.IsNullOrWhiteSpace(definition.Name) && !names.Add(definition.Name))
            {
                errors.Add($"{label}: the name is used by another subscriber.");
                continue;
            }

            if (subscriber is not null)
            {
                subscribers.Add(subscriber with
                {
                    ManagedByConfiguration = true,
                    SecretFromConfiguration = definition.Secret is not null,
                });
            }
        }

        return (subscribers, errors);
    }

    /// <summary>
    /// Checks one definition. The subscriber gets a new id and, when the definition has none, a generated secret;
    /// it is null when any field is wrong.
    /// </summary>
    public static (Subscriber? Subscriber, IReadOnlyList<DefinitionError> Errors) Check(SubscriberDefinition definition, DefinitionRules rules)
    {
        var errors = new List<DefinitionError>();
        if (string.IsNullOrWhiteSpace(definition.Name))
        {
            errors.Add(new("Name", "Name is required."));
        }
        else if (definition.Name.Length > 200)
        {
            errors.Add(new("Name", "Name must be at most 200 characters."));
        }

        Uri? url = null;
        if (string.IsNullOrWhiteSpace(definition.Url))
        {
            errors.Add(new("Url", "Url is required."));
        }
        else if (!Uri.TryCreate(definition.Url, UriKind.Absolute, out url) || url.Scheme is not ("http" or "https"))
        {
            errors.Add(new("Url", $"Url '{definition.Url}' is not an absolute http or https URL."));
        }
        else if (!string.IsNullOrEmpty(url.UserInfo))
        {
            errors.Add(new("Url", "Url must not carry credentials; the signature authenticates the Relay."));
        }
        else if (rules.RequireHttps && url.Scheme != "https")
        {
            errors.Add(new("Url", $"Url '{definition.Url}' must be https (set Relay:RequireHttps to false to allow http)."));
        }

        if (definition.Secret is not null && !SigningSecret.TryGetKey(definition.Secret, out _))
        {
            errors.Add(new("Secret", "Secret must be whsec_ followed by base64 of at least 16 bytes (or left out to generate one)."));
        }

        foreach (var type in definition.Filter?.EventTypes ?? [])
        {
            if (!SubscriberFilter.ValidEventTypes.Contains(type, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add(new("Filter:EventTypes", $"Filter:EventTypes has unknown event type '{type}'; " +
                    $"use {string.Join(", ", SubscriberFilter.ValidEventTypes)}."));
            }
        }

        var retryDefinition = definition.Retry ?? new RetryPolicyDefinition();
        var retry = new RetryPolicy
        {
            MaxAttempts = retryDefinition.MaxAttempts ?? RetryPolicy.Default.MaxAttempts,
            BaseDelay = retryDefinition.BaseDelay ?? RetryPolicy.Default.BaseDelay,
            MaxDelay = retryDefinition.MaxDelay ?? RetryPolicy.Default.MaxDelay,
        };
        if (retry.MaxAttempts is < 1 or > 100)
        {
            errors.Add(new("Retry:MaxAttempts", "Retry:MaxAttempts must be between 1 and 100."));
        }

        if (retry.BaseDelay <= TimeSpan.Zero || retry.MaxDelay < retry.BaseDelay)
        {
            errors.Add(new("Retry:BaseDelay", "Retry:BaseDelay must be positive and no longer than Retry:MaxDelay."));
        }

        var concurrency = definition.MaxConcurrency ?? rules.DefaultMaxConcurrency;
        if (concurrency is < 1 or > 1024)
        {
            errors.Add(new("MaxConcurrency", "MaxConcurrency must be between 1 and 1024."));
        }

        if (definition.RateLimitPerSecond is { } rate && (double.IsNaN(rate) || rate is <= 0 or > 10_000))
        {
            errors.Add(new("RateLimitPerSecond", "RateLimitPerSecond must be above 0 and at most 10000 (or left out for no limit)."));
        }

        var ordering = DeliveryOrdering.None;
        if (definition.Ordering is { Length: > 0 } orderingText &&
            (!Enum.TryParse(orderingText, ignoreCase: true, out ordering) || !Enum.IsDefined(ordering)))
        {
            errors.Add(new("Ordering", $"Ordering '{orderingText}' is not one of None, PerEntity."));
        }

        var window = definition.CoalesceWindow ?? TimeSpan.Zero;
        if (window < TimeSpan.Zero || window > DefinitionRules.MaxCoalesceWindow)
        {
            errors.Add(new("CoalesceWindow", $"CoalesceWindow must be between 0 and {DefinitionRules.MaxCoalesceWindow:c}."));
        }

        if (errors.Count > 0)
        {
            return (null, errors);
        }

        var filter = definition.Filter ?? new SubscriberFilterDefinition();
        return (new Subscriber
        {
            Id = Guid.CreateVersion7(),
            Name = definition.Name!.Trim(),
            Url = url!,
            Secret = definition.Secret ?? SigningSecret.Generate(),
            Filter = new SubscriberFilter
            {
                Dealers = Clean(filter.Dealers),
                Departments = Clean(filter.Departments),
                EventTypes = Clean(filter.EventTypes),
                AppointmentEvents = Clean(filter.AppointmentEvents),
                AppointmentStatuses = Clean(filter.AppointmentStatuses),
            },
            Retry = retry,
            MaxConcurrency = concurrency,
            RateLimitPerSecond = definition.RateLimitPerSecond,
            Ordering = ordering,
            DropStale = definition.DropStale ?? false,
            CoalesceWindow = window,
        }, errors);
    }

    private static string[] Clean(List<string>? values) =>
        [.. (values ?? []).Where(v => !string.IsNullOrWhiteSpace(v)).Select(v => v.Trim())];
}
