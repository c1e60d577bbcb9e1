using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Aspire.Webhooks.LoadGen.Workload;

namespace Aspire.Webhooks.EndToEndBench.Load;

/// <summary>Posts signed sample events to the Receiver as myKaarma does, and tells the tracker what it sent when.</summary>
public sealed class WebhookPoster : IDisposable
{
    private readonly HttpClient _http;
    private readonly Uri _url;
    private readonly string _token;
    private readonly SampleEvents _samples;
    private readonly DeliveryTracker _tracker;

    public WebhookPoster(Uri url, string token, SampleEvents samples, DeliveryTracker tracker, int maxConnections)
    {
        (_url, _token, _samples, _tracker) = (url, token, samples, tracker);
        // One pool this tool sizes itself, kept across runs, so no measured request pays for a handshake.
        _http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = maxConnections,
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
        })
        {
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(10),
        };
    }

    /// <param name="intended">When myKaarma would have sent it: the start of its latency.</param>
    public async Task SendAsync(LoadPhase phase, long intended, CancellationToken cancellationToken)
    {
        var signed = _samples.Next();
        var eventId = TopLevelId(signed.Body);
        _tracker.Sending(eventId, phase, intended);
        var content = new ByteArrayContent(signed.Body);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = content };
        request.Headers.TryAddWithoutValidation("x-authorization-token", _token);
        request.Headers.TryAddWithoutValidation("mykaarma-signature-token", signed.Signature);
        string? failure;
        try
        {
            using var response = await _http.SendAsync(request, cancellationToken);
            failure = response.StatusCode == HttpStatusCode.Accepted
                ? null
                : ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            failure = "client timeout";
        }
        catch (HttpRequestException ex)
        {
            failure = $"transport {ex.HttpRequestError}";
        }

        if (failure is null)
        {
            phase.Accept(intended, Stopwatch.GetTimestamp());
        }
        else
        {
            _tracker.NotAccepted(eventId);
            phase.Fail(intended, failure);
        }
    }

    /// <summary>The envelope's top-level id, which the Relay passes on as <c>x-mykaarma-event-id</c>.</summary>
    public static string TopLevelId(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body);
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("id"))
            {
                reader.Read();
                return reader.GetString()!;
            }

            if (reader.CurrentDepth >= 1 && reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }

        throw new InvalidDataException("A sample event has no top-level id.");
    }

    public void Dispose() => _http.Dispose();
}
