using System.Text.Json;
using RabbitMQ.Client;

namespace Aspire.Webhooks.EndToEndBench.Ceilings;

/// <summary>RabbitMQ's publish-with-confirms ceiling, as LoadGen's raw mode measured it in this run.</summary>
public sealed record BrokerCeilingResult(string File, int? Publishers, double PublishesPerSecond, double? P99Ms);

public static class BrokerCeiling
{
    /// <summary>Reads the raw run from LoadGen's result file; LoadGen itself is the one implementation of that ceiling.</summary>
    public static BrokerCeilingResult? Read(string? path)
    {
        if (path is null || !File.Exists(path))
        {
            return null;
        }

        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        foreach (var run in document.RootElement.GetProperty("runs").EnumerateArray())
        {
            if (run.GetProperty("name").GetString() != "raw")
            {
                continue;
            }

            int? publishers = run.TryGetProperty("concurrency", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : null;
            double? p99 = run.TryGetProperty("latency", out var l) && l.TryGetProperty("p99Micros", out var p)
                ? Math.Round(p.GetInt64() / 1000.0, 2)
                : null;
            return new BrokerCeilingResult(path, publishers, run.GetProperty("acceptedPerSecond").GetDouble(), p99);
        }

        return null;
    }

    /// <summary>Deletes what bench/end-to-end.sh made on the broker; a name already gone is not an error.</summary>
    public static async Task CleanupAsync(Uri amqp, IEnumerable<string> queues, IEnumerable<string> exchanges,
        CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory { Uri = amqp };
        await using var connection = await factory.CreateConnectionAsync("aspire-webhooks-end-to-end cleanup", cancellationToken);
        foreach (var queue in queues)
        {
            // A failed operation closes its channel: one channel per deletion.
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var messages = await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false, cancellationToken: cancellationToken);
            Console.WriteLine($"deleted queue {queue} ({messages} messages left in it)");
        }

        foreach (var exchange in exchanges)
        {
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            await channel.ExchangeDeleteAsync(exchange, ifUnused: false, cancellationToken: cancellationToken);
        }

        Console.WriteLine($"deleted {exchanges.Count()} exchanges");
    }
}
