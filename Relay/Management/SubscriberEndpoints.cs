using System.Text.Json;
using Aspire.Webhooks.Relay.Delivery;
using Aspire.Webhooks.Relay.Outbox;
using Aspire.Webhooks.Relay.Subscribers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Relay.Management;

/// <summary><c>/api/subscribers</c>: create, change, pause and resume subscribers, rotate their secrets, and test them.</summary>
public static partial class SubscriberEndpoints
{
    /// <summary>The event type of a test event; no myKaarma event has it.</summary>
    public const string TestEventType = "test";

    public static readonly TimeSpan DefaultOverlap = TimeSpan.FromHours(24);
    public static readonly TimeSpan MaxOverlap = TimeSpan.FromDays(7);

    /// <summary>Maps the subscriber endpoints under <paramref name="api"/>.</summary>
    public static RouteGroupBuilder MapSubscriberEndpoints(this IEndpointRouteBuilder api)
    {
        var group = api.MapGroup("/subscribers").WithTags("Subscribers");
        group.MapGet("", ListAsync)
            .WithName("ListSubscribers")
            .WithSummary("List the subscribers")
            .WithDescription("Subscribers declared in Relay:Subscribers are listed too, with managedByConfiguration true. Secrets are never shown here.");
        group.MapGet("/{id:guid}", GetAsync)
            .WithName("GetSubscriber")
            .WithSummary("Get one subscriber")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("", CreateAsync)
            .WithName("CreateSubscriber")
            .WithSummary("Create a subscriber")
            .WithDescription("Takes the same definition as Relay:Subscribers. The URL must resolve to a public address unless " +
                "Relay:AllowPrivateNetworkTargets, and be https unless Relay:RequireHttps is false. A secret is generated when " +
                "none is given; read it with GET /api/subscribers/{id}/secret.")
            .Accepts<SubscriberDefinition>("application/json")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapPut("/{id:guid}", ReplaceAsync)
            .WithName("ReplaceSubscriber")
            .WithSummary("Replace a subscriber's definition")
            .WithDescription("Replaces the whole definition; the state and, when no secret is given, the secret are kept. " +
                "Subscribers managed by configuration answer 409: change Relay:Subscribers instead.")
            .Accepts<SubscriberDefinition>("application/json")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapDelete("/{id:guid}", DeleteAsync)
            .WithName("DeleteSubscriber")
            .WithSummary("Delete a subscriber and its deliveries")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapPost("/{id:guid}/pause", PauseAsync)
            .WithName("PauseSubscriber")
            .WithSummary("Pause deliveries to a subscriber")
            .WithDescription("New events still create deliveries; they wait until the subscriber is resumed.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{id:guid}/resume", ResumeAsync)
            .WithName("ResumeSubscriber")
            .WithSummary("Resume a paused or disabled subscriber")
            .WithDescription("Makes the subscriber active and clears why it was stopped; its waiting deliveries go out at once.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{id:guid}/rotate-secret", RotateSecretAsync)
            .WithName("RotateSubscriberSecret")
            .WithSummary("Rotate a subscriber's signing secret")
            .WithDescription("The new secret (given or generated) signs from now on; the replaced one signs too during the overlap, " +
                "so each request carries both signatures until the subscriber has switched. The body is optional.")
            .Accepts<RotateSecretRequest>("application/json")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("/{id:guid}/secret", GetSecretAsync)
            .WithName("GetSubscriberSecret")
            .WithSummary("Read a subscriber's signing secrets")
            .WithDescription("Needs an admin key, even though it only reads.")
            .RequireAuthorization(ApiKeyAuthenticationHandler.AdminPolicy)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{id:guid}/test", SendTestAsync)
            .WithName("SendTestEvent")
            .WithSummary("Send a signed test event now")
            .WithDescription("Posts a small JSON event of type 'test', signed like every delivery, and reports the answer. " +
                "Nothing is stored and nothing is retried.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    internal static async Task<Ok<SubscriberResponse[]>> ListAsync(SubscriberStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        return TypedResults.Ok((await store.ListAsync(cancellationToken)).Select(s => SubscriberResponse.From(s, now)).ToArray());
    }

    internal static async Task<Results<Ok<SubscriberResponse>, ProblemHttpResult>> GetAsync(
        Guid id, SubscriberStore store, TimeProvider time, CancellationToken cancellationToken) =>
        await store.FindAsync(id, cancellationToken) is { } subscriber
            ? TypedResults.Ok(SubscriberResponse.From(subscriber, time.GetUtcNow()))
            : Problems.NotFound("subscriber", id);

    internal static async Task<Results<Created<SubscriberResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        HttpRequest request, JsonBodyReader json, SubscriberStore store, SubscriberUrlPolicy urlPolicy, IOptions<DeliveryOptions> delivery,
        TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var (definition, invalid) = await json.ReadAsync<SubscriberDefinition>(request, empty: null, cancellationToken);
        if (invalid is not null)
        {
            return invalid;
        }

        var (subscriber, refused) = await CheckAsync(definition!, urlPolicy, delivery.Value, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }

        try
        {
            var created = await store.CreateAsync(subscriber!, cancellationToken);
            LogCreated(Logger(loggers), created.Name, created.Id);
            return TypedResults.Created($"/api/subscribers/{created.Id}", SubscriberResponse.From(created, time.GetUtcNow()));
        }
        catch (Exception ex) when (SubscriberStore.IsNameTaken(ex))
        {
            return NameTaken(subscriber!.Name);
        }
    }

