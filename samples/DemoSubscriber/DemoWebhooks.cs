using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Aspire.Webhooks.DemoSubscriber;

/// <summary>What the demo subscriber has received, for its own <c>GET /received</c> page.</summary>
public sealed record ReceivedWebhook(string Path, string WebhookId, string EventType, string EventId, bool Verified, DateTimeOffset At);

public sealed class ReceivedWebhooks
{
    private readonly ConcurrentQueue<ReceivedWebhook> _items = new();

    public IReadOnlyCollection<ReceivedWebhook> Items => _items;

    public void Add(ReceivedWebhook item)
    {
        _items.Enqueue(item);
        while (_items.Count > 1000 && _items.TryDequeue(out _))
        {
        }
    }
}

/// <summary>
/// A subscriber for trying Aspire.Webhooks locally: it verifies each request's Standard Webhooks signature with
/// the secret it shares with the Relay, logs what arrived, and lists it at <c>GET /received</c>.
/// </summary>
public static partial class DemoWebhooks
{
    /// <summary>Maps <c>POST /webhooks/{subscriber}</c> and <c>GET /received</c>.</summary>
    public static RouteGroupBuilder MapDemoWebhooks(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("");
        group.MapPost("/webhooks/{subscriber}", ReceiveAsync);
        group.MapGet("/received", (ReceivedWebhooks received) => TypedResults.Ok(received.Items));
        return group;
    }

    private static async Task<Results<NoContent, UnauthorizedHttpResult>> ReceiveAsync(string subscriber, HttpRequest request,
        ReceivedWebhooks received, IConfiguration configuration, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("DemoSubscriber");
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        var id = request.Headers["webhook-id"].ToString();
        var timestamp = request.Headers["webhook-timestamp"].ToString();
        var signatures = request.Headers["webhook-signature"].ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var secret = configuration["Demo:Secret"] ?? string.Empty;
        var verified = Verify(secret, id, timestamp, body, signatures);
        var eventType = request.Headers["x-mykaarma-event-type"].ToString();
        var eventId = request.Headers["x-mykaarma-event-id"].ToString();

        received.Add(new ReceivedWebhook(subscriber, id, eventType, eventId, verified, DateTimeOffset.UtcNow));
        if (!verified)
        {
            LogRejected(logger, subscriber, id);
            return TypedResults.Unauthorized();
        }

        LogReceived(logger, subscriber, eventType, eventId, id, body.Length);
        return TypedResults.NoContent();
    }

    private static bool Verify(string secret, string id, string timestamp, byte[] body, string[] signatures)
    {
        var encoded = secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret["whsec_".Length..] : secret;
        byte[] key;
        try
        {
            key = Convert.FromBase64String(encoded);
        }
        catch (FormatException)
        {
            return false;
        }

        var signed = Encoding.UTF8.GetBytes($"{id}.{timestamp}.").Concat(body).ToArray();
        var expected = Encoding.ASCII.GetBytes("v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed)));
        return signatures.Any(s => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s), expected));
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Verified {EventType} event {EventId} for subscriber {Subscriber} (webhook-id {WebhookId}, {Bytes} bytes)")]
    private static partial void LogReceived(ILogger logger, string subscriber, string eventType, string eventId, string webhookId, int bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rejected a request for subscriber {Subscriber} (webhook-id {WebhookId}): signature does not verify")]
    private static partial void LogRejected(ILogger logger, string subscriber, string webhookId);
}
