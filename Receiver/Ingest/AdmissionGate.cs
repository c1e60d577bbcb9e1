using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver.Ingest;

/// <summary>
/// Bounds how many webhook requests are worked on at once (<see cref="MyKaarmaOptions.MaxConcurrentRequests"/>).
/// Past the bound a request is refused at once rather than queued: under overload, queued requests all wait until
/// the publish timeout and then fail together, so throughput collapses; refusing the excess keeps the admitted ones
/// fast, and myKaarma retries the refused ones.
/// </summary>
public sealed class AdmissionGate(IOptionsMonitor<MyKaarmaOptions> options)
{
    /// <summary>What the <c>Retry-After</c> header of a refusal suggests, in seconds.</summary>
    public const int RetryAfterSeconds = 1;

    private int _inFlight;

    /// <summary>Requests admitted and not yet finished.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Admits one request, or returns false when the bound is reached; an admitted request must call <see cref="Exit"/>.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _inFlight) <= options.CurrentValue.MaxConcurrentRequests)
        {
            return true;
        }

        Interlocked.Decrement(ref _inFlight);
        return false;
    }

    public void Exit() => Interlocked.Decrement(ref _inFlight);
}
