namespace Aspire.Webhooks.Relay.Outbox;

/// <summary>The <c>Relay:Retention</c> section: how long finished deliveries are kept.</summary>
public sealed class RetentionOptions
{
    public const string SectionName = "Relay:Retention";

    /// <summary>
    /// Delivered deliveries, those the stream options skipped or superseded, and events left with no delivery are
    /// purged after this age. <c>DropStale</c> compares with the deliveries still kept, so it looks back this far.
    /// </summary>
    public TimeSpan Delivered { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Dead-lettered deliveries are kept this long for inspection and replay.</summary>
    public TimeSpan DeadLettered { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often the purge runs.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);
}
