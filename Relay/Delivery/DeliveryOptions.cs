using System.ComponentModel.DataAnnotations;

namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>The <c>Relay:Delivery</c> section.</summary>
public sealed class DeliveryOptions
{
    public const string SectionName = "Relay:Delivery";

    /// <summary>How long one request to a subscriber may take before it counts as failed.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long a claimed delivery stays reserved for the replica that claimed it. Past it, a replica that died
    /// mid-request has its deliveries taken over. Defaults to the request timeout plus 15 s.
    /// </summary>
    public TimeSpan? ClaimLease { get; set; }

    /// <summary>The longest the dispatcher sleeps without a notification (new deliveries wake it at once).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Concurrency per subscriber when its definition names none.</summary>
    [Range(1, 1024)]
    public int DefaultMaxConcurrency { get; set; } = 8;

    /// <summary>How much of a subscriber's response body is kept with each attempt.</summary>
    [Range(0, 64 * 1024)]
    public int ResponseExcerptBytes { get; set; } = 1024;

    /// <summary>
    /// A subscriber whose every attempt has failed for this long, with none succeeding, is disabled: its deliveries
    /// are kept and resume when it is enabled again. Zero turns automatic disabling off (a 410 Gone still disables).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "365.00:00:00")]
    public TimeSpan AutoDisableAfter { get; set; } = TimeSpan.FromHours(24);

    public TimeSpan EffectiveClaimLease => ClaimLease ?? RequestTimeout + TimeSpan.FromSeconds(15);
}
