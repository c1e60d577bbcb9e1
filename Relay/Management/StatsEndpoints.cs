using Microsoft.AspNetCore.Http.HttpResults;

namespace Aspire.Webhooks.Relay.Management;

/// <summary><c>/api/stats</c> and <c>/api/subscribers/{id}/stats</c>: backlog, last hour's attempts and state per subscriber.</summary>
public static class StatsEndpoints
{
    /// <summary>Maps the statistics under <paramref name="api"/>.</summary>
    public static RouteGroupBuilder MapStatsEndpoints(this IEndpointRouteBuilder api)
    {
        var group = api.MapGroup("").WithTags("Statistics");
        group.MapGet("/stats", AllAsync)
            .WithName("GetAllStats")
            .WithSummary("Statistics of every subscriber");
        group.MapGet("/subscribers/{id:guid}/stats", OneAsync)
            .WithName("GetSubscriberStats")
            .WithSummary("Statistics of one subscriber")
            .WithDescription("Pending deliveries and the oldest one's age; the last hour's delivered and failed attempts and their " +
                "median and 95th percentile durations; the state and why.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    internal static async Task<Ok<IReadOnlyList<SubscriberStats>>> AllAsync(StatsStore store, TimeProvider time,
        CancellationToken cancellationToken) =>
        TypedResults.Ok(await store.ReadAsync(null, time.GetUtcNow(), cancellationToken));

    internal static async Task<Results<Ok<SubscriberStats>, ProblemHttpResult>> OneAsync(Guid id, StatsStore store, TimeProvider time,
        CancellationToken cancellationToken) =>
        (await store.ReadAsync(id, time.GetUtcNow(), cancellationToken)) is [var stats]
            ? TypedResults.Ok(stats)
            : Problems.NotFound("subscriber", id);
}
