using System.ComponentModel.DataAnnotations;
using Aspire.Webhooks.Contracts;

namespace Aspire.Webhooks.Receiver.Messaging;

/// <summary>Where accepted events go and how long the broker may take to confirm them. Section <c>Messaging</c>.</summary>
public sealed class MessagingOptions
{
    public const string SectionName = "Messaging";

    /// <summary>The durable quorum queue that holds accepted events until a Relay takes them.</summary>
    [Required]
    public string EventsQueue { get; set; } = MessagingTopology.DefaultEventsQueue;

    /// <summary>
    /// Prefixes the broker's per-message-type exchanges, so several environments (or test runs) can share one
    /// RabbitMQ without seeing each other's events. Receiver and Relay must use the same value.
    /// </summary>
    public string? TopologyPrefix { get; set; }

    /// <summary>How long to wait for the broker's confirm before answering 503 (myKaarma then retries).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:00:04.500",
        ErrorMessage = "Messaging:PublishTimeout must be between 50 ms and 4.5 s (myKaarma waits 5 s).")]
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(3);
}
