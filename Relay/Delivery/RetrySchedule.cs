using System.Net;

namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>What to do with a delivery after an attempt.</summary>
public enum AttemptVerdict
{
    Delivered,

    /// <summary>Try again at <see cref="AttemptDecision.NextAttemptAt"/>.</summary>
    Retry,

    /// <summary>No further attempt: permanent refusal or attempts exhausted. Kept for replay.</summary>
    DeadLetter,

    /// <summary>410 Gone: the subscriber is disabled at once; the delivery stays pending until it is enabled again.</summary>
    DisableSubscriber,
}

public readonly record struct AttemptDecision(AttemptVerdict Verdict, DateTimeOffset? NextAttemptAt, string? Reason);

/// <summary>
/// The durable retry schedule: exponential backoff (factor 3) with ±25 % jitter, capped by the subscriber's
/// <see cref="RetryPolicy.MaxDelay"/>, and <c>Retry-After</c> honoured on 429 and 503. The next attempt time is
/// stored with the delivery, so a schedule survives restarts; nothing waits in memory.
/// </summary>
public static class RetrySchedule
{
    private const double Factor = 3;
    private const double Jitter = 0.25;

    /// <param name="attempt">The attempt just made, from 1.</param>
    /// <param name="statusCode">The response status, or null when no response came (timeout, refused connection).</param>
    public static AttemptDecision Decide(RetryPolicy policy, int attempt, HttpStatusCode? statusCode, TimeSpan? retryAfter,
        DateTimeOffset now, Random random)
    {
        var code = (int?)statusCode;
        if (code is >= 200 and < 300)
        {
            return new AttemptDecision(AttemptVerdict.Delivered, null, null);
        }

        if (statusCode == HttpStatusCode.Gone)
        {
            return new AttemptDecision(AttemptVerdict.DisableSubscriber, null, "410 Gone: the subscriber said the endpoint is gone");
        }

        if (code is >= 400 and < 500 && statusCode is not (HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests))
        {
            return new AttemptDecision(AttemptVerdict.DeadLetter, null, $"{code}: permanent refusal, not retried");
        }

        if (attempt >= policy.MaxAttempts)
        {
            return new AttemptDecision(AttemptVerdict.DeadLetter, null, $"gave up after {attempt} attempts");
        }

        var delay = statusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable && retryAfter is { } asked
            ? Min(asked < TimeSpan.Zero ? TimeSpan.Zero : asked, policy.MaxDelay)
            : Backoff(policy, attempt, random);
        return new AttemptDecision(AttemptVerdict.Retry, now + delay, null);
    }

    /// <summary>The wait after attempt <paramref name="attempt"/> (from 1) before the next one.</summary>
    public static TimeSpan Backoff(RetryPolicy policy, int attempt, Random random)
    {
        var exponential = policy.BaseDelay.TotalMilliseconds * Math.Pow(Factor, Math.Max(0, attempt - 1));
        var capped = Math.Min(exponential, policy.MaxDelay.TotalMilliseconds);
        var jittered = capped * (1 - Jitter + (2 * Jitter * random.NextDouble()));
        return TimeSpan.FromMilliseconds(Math.Min(jittered, policy.MaxDelay.TotalMilliseconds));
    }

    /// <summary>A <c>Retry-After</c> header as a delay: seconds, or an HTTP date.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now) =>
        response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - now,
            _ => null,
        };

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
