namespace Aspire.Webhooks.Relay.Subscribers;

/// <summary>The <c>Relay</c> section: subscribers declared as configuration, and the rules every subscriber URL obeys.</summary>
public sealed class RelayOptions
{
    public const string SectionName = "Relay";

    /// <summary>Applied at start: created or updated by name, and marked as managed by configuration.</summary>
    public List<SubscriberDefinition> Subscribers { get; set; } = [];

    /// <summary>
    /// Lets subscriber URLs reach loopback, private, link-local and cloud-metadata addresses. Off by default: a
    /// subscriber URL must not become a way into the Relay's own network.
    /// </summary>
    public bool AllowPrivateNetworkTargets { get; set; }

    /// <summary>Subscriber URLs must be HTTPS. Defaults to true outside Development.</summary>
    public bool? RequireHttps { get; set; }
}

/// <summary>
/// One subscriber as written in configuration (<c>Relay__Subscribers__0__Url</c>, ...), and as sent to the
/// management API to create or update one.
/// </summary>
public sealed class SubscriberDefinition
{
    public string? Name { get; set; }

    public string? Url { get; set; }

    /// <summary>Standard Webhooks secret (<c>whsec_</c> + base64). Generated and kept when not given.</summary>
    public string? Secret { get; set; }

    public SubscriberFilterDefinition Filter { get; set; } = new();

    public RetryPolicyDefinition Retry { get; set; } = new();

    /// <summary>How many requests to this subscriber may be in flight at once (per Relay replica).</summary>
    public int? MaxConcurrency { get; set; }

    /// <summary>Requests per second (per Relay replica); empty for no limit.</summary>
    public double? RateLimitPerSecond { get; set; }

    /// <summary><c>None</c> (default) or <c>PerEntity</c>: events about one entity in myKaarma-timestamp order.</summary>
    public string? Ordering { get; set; }

    /// <summary>Skip events older than one already delivered about the same entity.</summary>
    public bool? DropStale { get; set; }

    /// <summary>Deliver only the latest event about an entity within this window (e.g. 00:00:02); empty or zero for off.</summary>
    public TimeSpan? CoalesceWindow { get; set; }
}

/// <summary>Every non-empty list must contain the event's value for the event to match; empty means any.</summary>
public sealed class SubscriberFilterDefinition
{
    public List<string> Dealers { get; set; } = [];

    public List<string> Departments { get; set; } = [];

    /// <summary>customers, appointments, service-orders, mpis, or <c>unknown</c> for kinds this version does not know.</summary>
    public List<string> EventTypes { get; set; } = [];

    /// <summary>Appointment <c>event</c> kinds, e.g. RESCHEDULED, CANCELLED.</summary>
    public List<string> AppointmentEvents { get; set; } = [];

    /// <summary>Appointment <c>newStatus</c> values, e.g. "No Show", "Show".</summary>
    public List<string> AppointmentStatuses { get; set; } = [];
}

public sealed class RetryPolicyDefinition
{
    public int? MaxAttempts { get; set; }

    public TimeSpan? BaseDelay { get; set; }

    public TimeSpan? MaxDelay { get; set; }
}
