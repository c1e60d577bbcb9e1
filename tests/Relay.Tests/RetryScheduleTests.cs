using System.Net;
using Aspire.Webhooks.Relay.Delivery;

namespace Aspire.Webhooks.Relay.Tests;

public sealed class RetryScheduleTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);
    private static readonly RetryPolicy Policy = RetryPolicy.Default;

    private static AttemptDecision Decide(HttpStatusCode? status, int attempt = 1, TimeSpan? retryAfter = null) =>
        RetrySchedule.Decide(Policy, attempt, status, retryAfter, Now, new Random(7));

    [Theory]
    [InlineData(HttpStatusCode.OK)]
    [InlineData(HttpStatusCode.Accepted)]
    [InlineData(HttpStatusCode.NoContent)]
    public void A_2xx_is_delivered(HttpStatusCode status) => Assert.Equal(AttemptVerdict.Delivered, Decide(status).Verdict);

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.BadGateway)]
    [InlineData(HttpStatusCode.RequestTimeout)]
    [InlineData(HttpStatusCode.TooManyRequests)]
    [InlineData(HttpStatusCode.MovedPermanently)]
    [InlineData(null)]
    public void Server_errors_timeouts_and_throttling_are_retried(HttpStatusCode? status) =>
        Assert.Equal(AttemptVerdict.Retry, Decide(status).Verdict);

    [Theory]
    [InlineData(HttpStatusCode.BadRequest)]
    [InlineData(HttpStatusCode.Unauthorized)]
    [InlineData(HttpStatusCode.NotFound)]
    [InlineData(HttpStatusCode.UnprocessableEntity)]
    public void Other_4xx_are_permanent(HttpStatusCode status) => Assert.Equal(AttemptVerdict.DeadLetter, Decide(status).Verdict);

    [Fact]
    public void Gone_disables_the_subscriber() => Assert.Equal(AttemptVerdict.DisableSubscriber, Decide(HttpStatusCode.Gone).Verdict);

    [Fact]
    public void The_last_attempt_dead_letters() =>
        Assert.Equal(AttemptVerdict.DeadLetter, Decide(HttpStatusCode.InternalServerError, attempt: Policy.MaxAttempts).Verdict);

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests)]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    public void Retry_After_is_honoured_on_429_and_503(HttpStatusCode status) =>
        Assert.Equal(Now + TimeSpan.FromSeconds(120), Decide(status, retryAfter: TimeSpan.FromSeconds(120)).NextAttemptAt);

    [Fact]
    public void Retry_After_is_capped_by_the_max_delay() =>
        Assert.Equal(Now + Policy.MaxDelay, Decide(HttpStatusCode.ServiceUnavailable, retryAfter: TimeSpan.FromDays(3)).NextAttemptAt);

    [Fact]
    public void Backoff_grows_exponentially_within_the_jitter_band_and_stops_at_the_cap()
    {
        var random = new Random(1);
        for (var attempt = 1; attempt <= 12; attempt++)
        {
            var nominal = Math.Min(Policy.BaseDelay.TotalSeconds * Math.Pow(3, attempt - 1), Policy.MaxDelay.TotalSeconds);
            var delay = RetrySchedule.Backoff(Policy, attempt, random).TotalSeconds;
            Assert.InRange(delay, nominal * 0.75, Math.Min(nominal * 1.25, Policy.MaxDelay.TotalSeconds));
        }
    }

    [Fact]
    public void Jitter_spreads_retries_of_the_same_attempt()
    {
        var random = new Random(3);
        var delays = Enumerable.Range(0, 50).Select(_ => RetrySchedule.Backoff(Policy, 3, random)).Distinct().Count();
        Assert.True(delays > 40);
    }

    [Fact]
    public void The_default_policy_keeps_trying_for_about_a_day_in_ten_attempts()
    {
        var total = TimeSpan.Zero;
        for (var attempt = 1; attempt < Policy.MaxAttempts; attempt++)
        {
            var nominal = Math.Min(Policy.BaseDelay.TotalSeconds * Math.Pow(3, attempt - 1), Policy.MaxDelay.TotalSeconds);
            total += TimeSpan.FromSeconds(nominal);
        }

        Assert.Equal(10, Policy.MaxAttempts);
        Assert.InRange(total.TotalHours, 18, 30);
    }
}
