using System.Buffers;
using System.IO.Pipelines;
using Aspire.Webhooks.Contracts;
using Aspire.Webhooks.Receiver.Messaging;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Receiver.Ingest;

/// <summary>The answer to an accepted event.</summary>
public sealed record AcceptedEvent(string Id, string Type, string Status);

/// <summary>The URL myKaarma posts its events to.</summary>
public static partial class WebhookEndpoints
{
    public const string EndpointName = "ReceiveMyKaarmaEvent";

    /// <summary>Maps <c>POST {MyKaarma:Path}</c>.</summary>
    public static RouteGroupBuilder MapMyKaarmaWebhooks(this IEndpointRouteBuilder app)
    {
        var path = app.ServiceProvider.GetRequiredService<IOptions<MyKaarmaOptions>>().Value.Path;
        var group = app.MapGroup(path).WithTags("myKaarma webhooks");
        group.MapPost("", ReceiveAsync)
            .WithName(EndpointName)
            .WithSummary("Receive one myKaarma webhook event")
            .WithDescription("Answers 202 only once the event is durably stored in the broker; any other answer makes myKaarma retry.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    internal static async Task<Results<Accepted<AcceptedEvent>, ProblemHttpResult>> ReceiveAsync(
        HttpContext http,
        AdmissionGate gate,
        RequestAuthenticator authenticator,
        EventPublisher publisher,
        ReceiverMetrics metrics,
        IOptionsMonitor<MyKaarmaOptions> options,
        TimeProvider time,
        ILoggerFactory loggerFactory)
    {
        // Refused before any other work, so an overloaded Receiver spends as little as possible on the excess.
        if (!gate.TryEnter())
        {
            http.Response.Headers.RetryAfter = RetryAfter;
            return Reject(metrics, RejectionReasons.Overloaded, StatusCodes.Status503ServiceUnavailable, "Receiver busy",
                $"More than MyKaarma:MaxConcurrentRequests ({options.CurrentValue.MaxConcurrentRequests}) requests are in progress; retry later.",
                "receiver", isHeader: false);
        }

        try
        {
            return await ReceiveAdmittedAsync(http, authenticator, publisher, metrics, options, time,
                loggerFactory.CreateLogger(LogCategory));
        }
        finally
        {
            gate.Exit();
        }
    }

    // By name: the type overload formats the type's name again on every call.
    private static readonly string LogCategory = typeof(WebhookEndpoints).FullName!;

    private static readonly string RetryAfter = AdmissionGate.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<Results<Accepted<AcceptedEvent>, ProblemHttpResult>> ReceiveAdmittedAsync(
        HttpContext http,
        RequestAuthenticator authenticator,
        EventPublisher publisher,
        ReceiverMetrics metrics,
        IOptionsMonitor<MyKaarmaOptions> options,
        TimeProvider time,
        ILogger logger)
    {
        var request = http.Request;

        if (!authenticator.IsAllowedClient(http.Connection.RemoteIpAddress))
        {
            LogRejected(logger, RejectionReasons.IpNotAllowed, http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
            return Reject(metrics, RejectionReasons.IpNotAllowed, StatusCodes.Status403Forbidden, "Client address not allowed",
                "This address is not in MyKaarma:AllowedIps.", "client-ip", isHeader: false);
        }

        if (!authenticator.IsAuthorized(request.Headers[RequestAuthenticator.AuthorizationHeader]))
        {
            LogRejected(logger, RejectionReasons.Unauthorized, http.Connection.RemoteIpAddress!.ToString());
            return Reject(metrics, RejectionReasons.Unauthorized, StatusCodes.Status401Unauthorized, "Not authorized",
                $"The {RequestAuthenticator.AuthorizationHeader} header is missing or not a configured token.",
                RequestAuthenticator.AuthorizationHeader, isHeader: true);
        }

        var maxBytes = options.CurrentValue.MaxBodyBytes;
        var body = request.ContentLength > maxBytes ? null : await ReadBodyAsync(request.BodyReader, maxBytes, http.RequestAborted);
        if (body is null)
        {
            return Reject(metrics, RejectionReasons.TooLarge, StatusCodes.Status413PayloadTooLarge, "Body too large",
                $"The body exceeds MyKaarma:MaxBodyBytes ({maxBytes} bytes).", "body", isHeader: false);
        }

        var signature = authenticator.VerifySignature(request.Headers[RequestAuthenticator.SignatureHeader], body);
        if (signature != SignatureCheck.Valid)
        {
            LogRejected(logger, RejectionReasons.BadSignature, http.Connection.RemoteIpAddress!.ToString());
            var detail = signature switch
            {
                SignatureCheck.Missing => $"The {RequestAuthenticator.SignatureHeader} header is missing.",
                SignatureCheck.Malformed => $"The {RequestAuthenticator.SignatureHeader} header must be 'sha256=' followed by 64 hex digits.",
                _ => $"The {RequestAuthenticator.SignatureHeader} header does not match the body under any configured signing secret.",
            };
            return Reject(metrics, RejectionReasons.BadSignature, StatusCodes.Status401Unauthorized, "Invalid signature",
                detail, RequestAuthenticator.SignatureHeader, isHeader: true);
        }

        var parsed = EnvelopeParser.Parse(body, time.GetUtcNow());
        if (!parsed.IsValid)
        {
            LogInvalid(logger, parsed.Field!, parsed.Error!);
            return Reject(metrics, RejectionReasons.InvalidEnvelope, StatusCodes.Status400BadRequest, "Invalid event",
                parsed.Error!, parsed.Field!, isHeader: false);
        }

        var received = parsed.Event!;
        var knownType = EventTypes.IsKnown(received.Type);
        if (!knownType)
        {
            LogUnknownType(logger, received.Type, received.Id);
        }

        var outcome = await publisher.PublishAsync(received, http.RequestAborted);
        if (outcome != PublishOutcome.Confirmed)
        {
            return Reject(metrics, RejectionReasons.BrokerUnavailable, StatusCodes.Status503ServiceUnavailable,
                "Event not stored", "The broker did not confirm the event in time; retry later.", "broker", isHeader: false);
        }

        metrics.Accepted(received.Type, knownType);
        LogAccepted(logger, received.Type, received.Id);
        return TypedResults.Accepted((string?)null, new AcceptedEvent(received.Id, received.Type, "accepted"));
    }

    /// <summary>Reads the whole body, or returns null as soon as it grows past <paramref name="maxBytes"/>.</summary>
    private static async Task<byte[]?> ReadBodyAsync(PipeReader reader, long maxBytes, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (buffer.Length > maxBytes)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                return null;
            }

            if (result.IsCompleted)
            {
                var bytes = buffer.ToArray();
                reader.AdvanceTo(buffer.End);
                return bytes;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static ProblemHttpResult Reject(ReceiverMetrics metrics, string reason, int status, string title, string detail,
        string name, bool isHeader)
    {
        metrics.Rejected(reason);
        return TypedResults.Problem(detail, statusCode: status, title: title, extensions: new Dictionary<string, object?>
        {
            ["reason"] = reason,
            [isHeader ? "header" : "field"] = name,
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rejected a request from {ClientIp}: {Reason}")]
    private static partial void LogRejected(ILogger logger, string reason, string clientIp);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rejected an event with an invalid {Field}: {Error}")]
    private static partial void LogInvalid(ILogger logger, string field, string error);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Accepted event {EventId} of unknown type {EventType}; relaying it untyped")]
    private static partial void LogUnknownType(ILogger logger, string eventType, string eventId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Accepted {EventType} event {EventId}")]
    private static partial void LogAccepted(ILogger logger, string eventType, string eventId);
}
