using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Aspire.Webhooks.TestSupport;

/// <summary>A request a subscriber received: headers, body and when it arrived.</summary>
public sealed record SinkRequest(string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body, DateTimeOffset At)
{
    public string Header(string name) => Headers.TryGetValue(name, out var value) ? value : throw new KeyNotFoundException(name);
}

/// <summary>
/// A subscriber endpoint on loopback that records every request and answers as the test says: by default 200,
/// or whatever <see cref="Respond"/> returns for the n-th request to a path.
/// </summary>
public sealed class SubscriberSink : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<SinkRequest> _requests = new();
    private readonly ConcurrentDictionary<string, int> _counts = new();
    private readonly ConcurrentQueue<SinkRequest> _accepted = new();
    private readonly ConcurrentDictionary<string, int> _inFlightById = new();
    private int _sameIdOverlaps;
    private int _inFlight;
    private int _maxInFlight;

    private SubscriberSink(WebApplication app) => _app = app;

    /// <summary>Decides the answer: path, 1-based request number on that path -> status code, optional Retry-After seconds.</summary>
    public Func<string, int, (HttpStatusCode Status, int? RetryAfterSeconds)> Respond { get; set; } = (_, _) => (HttpStatusCode.OK, null);

    /// <summary>When set, decides the answer from the request itself (its webhook-id, say) instead of <see cref="Respond"/>.</summary>
    public Func<SinkRequest, (HttpStatusCode Status, int? RetryAfterSeconds)>? Answer { get; set; }

    /// <summary>Delay before answering, to hold requests in flight.</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.Zero;

    /// <summary>Each request waits for the task this returns before answering: a subscriber that hangs until the test lets it go.</summary>
    public Func<SinkRequest, Task> Gate { get; set; } = _ => Task.CompletedTask;

    public IReadOnlyCollection<SinkRequest> Requests => _requests;

    /// <summary>Requests that were answered with a 2xx, that is, that the subscriber took.</summary>
    public IReadOnlyCollection<SinkRequest> Accepted => _accepted;

    /// <summary>How many times a request arrived while another with the same webhook-id was still being answered.</summary>
    public int SameIdOverlaps => Volatile.Read(ref _sameIdOverlaps);

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public Uri BaseAddress { get; private set; } = null!;

    public Uri Url(string path) => new(BaseAddress, path);

    public IReadOnlyList<SinkRequest> RequestsTo(string path) => [.. _requests.Where(r => r.Path == path)];

    public static async Task<SubscriberSink> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var sink = new SubscriberSink(app);
        app.Run(sink.HandleAsync);
        await app.StartAsync();
        sink.BaseAddress = new Uri(app.Urls.First());
        return sink;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var current = Interlocked.Increment(ref _inFlight);
        int seen;
        while (current > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, current, seen) != seen)
        {
        }

        try
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var path = context.Request.Path.Value ?? "/";
            var request = new SinkRequest(path,
                context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()),
                body.ToArray(), DateTimeOffset.UtcNow);
            _requests.Enqueue(request);
            var number = _counts.AddOrUpdate(path, 1, (_, n) => n + 1);
            var webhookId = request.Headers.GetValueOrDefault("webhook-id");
            if (webhookId is not null && _inFlightById.AddOrUpdate(webhookId, 1, (_, n) => n + 1) > 1)
            {
                Interlocked.Increment(ref _sameIdOverlaps);
            }

            try
            {
                if (Delay > TimeSpan.Zero)
                {
                    await Task.Delay(Delay);
                }

                await Gate(request).WaitAsync(context.RequestAborted);
            }
            finally
            {
                if (webhookId is not null)
                {
                    _inFlightById.AddOrUpdate(webhookId, 0, (_, n) => n - 1);
                }
            }

            var (status, retryAfter) = Answer?.Invoke(request) ?? Respond(path, number);
            context.Response.StatusCode = (int)status;
            if (retryAfter is { } seconds)
            {
                context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            await context.Response.WriteAsync($"answer {(int)status} to request {number}");
            await context.Response.CompleteAsync();
            if ((int)status is >= 200 and < 300)
            {
                _accepted.Enqueue(request);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The sender went away (killed, or timed out) before an answer: nothing was taken.
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
