using System.Net.Http.Headers;
using System.Text;
using Aspire.Webhooks.Receiver.Ingest;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>
/// A Receiver on a real Kestrel socket on loopback (so client addresses are real), outside Development, with
/// test secrets and its own events queue.
/// </summary>
public sealed class ReceiverFactory : WebApplicationFactory<Program>
{
    public const string Token = "myKaarma_test-token";
    public const string Secret = "test-signing-secret";
    public const string OldSecret = "previous-signing-secret";

    private readonly Dictionary<string, string?> _settings;

    public ReceiverFactory(string messagingConnectionString, string eventsQueue, params (string Key, string? Value)[] overrides)
    {
        EventsQueue = eventsQueue;
        _settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:messaging"] = messagingConnectionString,
            ["Messaging:EventsQueue"] = eventsQueue,
            ["Messaging:TopologyPrefix"] = eventsQueue + ".",
            ["MyKaarma:AllowedIps:0"] = "127.0.0.1",
            ["MyKaarma:AllowedIps:1"] = "::1",
            ["MyKaarma:AuthorizationTokens:0"] = Token,
            ["MyKaarma:SigningSecrets:0"] = Secret,
            ["MyKaarma:SigningSecrets:1"] = OldSecret,
        };
        foreach (var (key, value) in overrides)
        {
            _settings[key] = value;
        }

        // A real server on a free loopback port, given as the app's own URL: UseKestrel(port) would rewrite the server's
        // addresses after the app began binding them, a race that sometimes fails the start.
        _settings[WebHostDefaults.ServerUrlsKey] = "http://127.0.0.1:0";
        UseKestrel();
    }

    public string EventsQueue { get; }

    public CapturedLogs Logs { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureServices(services => services.AddLogging(logging =>
        {
            logging.SetMinimumLevel(LogLevel.Trace);
            logging.AddProvider(Logs);
        }));
    }

    /// <summary>A request as myKaarma sends it: JSON body as text/plain, token and HMAC headers.</summary>
    public static HttpRequestMessage SignedRequest(byte[] body, string? secret = Secret, string? token = Token,
        string contentType = "text/plain", string path = "/webhooks/mykaarma")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (token is not null)
        {
            request.Headers.TryAddWithoutValidation(RequestAuthenticator.AuthorizationHeader, token);
        }

        if (secret is not null)
        {
            request.Headers.TryAddWithoutValidation(RequestAuthenticator.SignatureHeader, RequestAuthenticator.Sign(secret, body));
        }

        return request;
    }

    public static HttpRequestMessage SignedRequest(string body) => SignedRequest(Encoding.UTF8.GetBytes(body));
}
