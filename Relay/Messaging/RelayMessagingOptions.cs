using System.ComponentModel.DataAnnotations;
using Aspire.Webhooks.Contracts;

namespace Aspire.Webhooks.Relay.Messaging;

/// <summary>The <c>Messaging</c> section of the Relay.</summary>
public sealed class RelayMessagingOptions
{
    public const string SectionName = "Messaging";

    /// <summary>The queue the Receiver fills; must match the Receiver's <c>Messaging:EventsQueue</c>.</summary>
    [Required]
    public string EventsQueue { get; set; } = MessagingTopology.DefaultEventsQueue;

    /// <summary>Prefix of the per-message-type exchanges; must match the Receiver's <c>Messaging:TopologyPrefix</c>.</summary>
    public string? TopologyPrefix { get; set; }

    [Range(1, 10_000)]
    public int PrefetchCount { get; set; } = 64;

    [Range(1, 10_000)]
    public int ConcurrentMessageLimit { get; set; } = 32;
}
