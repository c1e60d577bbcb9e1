using System.ComponentModel;
using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>The query string of <c>GET /api/deliveries</c>, as sent: each value is checked, and a bad one named.</summary>
public sealed class DeliveryQuery
{
    [Description("Only this subscriber's deliveries (its id).")]
    public string? SubscriberId { get; init; }

    [Description("pending, failed-retrying, delivered, dead, skipped or superseded.")]
    public string? Status { get; init; }

    [Description("customers, appointments, service-orders, mpis, or another type as myKaarma sent it.")]
    public string? EventType { get; init; }

    [Description("myKaarma's event id.")]
    public string? EventId { get; init; }

    [Description("The dealer's UUID.")]
    public string? Dealer { get; init; }

    [Description("Deliveries created at or after this time (ISO 8601, e.g. 2026-05-01T00:00:00Z).")]
    public string? From { get; init; }

    [Description("Deliveries created before this time (ISO 8601).")]
    public string? To { get; init; }

    [Description("1 to 500; 50 when left out.")]
    public string? PageSize { get; init; }

    [Description("The next value of the previous page.")]
    public string? After { get; init; }
}

/// <summary><c>/api/deliveries</c>: the delivery log, and one delivery with all its attempts.</summary>
public static class DeliveryEndpoints
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 500;

    /// <summary>Maps the delivery log under <paramref name="api"/>.</summary>
    public static RouteGroupBuilder MapDeliveryEndpoints(this IEndpointRouteBuilder api)
    {
        var group = api.MapGroup("/deliveries").WithTags("Deliveries");
        group.MapGet("", QueryAsync)
            .WithName("QueryDeliveries")
            .WithSummary("Query the delivery log")
            .WithDescription("Newest first, one page at a time: pass the answer's next as after for the following page.")
            .ProducesValidationProblem();
        group.MapGet("/{id:guid}", GetAsync)
            .WithName("GetDelivery")
            .WithSummary("Get one delivery with its event and every attempt")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    internal static async Task<Results<Ok<DeliveryPage>, ValidationProblem>> QueryAsync(
        [AsParameters] DeliveryQuery query, DeliveryLogStore store, CancellationToken cancellationToken)
    {
        var (filter, errors) = Parse(query);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var (items, more) = await store.QueryAsync(filter, cancellationToken);
        var next = more ? new DeliveryCursor(items[^1].CreatedAt, items[^1].Id).Encode() : null;
        return TypedResults.Ok(new DeliveryPage(items, next));
    }

    internal static async Task<Results<Ok<DeliveryDetail>, ProblemHttpResult>> GetAsync(
        Guid id, DeliveryLogStore store, CancellationToken cancellationToken) =>
        await store.FindAsync(id, cancellationToken) is { } delivery ? TypedResults.Ok(delivery) : Problems.NotFound("delivery", id);

    internal static (DeliveryFilter Filter, List<(string Field, string Message)> Errors) Parse(DeliveryQuery query)
    {
        var errors = new List<(string, string)>();
        Guid? subscriberId = null;
        if (Present(query.SubscriberId) is { } subscriberText)
        {
            if (Guid.TryParse(subscriberText, out var parsed))
            {
                subscriberId = parsed;
            }
            else
            {
                errors.Add(("subscriberId", $"subscriberId '{subscriberText}' is not a subscriber id (a UUID)."));
            }
        }

        var status = Present(query.Status);
        if (status is not null && !DeliveryStatuses.All.Contains(status))
        {
            errors.Add(("status", $"status '{status}' is not one of {string.Join(", ", DeliveryStatuses.All)}."));
        }

        var from = Time(query.From, "from", errors);
        var to = Time(query.To, "to", errors);
        if (from > to)
        {
            errors.Add(("from", "from must not be later than to."));
        }

        var pageSize = DefaultPageSize;
        if (Present(query.PageSize) is { } sizeText &&
            (!int.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out pageSize) || pageSize is < 1 or > MaxPageSize))
        {
            errors.Add(("pageSize", $"pageSize must be a whole number from 1 to {MaxPageSize}."));
        }

        DeliveryCursor? after = null;
        if (Present(query.After) is { } afterText && (after = DeliveryCursor.TryDecode(afterText)) is null)
        {
            errors.Add(("after", "after is not a next value of a previous page."));
        }

        return (new DeliveryFilter
        {
            SubscriberId = subscriberId,
            Status = status,
            EventType = Present(query.EventType),
            EventId = Present(query.EventId),
            DealerUuid = Present(query.Dealer),
            From = from,
            To = to,
            PageSize = pageSize,
            After = after,
        }, errors);
    }

    /// <summary>An ISO 8601 time (a date alone is midnight UTC; no offset means UTC), or null with an error naming the field.</summary>
    internal static DateTimeOffset? Time(string? text, string field, List<(string Field, string Message)> errors)
    {
        if (Present(text) is not { } value)
        {
            return null;
        }

        // Only the ISO 8601 shapes: the culture's own date formats (is 01/02 January or February?) are refused.
        if (value.Length >= 10 && char.IsAsciiDigit(value[0]) && value[4] == '-' && value[7] == '-' &&
            DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal,
                out var parsed))
        {
            return parsed;
        }

        errors.Add((field, $"{field} '{value}' is not an ISO 8601 time such as 2026-05-01T12:00:00Z."));
        return null;
    }

    private static string? Present(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
