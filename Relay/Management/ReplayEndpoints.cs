using System.ComponentModel;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Aspire.Webhooks.Relay.Subscribers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>
/// Replay of one delivery or of a subscriber's dead letters, and backfill of stored events to a subscriber. Each
/// request needs an <c>Idempotency-Key</c>: sent again with the same key it answers as the first time without
/// acting again, so a client may retry after a timeout without sending anything twice.
/// </summary>
public static partial class ReplayEndpoints
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    /// <summary>Set on an answer that was stored for an earlier request with the same key.</summary>
    public const string ReplayedHeader = "Idempotent-Replayed";

    public const int MaxKeyLength = 200;

    private const string KeyDescription =
        "Required. Any unique value (a UUID, say) of at most 200 characters. The same request sent again with the same key " +
        "within Relay:Management:IdempotencyKeyLifetime (24 hours by default) gets the first answer and changes nothing; the key " +
        "with a different request answers 422.";

    /// <summary>Maps replay and backfill under <paramref name="api"/>.</summary>
    public static RouteGroupBuilder MapReplayEndpoints(this IEndpointRouteBuilder api)
    {
        var group = api.MapGroup("").WithTags("Replay");
        group.MapPost("/deliveries/{id:guid}/replay", ReplayDeliveryAsync)
            .WithName("ReplayDelivery")
            .WithSummary("Send one delivery again")
            .WithDescription("Any delivery that is not pending (delivered, dead, skipped, superseded) becomes pending and is sent " +
                "at once, with the same webhook-id, and a full set of retries.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        group.MapPost("/subscribers/{id:guid}/replay-dead", ReplayDeadAsync)
            .WithName("ReplayDeadLetters")
            .WithSummary("Send a subscriber's dead-lettered deliveries again")
            .WithDescription("Oldest first, at most limit of them; moreRemaining says whether another request is needed.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        group.MapPost("/subscribers/{id:guid}/backfill", BackfillAsync)
            .WithName("Backfill")
            .WithSummary("Deliver stored events a subscriber has not had")
            .WithDescription("Matches the events received in [since, until) against the subscriber's current rules and creates a " +
                "delivery for each match it has no delivery of yet, so a subscriber added today can receive this week's events. " +
                "Only events still kept (Relay:Retention) are found.")
            .Accepts<BackfillRequest>("application/json")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        return group;
    }

    internal static async Task<Results<Ok<DeliverySummary>, ValidationProblem, ProblemHttpResult>> ReplayDeliveryAsync(
        Guid id,
        [FromHeader(Name = IdempotencyKeyHeader), Description(KeyDescription)] string? idempotencyKey,
        HttpContext http, IdempotencyStore idempotency, ReplayStore replays, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var (key, fingerprint, problem) = await PrepareAsync(http, idempotencyKey, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var refusal = ReplayRefusal.None;
        var (outcome, answer) = await idempotency.RunOnceAsync<DeliverySummary>(key!, "replay-delivery", fingerprint!,
            async (connection, now, token) =>
            {
                var (replayed, refused) = await replays.ReplayDeliveryAsync(connection, id, now, token);
                refusal = refused;
                return replayed is null ? null : new OperationResult<DeliverySummary>(replayed, [replayed.SubscriberId]);
            }, cancellationToken);

        if (outcome == IdempotentOutcome.Done)
        {
            LogReplayed(Logger(loggers), answer!.Id, answer.SubscriberName);
        }

        return outcome switch
        {
            IdempotentOutcome.Refused when refusal == ReplayRefusal.StillPending => Problems.Conflict("Delivery pending",
                $"Delivery '{id}' is still pending: it is sent (or retried) without a replay.", "id"),
            IdempotentOutcome.Refused => Problems.NotFound("delivery", id),
            _ => Answer(http, outcome, answer),
        };
    }

    internal static async Task<Results<Ok<ReplayResult>, ValidationProblem, ProblemHttpResult>> ReplayDeadAsync(
        Guid id,
        [FromHeader(Name = IdempotencyKeyHeader), Description(KeyDescription)] string? idempotencyKey,
        [Description("Only deliveries dead-lettered at or after this time (ISO 8601).")] string? since,
        [Description("The most deliveries to replay; Relay:Management:MaxReplayCount when left out, and at most that.")] string? limit,
        HttpContext http, IdempotencyStore idempotency, ReplayStore replays, SubscriberStore subscribers,
        IOptions<ManagementOptions> options, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var errors = new List<(string Field, string Message)>();
        var sinceTime = DeliveryEndpoints.Time(since, "since", errors);
        var count = Limit(limit, options.Value.MaxReplayCount, errors);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var (key, fingerprint, problem) = await PrepareAsync(http, idempotencyKey, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        if (await subscribers.FindAsync(id, cancellationToken) is not { } subscriber)
        {
            return Problems.NotFound("subscriber", id);
        }

        var (outcome, answer) = await idempotency.RunOnceAsync<ReplayResult>(key!, "replay-dead", fingerprint!,
            async (connection, now, token) =>
            {
                var result = await replays.ReplayDeadAsync(connection, id, sinceTime, count, now, token);
                return new OperationResult<ReplayResult>(result, result.Replayed > 0 ? [id] : []);
            }, cancellationToken);

        if (outcome == IdempotentOutcome.Done)
        {
            LogReplayedDead(Logger(loggers), answer!.Replayed, subscriber.Name, answer.MoreRemaining);
        }

        return Answer(http, outcome, answer);
    }

    internal static async Task<Results<Ok<BackfillResult>, ValidationProblem, ProblemHttpResult>> BackfillAsync(
        Guid id,
        [FromHeader(Name = IdempotencyKeyHeader), Description(KeyDescription)] string? idempotencyKey,
        HttpContext http, JsonBodyReader json, IdempotencyStore idempotency, ReplayStore replays, SubscriberStore subscribers,
        IOptions<ManagementOptions> options, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var (key, fingerprint, problem) = await PrepareAsync(http, idempotencyKey, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var (request, invalid) = json.Parse<BackfillRequest>(Body(http), empty: null);
        if (invalid is not null)
        {
            return invalid;
        }

        var max = options.Value.MaxReplayCount;
        var until = request!.Until ?? time.GetUtcNow();
        var errors = new List<(string Field, string Message)>();
        if (request.Since is null)
        {
            errors.Add(("since", "since is required: the time from which stored events are matched (ISO 8601)."));
        }
        else if (request.Since > until)
        {
            errors.Add(("since", request.Until is null ? "since must not be in the future." : "since must not be later than until."));
        }

        if (request.Limit is < 1 || request.Limit > max)
        {
            errors.Add(("limit", $"limit must be from 1 to {max} (Relay:Management:MaxReplayCount)."));
        }

        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        if (await subscribers.FindAsync(id, cancellationToken) is not { } subscriber)
        {
            return Problems.NotFound("subscriber", id);
        }

        var (outcome, answer) = await idempotency.RunOnceAsync<BackfillResult>(key!, "backfill", fingerprint!,
            async (connection, now, token) =>
            {
                var result = await replays.BackfillAsync(connection, subscriber, request.Since!.Value, until, request.Limit ?? max, now, token);
                return new OperationResult<BackfillResult>(result, result.Created > 0 ? [id] : []);
            }, cancellationToken);

        if (outcome == IdempotentOutcome.Done)
        {
            LogBackfilled(Logger(loggers), answer!.Created, subscriber.Name, request.Since!.Value, until, answer.MoreRemaining);
        }

        return Answer(http, outcome, answer);
    }

    /// <summary>Checks the key and reads the body, fingerprinting method, path, query and body together.</summary>
    private static async Task<(string? Key, string? Fingerprint, ProblemHttpResult? Problem)> PrepareAsync(
        HttpContext http, string? key, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            return (null, null, Problems.Header(StatusCodes.Status400BadRequest, "Idempotency-Key required",
                $"Replays and backfills need an {IdempotencyKeyHeader} header (a UUID, say), so that sending the request again " +
                "cannot act twice.", IdempotencyKeyHeader));
        }

        if (key.Length > MaxKeyLength)
        {
            return (null, null, Problems.Header(StatusCodes.Status400BadRequest, "Idempotency-Key too long",
                $"The {IdempotencyKeyHeader} header must be at most {MaxKeyLength} characters.", IdempotencyKeyHeader));
        }

        var body = await JsonBodyReader.ReadBytesAsync(http.Request, cancellationToken);
        if (body is null)
        {
            return (null, null, Problems.Header(StatusCodes.Status413PayloadTooLarge, "Body too large",
                $"The body must be at most {JsonBodyReader.MaxBytes} bytes.", "Content-Length"));
        }

        http.Items[BodyItem] = body;
        var request = http.Request;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{request.Method}\n{request.Path}\n{request.QueryString}\n"));
        hash.AppendData(body);
        return (key, Convert.ToHexStringLower(hash.GetHashAndReset()), null);
    }

    private const string BodyItem = "management.body";

    private static byte[] Body(HttpContext http) => (byte[])http.Items[BodyItem]!;

    private static Results<Ok<T>, ValidationProblem, ProblemHttpResult> Answer<T>(HttpContext http, IdempotentOutcome outcome, T? answer)
    {
        switch (outcome)
        {
            case IdempotentOutcome.KeyReused:
                return Problems.Header(StatusCodes.Status422UnprocessableEntity, "Idempotency-Key reused",
                    $"This {IdempotencyKeyHeader} was sent with a different request; use a new key for a new request.",
                    IdempotencyKeyHeader);
            case IdempotentOutcome.Repeated:
                http.Response.Headers[ReplayedHeader] = "true";
                return TypedResults.Ok(answer);
            default:
                return TypedResults.Ok(answer);
        }
    }

    private static int Limit(string? text, int max, List<(string Field, string Message)> errors)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return max;
        }

        if (int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit >= 1 && limit <= max)
        {
            return limit;
        }

        errors.Add(("limit", $"limit must be a whole number from 1 to {max} (Relay:Management:MaxReplayCount)."));
        return max;
    }

    private static ILogger Logger(ILoggerFactory loggers) => loggers.CreateLogger(LogCategory);

    private static readonly string LogCategory = typeof(ReplayEndpoints).FullName!;

    [LoggerMessage(Level = LogLevel.Information, Message = "Replayed delivery {DeliveryId} to {Subscriber}")]
    private static partial void LogReplayed(ILogger logger, Guid deliveryId, string subscriber);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Replayed {Count} dead-lettered deliveries to {Subscriber}; more remaining: {MoreRemaining}")]
    private static partial void LogReplayedDead(ILogger logger, int count, string subscriber, bool moreRemaining);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Backfilled {Count} deliveries to {Subscriber} from events received {Since:o} to {Until:o}; more remaining: {MoreRemaining}")]
    private static partial void LogBackfilled(ILogger logger, int count, string subscriber, DateTimeOffset since, DateTimeOffset until,
        bool moreRemaining);
}