    internal static async Task<Results<Ok<SubscriberResponse>, ValidationProblem, ProblemHttpResult>> ReplaceAsync(
        Guid id, HttpRequest request, JsonBodyReader json, SubscriberStore store, SubscriberUrlPolicy urlPolicy,
        IOptions<DeliveryOptions> delivery, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var existing = await store.FindAsync(id, cancellationToken);
        if (existing is null)
        {
            return Problems.NotFound("subscriber", id);
        }

        if (existing.ManagedByConfiguration)
        {
            return ManagedByConfiguration(existing, "changed");
        }

        var (definition, invalid) = await json.ReadAsync<SubscriberDefinition>(request, empty: null, cancellationToken);
        if (invalid is not null)
        {
            return invalid;
        }

        var (subscriber, refused) = await CheckAsync(definition!, urlPolicy, delivery.Value, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }

        try
        {
            var replaced = await store.ReplaceAsync(id, subscriber!, keepStoredSecret: definition!.Secret is null, cancellationToken);
            if (replaced is null)
            {
                return Problems.NotFound("subscriber", id);
            }

            LogReplaced(Logger(loggers), replaced.Name, replaced.Id);
            return TypedResults.Ok(SubscriberResponse.From(replaced, time.GetUtcNow()));
        }
        catch (Exception ex) when (SubscriberStore.IsNameTaken(ex))
        {
            return NameTaken(subscriber!.Name);
        }
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        Guid id, SubscriberStore store, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var existing = await store.FindAsync(id, cancellationToken);
        if (existing is null)
        {
            return Problems.NotFound("subscriber", id);
        }

        if (existing.ManagedByConfiguration)
        {
            return ManagedByConfiguration(existing, "deleted");
        }

        if (!await store.DeleteAsync(id, cancellationToken))
        {
            return Problems.NotFound("subscriber", id);
        }

        LogDeleted(Logger(loggers), existing.Name, id);
        return TypedResults.NoContent();
    }

    internal static Task<Results<Ok<SubscriberResponse>, ProblemHttpResult>> PauseAsync(
        Guid id, SubscriberStore store, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken) =>
        SetStateAsync(id, SubscriberState.Paused, "paused through the management API", store, time, loggers, cancellationToken);

    internal static Task<Results<Ok<SubscriberResponse>, ProblemHttpResult>> ResumeAsync(
        Guid id, SubscriberStore store, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken) =>
        SetStateAsync(id, SubscriberState.Active, null, store, time, loggers, cancellationToken);

    private static async Task<Results<Ok<SubscriberResponse>, ProblemHttpResult>> SetStateAsync(Guid id, SubscriberState state,
        string? reason, SubscriberStore store, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (await store.FindAsync(id, cancellationToken) is null)
        {
            return Problems.NotFound("subscriber", id);
        }

        await store.SetStateAsync(id, state, reason, cancellationToken);
        var subscriber = await store.FindAsync(id, cancellationToken);
        if (subscriber is null)
        {
            return Problems.NotFound("subscriber", id);
        }

        LogStateSet(Logger(loggers), subscriber.Name, SubscriberStore.ToText(state));
        return TypedResults.Ok(SubscriberResponse.From(subscriber, time.GetUtcNow()));
    }

    internal static async Task<Results<Ok<SubscriberSecret>, ValidationProblem, ProblemHttpResult>> RotateSecretAsync(
        Guid id, HttpRequest request, JsonBodyReader json, SubscriberStore store, TimeProvider time, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var existing = await store.FindAsync(id, cancellationToken);
        if (existing is null)
        {
            return Problems.NotFound("subscriber", id);
        }

        if (existing.SecretFromConfiguration)
        {
            return Problems.Conflict("Secret set in configuration",
                $"The secret of subscriber '{existing.Name}' is set in Relay:Subscribers, which is applied again at every start; " +
                "change it there.", "secret");
        }

        var (rotation, invalid) = await json.ReadAsync(request, () => new RotateSecretRequest(), cancellationToken);
        if (invalid is not null)
        {
            return invalid;
        }

        if (rotation!.Secret is not null && !SigningSecret.TryGetKey(rotation.Secret, out _))
        {
            return Problems.Invalid("secret", "Secret must be whsec_ followed by base64 of at least 16 bytes (or left out to generate one).");
        }

        var overlap = rotation.Overlap ?? DefaultOverlap;
        if (overlap < TimeSpan.Zero || overlap > MaxOverlap)
        {
            return Problems.Invalid("overlap", $"Overlap must be between 00:00:00 and {MaxOverlap:c}.");
        }

        var now = time.GetUtcNow();
        var rotated = await store.RotateSecretAsync(id, rotation.Secret ?? SigningSecret.Generate(), now + overlap, cancellationToken);
        if (rotated is null)
        {
            return Problems.NotFound("subscriber", id);
        }

        LogRotated(Logger(loggers), rotated.Name, now + overlap);
        return TypedResults.Ok(SubscriberSecret.From(rotated, now));
    }

