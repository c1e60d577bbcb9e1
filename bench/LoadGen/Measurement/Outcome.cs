namespace Aspire.Webhooks.LoadGen.Measurement;

/// <summary>How one request or publish ended: accepted (202, or a broker confirm) or the reason it was not.</summary>
public readonly record struct Outcome(string? Failure)
{
    public static Outcome Accepted => default;

    public bool IsAccepted => Failure is null;

    public static Outcome Failed(string reason) => new(reason);
}
