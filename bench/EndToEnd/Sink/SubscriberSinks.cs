using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Aspire.Webhooks.EndToEndBench.Load;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aspire.Webhooks.EndToEndBench.Sink;

/// <summary>What one subscriber's sink saw.</summary>
public sealed record SinkCounts(long Received, long Duplicates, long BadSignatures, IReadOnlyDictionary<string, long> ByEventType);

/// <summary>
/// The downstream subscribers, as one Kestrel app on loopback: <c>POST /sink/{name}</c> checks the Standard Webhooks
/// signature with the subscriber's secret, counts the delivery by event type, and tells the tracker when the
/// match-all subscriber received an event. Answers 200 at once, like a subscriber that queues its work.
/// </summary>
public sealed class SubscriberSinks : IAsyncDisposable
{
    private readonly Dictionary<string, Sink> _sinks;
    private readonly string _matchAll;
    private readonly DeliveryTracker _tracker;
    private WebApplication? _app;

    public SubscriberSinks(IEnumerable<SinkSubscriber> subscribers, string matchAll, DeliveryTracker tracker)
    {
        _sinks = subscribers.ToDictionary(s => s.Name, s => new Sink(SecretKey(s.Secret)), StringComparer.Ordinal);
        _matchAll = matchAll;
        _tracker = tracker;
    }

    public async Task StartAsync(int port, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, port));
        builder.Services.AddRoutingCore();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        _app = builder.Build();
        _app.UseRouting();
        _app.MapPost("/sink/{name}", ReceiveAsync);
        await _app.StartAsync(cancellationToken);
    }

    public IReadOnlyDictionary<string, SinkCounts> Counts() => _sinks.ToDictionary(s => s.Key, s => s.Value.Snapshot());

    public long ReceivedBy(string name) => _sinks[name].Received;

    private async Task<IResult> ReceiveAsync(string name, HttpRequest request)
    {
        var received = Stopwatch.GetTimestamp();
        if (!_sinks.TryGetValue(name, out var sink))
        {
            return Results.NotFound();
        }

        var body = new byte[request.ContentLength ?? 0];
        var read = 0;
        while (read < body.Length && await request.Body.ReadAsync(body.AsMemory(read)) is var n and > 0)
        {
            read += n;
        }

        var headers = request.Headers;
        string webhookId = headers["webhook-id"].ToString(), eventId = headers["x-mykaarma-event-id"].ToString();
        var signed = read == body.Length && Verifies(sink.Key, webhookId, headers["webhook-timestamp"].ToString(),
            headers["webhook-signature"].ToString(), body);
        var first = sink.Record(webhookId, headers["x-mykaarma-event-type"].ToString(), signed);
        if (first && signed && name == _matchAll)
        {
            _tracker.Delivered(eventId, received);
        }

        return Results.Ok();
    }

    private static bool Verifies(byte[] key, string webhookId, string timestamp, string signature, byte[] body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{webhookId}.{timestamp}.");
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(prefix);
        hmac.AppendData(body);
        var expected = "v1," + Convert.ToBase64String(hmac.GetHashAndReset());
        return signature.Split(' ').Any(s => CryptographicOperations.FixedTimeEquals(
            Encoding.ASCII.GetBytes(s), Encoding.ASCII.GetBytes(expected)));
    }

    private static byte[] SecretKey(string secret) =>
        Convert.FromBase64String(secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret["whsec_".Length..] : secret);

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private sealed class Sink(byte[] key)
    {
        private readonly ConcurrentDictionary<string, byte> _seen = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, long> _byType = new(StringComparer.Ordinal);
        private long _received;
        private long _duplicates;
        private long _badSignatures;

        public byte[] Key { get; } = key;

        public long Received => Interlocked.Read(ref _received);

        /// <summary>Counts the delivery; true when its webhook-id is new (a retry of a delivery keeps its id).</summary>
        public bool Record(string webhookId, string eventType, bool signed)
        {
            Interlocked.Increment(ref _received);
            if (!signed)
            {
                Interlocked.Increment(ref _badSignatures);
            }

            if (!_seen.TryAdd(webhookId, 0))
            {
                Interlocked.Increment(ref _duplicates);
                return false;
            }

            _byType.AddOrUpdate(eventType, 1, static (_, n) => n + 1);
            return true;
        }

        public SinkCounts Snapshot() => new(Received, Interlocked.Read(ref _duplicates), Interlocked.Read(ref _badSignatures),
            _byType.ToDictionary(t => t.Key, t => t.Value));
    }
}
