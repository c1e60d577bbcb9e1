using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Routing;

namespace Aspire.Webhooks.Relay.Subscribers;

/// <summary>Turns configured definitions into subscribers, or into messages naming each bad rule.</summary>
public static class SubscriberDefinitions
{
    public static (IReadOnlyList<Subscriber> Subscribers, IReadOnlyList<string> Errors) Validate(
        IReadOnlyList<SubscriberDefinition> definitions, int defaultMaxConcurrency)
    {
        var subscribers = new List<Subscriber>();
        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);

        for (var i = 0; i < definitions.Count; i++)
        {
            var definition = definitions[i];
            var key = $"Relay:Subscribers:{i}";
            var label = string.IsNullOrWhiteSpace(definition.Name) ? key : $"{key} ('{definition.Name}')";
            var before = errors.Count;

            if (string.IsNullOrWhiteSpace(definition.Name))
            {
                errors.Add($"{key}:Name is required.");
            }
            else if (!names.Add(definition.Name))
            {
                errors.Add($"{label}: the name is used by another subscriber.");
            }

            Uri? url = null;
            if (string.IsNullOrWhiteSpace(definition.Url))
            {
                errors.Add($"{label}: Url is required.");
            }
            else if (!Uri.TryCreate(definition.Url, UriKind.Absolute, out url) || url.Scheme is not ("http" or "https"))
            {
                errors.Add($"{label}: Url '{definition.Url}' is not an absolute http or https URL.");
            }

            if (definition.Secret is not null && !SigningSecret.TryGetKey(definition.Secret, out _))
            {
                errors.Add($"{label}: Secret must be whsec_ followed by base64 of at least 16 bytes (or left out to generate one).");
            }

            foreach (var type in definition.Filter.EventTypes)
            {
                if (!SubscriberFilter.ValidEventTypes.Contains(type, StringComparer.OrdinalIgnoreCase))
                {
                    errors.Add($"{label}: Filter:EventTypes has unknown event type '{type}'; " +
                        $"use {string.Join(", ", SubscriberFilter.ValidEventTypes)}.");
                }
            }

            var retry = new RetryPolicy
            {
                MaxAttempts = definition.Retry.MaxAttempts ?? RetryPolicy.Default.MaxAttempts,
                BaseDelay = definition.Retry.BaseDelay ?? RetryPolicy.Default.BaseDelay,
                MaxDelay = definition.Retry.MaxDelay ?? RetryPolicy.Default.MaxDelay,
            };
            if (retry.MaxAttempts is < 1 or > 100)
            {
                errors.Add($"{label}: Retry:MaxAttempts must be between 1 and 100.");
            }

            if (retry.BaseDelay <= TimeSpan.Zero || retry.MaxDelay < retry.BaseDelay)
            {
                errors.Add($"{label}: Retry:BaseDelay must be positive and no longer than Retry:MaxDelay.");
            }

            var concurrency = definition.MaxConcurrency ?? defaultMaxConcurrency;
            if (concurrency is < 1 or > 1024)
            {
                errors.Add($"{label}: MaxConcurrency must be between 1 and 1024.");
            }

            if (errors.Count > before)
            {
                continue;
            }

            subscribers.Add(new Subscriber
            {
                Id = Guid.CreateVersion7(),
                Name = definition.Name!,
                Url = url!,
                Secret = definition.Secret ?? SigningSecret.Generate(),
                Filter = new SubscriberFilter
                {
                    Dealers = Clean(definition.Filter.Dealers),
                    Departments = Clean(definition.Filter.Departments),
                    EventTypes = Clean(definition.Filter.EventTypes),
                    AppointmentEvents = Clean(definition.Filter.AppointmentEvents),
                    AppointmentStatuses = Clean(definition.Filter.AppointmentStatuses),
                },
                Retry = retry,
                MaxConcurrency = concurrency,
                ManagedByConfiguration = true,
            });
        }

        return (subscribers, errors);
    }

    private static string[] Clean(List<string> values) =>
        [.. values.Where(v => !string.IsNullOrWhiteSpace(v)).Select(v => v.Trim())];
}
