using System.Diagnostics;
using System.Net;
using System.Text;
using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.Relay.Subscribers;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Timeout;

namespace Aspire.Webhooks.Relay.Delivery;

/// <summary>What one request to a subscriber came back with.</summary>
public sealed record SendResult(HttpStatusCode? StatusCode, TimeSpan? RetryAfter, string? Error, string? ResponseExcerpt);

/// <summary>
/// Makes one signed request to a subscriber. Retries are not made here: the outbox schedules them durably, so
/// the only resilience in this pipeline is the per-request timeout.
/// </summary>
public sealed class WebhookSender
{
    public const string HttpClientName = "subscribers";
    public static readonly ActivitySource ActivitySource = new("Aspire.Webhooks.Relay");

    private readonly IHttpClientFactory _clients;
    private readonly DeliveryOptions _options;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline _pipeline;

    public WebhookSender(IHttpClientFactory clients, IOptions<DeliveryOptions> options, TimeProvider time)
    {
        _clients = clients;
        _options = options.Value;
        _time = time;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddTimeout(_options.RequestTimeout)
            .Build();
    }

    public async Task<SendResult> SendAsync(Subscriber subscriber, ClaimedDelivery delivery, CancellationToken cancellationToken)
    {
        var parent = delivery.TraceParent is not null && ActivityContext.TryParse(delivery.TraceParent, null, out var context)
            ? context
            : default;
        using var activity = ActivitySource.StartActivity("deliver", ActivityKind.Client, parent);
        activity?.SetTag("webhooks.subscriber", subscriber.Name);
        activity?.SetTag("webhooks.delivery.id", delivery.Id);
        activity?.SetTag("webhooks.delivery.attempt", delivery.Attempt);

        var webhookId = delivery.Id.ToString();
        var now = _time.GetUtcNow();
        var timestamp = now.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, subscriber.Url)
        {
            Content = new ByteArrayContent(delivery.Body),
        };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.TryAddWithoutValidation("webhook-id", webhookId);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("webhook-signature",
            WebhookSigner.Sign(subscriber.SigningSecrets(now), webhookId, timestamp, delivery.Body));
        request.Headers.TryAddWithoutValidation("x-mykaarma-event-type", delivery.EventType);
        request.Headers.TryAddWithoutValidation("x-mykaarma-event-id", delivery.EventId);
        request.Headers.TryAddWithoutValidation("x-mykaarma-dealer-uuid", delivery.DealerUuid);
        // With an activity, HttpClient propagates it as traceparent. Without a listener there is none, and the
        // stored context is sent as is, so the subscriber still joins the trace myKaarma's request began.
        if (activity is null && delivery.TraceParent is not null)
        {
            request.Headers.TryAddWithoutValidation("traceparent", delivery.TraceParent);
        }

        try
        {
            var client = _clients.CreateClient(HttpClientName);
            return await _pipeline.ExecuteAsync(async token =>
            {
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token);
                activity?.SetTag("http.response.status_code", (int)response.StatusCode);
                var excerpt = await ReadExcerptAsync(response, token);
                return new SendResult(response.StatusCode, RetrySchedule.RetryAfter(response, _time.GetUtcNow()), null, excerpt);
            }, cancellationToken);
        }
        catch (TimeoutRejectedException)
        {
            activity?.SetStatus(ActivityStatusCode.Error, "timeout");
            return new SendResult(null, null, $"no answer within {_options.RequestTimeout.TotalSeconds:0.###} s", null);
        }
        catch (HttpRequestException ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            return new SendResult(null, null, ex.HttpRequestError == HttpRequestError.Unknown ? ex.Message : $"{ex.HttpRequestError}: {ex.Message}", null);
        }
    }

    private async Task<string?> ReadExcerptAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (_options.ResponseExcerptBytes == 0)
        {
            return null;
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[_options.ResponseExcerptBytes];
        var read = 0;
        int n;
        while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken)) > 0)
        {
            read += n;
        }

        return read == 0 ? null : Encoding.UTF8.GetString(buffer, 0, read);
    }
}