    internal static async Task<Results<Ok<SubscriberSecret>, ProblemHttpResult>> GetSecretAsync(
        Guid id, SubscriberStore store, TimeProvider time, CancellationToken cancellationToken) =>
        await store.FindAsync(id, cancellationToken) is { } subscriber
            ? TypedResults.Ok(SubscriberSecret.From(subscriber, time.GetUtcNow()))
            : Problems.NotFound("subscriber", id);

    internal static async Task<Results<Ok<TestEventResult>, ProblemHttpResult>> SendTestAsync(
        Guid id, SubscriberStore store, WebhookSender sender, TimeProvider time, CancellationToken cancellationToken)
    {
        var subscriber = await store.FindAsync(id, cancellationToken);
        if (subscriber is null)
        {
            return Problems.NotFound("subscriber", id);
        }

        var now = time.GetUtcNow();
        var webhookId = Guid.CreateVersion7(now);
        var body = JsonSerializer.SerializeToUtf8Bytes(new TestEvent(TestEventType, webhookId.ToString(), subscriber.Name, now),
            TestEventJson);
        var delivery = new ClaimedDelivery(webhookId, Attempt: 1, AttemptInRound: 1, subscriber.Id, TestEventType,
            webhookId.ToString(), DealerUuid: string.Empty, body, TraceParent: null);
        var started = time.GetTimestamp();
        var result = await sender.SendAsync(subscriber, delivery, cancellationToken);
        var duration = time.GetElapsedTime(started);
        var status = (int?)result.StatusCode;
        return TypedResults.Ok(new TestEventResult(status is >= 200 and < 300, webhookId.ToString(), status, duration.TotalMilliseconds,
            result.Error, result.ResponseExcerpt));
    }

    private static readonly JsonSerializerOptions TestEventJson = new(JsonSerializerDefaults.Web);

    /// <summary>The body of a test event: which subscriber it was sent to, and when.</summary>
    private sealed record TestEvent(string Type, string Id, string Subscriber, DateTimeOffset SentAt);

    private static async Task<(Subscriber? Subscriber, ValidationProblem? Problem)> CheckAsync(SubscriberDefinition definition,
        SubscriberUrlPolicy urlPolicy, DeliveryOptions delivery, CancellationToken cancellationToken)
    {
        var (subscriber, errors) = SubscriberDefinitions.Check(definition, urlPolicy.Rules(delivery.DefaultMaxConcurrency));
        if (subscriber is null)
        {
            return (null, Problems.Invalid(errors.Select(e => (Problems.JsonField(e.Field), e.Message))));
        }

        if (await urlPolicy.CheckTargetAsync(subscriber.Url, cancellationToken) is { } refused)
        {
            return (null, Problems.Invalid("url", $"Url is refused: {refused}"));
        }

        return (subscriber, null);
    }

    private static ProblemHttpResult NameTaken(string name) =>
        Problems.Conflict("Name taken", $"Another subscriber is already named '{name}'; names are unique.", "name");

    private static ProblemHttpResult ManagedByConfiguration(Subscriber subscriber, string verb) =>
        Problems.Conflict("Managed by configuration",
            $"Subscriber '{subscriber.Name}' is declared in Relay:Subscribers and cannot be {verb} through the API; " +
            "change Relay:Subscribers and restart the Relay.", "id");

    private static ILogger Logger(ILoggerFactory loggers) => loggers.CreateLogger(LogCategory);

    private static readonly string LogCategory = typeof(SubscriberEndpoints).FullName!;

    [LoggerMessage(Level = LogLevel.Information, Message = "Created subscriber {Subscriber} ({SubscriberId}) through the management API")]
    private static partial void LogCreated(ILogger logger, string subscriber, Guid subscriberId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replaced the definition of subscriber {Subscriber} ({SubscriberId})")]
    private static partial void LogReplaced(ILogger logger, string subscriber, Guid subscriberId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted subscriber {Subscriber} ({SubscriberId}) and its deliveries")]
    private static partial void LogDeleted(ILogger logger, string subscriber, Guid subscriberId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Subscriber {Subscriber} is now {State}")]
    private static partial void LogStateSet(ILogger logger, string subscriber, string state);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Rotated the signing secret of subscriber {Subscriber}; the previous one signs too until {PreviousExpiresAt:o}")]
    private static partial void LogRotated(ILogger logger, string subscriber, DateTimeOffset previousExpiresAt);
}
