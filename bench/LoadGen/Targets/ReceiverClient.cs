using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Aspire.Webhooks.LoadGen.Measurement;
using Aspire.Webhooks.LoadGen.Workload;

namespace Aspire.Webhooks.LoadGen.Targets;

/// <summary>Posts signed sample events to the Receiver the way myKaarma does.</summary>
public sealed class ReceiverClient : IDisposable
{
    public const string AuthorizationHeader = "x-authorization-token";
    public const string SignatureHeader = "mykaarma-signature-token";

    private readonly HttpClient _http;
    private readonly Uri _url;
    private readonly string _token;
    private readonly SampleEvents _samples;

    /// <param name="maxConnections">
    /// At least the senders in flight: HTTP/1.1 carries one request per connection at a time, so fewer connections
    /// would queue requests inside this client and the Receiver would see less load than offered.
    /// </param>
    public ReceiverClient(Uri url, string token, SampleEvents samples, int maxConnections)
    {
        (_url, _token, _samples) = (url, token, samples);

        // One long-lived handler rather than IHttpClientFactory: a load generator wants exactly one pool whose
        // size it controls, and connections that outlive a run so no measured request pays for a handshake.
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = maxConnections,
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        _http = new HttpClient(handler)
        {
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            // Longer than the Receiver's own 3 s publish timeout, so its 503 arrives before we give up.
            Timeout = TimeSpan.FromSeconds(10),
        };
    }

    public async Task<Outcome> SendAsync(CancellationToken cancellationToken)
    {
        using var request = CreateRequest(_samples.Next());
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
            return response.StatusCode == HttpStatusCode.Accepted
                ? Outcome.Accepted
                : Outcome.Failed(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Outcome.Failed("client timeout");
        }
        catch (HttpRequestException ex)
        {
            return Outcome.Failed($"transport {ex.HttpRequestError}");
        }
    }

    /// <summary>One request before any load, so a wrong token or a stopped Receiver fails in a second, not after a run.</summary>
    public async Task<(HttpStatusCode? Status, string Detail)> ProbeAsync(CancellationToken cancellationToken)
    {
        using var request = CreateRequest(_samples.Next());
        try
        {
            using var response = await _http.SendAsync(request, cancellationToken);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
        }
        catch (HttpRequestException ex)
        {
            return (null, ex.Message);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, $"no answer within {_http.Timeout.TotalSeconds:0} s");
        }
    }

    private HttpRequestMessage CreateRequest(SignedEvent signed)
    {
        var content = new ByteArrayContent(signed.Body);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = content };
        request.Headers.TryAddWithoutValidation(AuthorizationHeader, _token);
        request.Headers.TryAddWithoutValidation(SignatureHeader, signed.Signature);
        return request;
    }

    public void Dispose() => _http.Dispose();
}
