namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>
/// A subscriber's requests-per-second limit within one lane: a token bucket refilled continuously at the rate and
/// holding at most <see cref="Burst"/> tokens, so in any second at most rate + burst requests start.
/// </summary>
/// <remarks>
/// The lane asks how many tokens there are before it claims, claims no more than that, and spends only what it
/// claimed. A claimed delivery therefore never waits for a token while its lease runs, and a claim that finds
/// nothing costs none, which an acquire-then-claim limiter (System.Threading.RateLimiting) would not give. Only the
/// lane's loop uses an instance, so it needs no lock.
/// </remarks>
internal sealed class SubscriberRateLimit
{
    private readonly TimeProvider _time;
    private double _tokens;
    private long _refilledAt;

    public SubscriberRateLimit(double perSecond, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perSecond);
        PerSecond = perSecond;
        // A tenth of a second's worth: enough for a lane to claim several deliveries in one round trip at high rates,
        // while a low rate (5/s) allows no burst beyond a single request.
        Burst = (int)Math.Max(1, Math.Ceiling(perSecond / 10));
        _time = time;
        _tokens = Burst;
        _refilledAt = time.GetTimestamp();
    }

    public double PerSecond { get; }

    /// <summary>The most requests that may start at once after an idle spell.</summary>
    public int Burst { get; }

    /// <summary>Whole tokens available now.</summary>
    public int Available
    {
        get
        {
            Refill();
            // Refills add fractions: a token summed from them may fall a rounding error short of one.
            return (int)(_tokens + 1e-9);
        }
    }

    /// <summary>How long until <paramref name="tokens"/> (at most <see cref="Burst"/>) are available.</summary>
    public TimeSpan TimeUntil(int tokens)
    {
        Refill();
        var missing = Math.Min(tokens, Burst) - _tokens;
        // Rounded up to whole milliseconds, so a lane that waits this long finds the tokens there.
        return missing <= 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Ceiling(missing / PerSecond * 1000));
    }

    /// <summary>Spends a token per request started; the lane never spends more than <see cref="Available"/>.</summary>
    public void Spend(int requests)
    {
        Refill();
        _tokens -= requests;
    }

    private void Refill()
    {
        var now = _time.GetTimestamp();
        _tokens = Math.Min(Burst, _tokens + (_time.GetElapsedTime(_refilledAt, now).TotalSeconds * PerSecond));
        _refilledAt = now;
    }
}
