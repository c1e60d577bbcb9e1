using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>Problem details that name what was wrong: the field, query parameter or header.</summary>
internal static class Problems
{
    public static ValidationProblem Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "Invalid request");

    public static ValidationProblem Invalid(IEnumerable<(string Field, string Message)> errors) =>
        TypedResults.ValidationProblem(errors.GroupBy(e => e.Field).ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray()),
            title: "Invalid request");

    public static ProblemHttpResult NotFound(string what, Guid id) =>
        TypedResults.Problem($"No {what} has the id '{id}'.", statusCode: StatusCodes.Status404NotFound, title: $"Unknown {what}",
            extensions: new Dictionary<string, object?> { ["field"] = "id" });

    public static ProblemHttpResult Conflict(string title, string detail, string field) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status409Conflict, title: title,
            extensions: new Dictionary<string, object?> { ["field"] = field });

    public static ProblemHttpResult Header(int status, string title, string detail, string header) =>
        TypedResults.Problem(detail, statusCode: status, title: title, extensions: new Dictionary<string, object?> { ["header"] = header });

    /// <summary><c>Filter:EventTypes</c> (a definition's field, as configuration names it) as the JSON path <c>filter.eventTypes</c>.</summary>
    public static string JsonField(string definitionField) =>
        string.Join('.', definitionField.Split(':').Select(JsonNamingPolicy.CamelCase.ConvertName));
}

/// <summary>
/// Reads a JSON request body, refusing properties the type does not have (a misspelt filter would otherwise match
/// everything) and naming the field a malformed value is in.
/// </summary>
public sealed class JsonBodyReader
{
    /// <summary>The largest body a management request may have.</summary>
    public const int MaxBytes = 64 * 1024;

    private readonly JsonSerializerOptions _options;

    public JsonBodyReader(IOptions<JsonOptions> json)
    {
        _options = new JsonSerializerOptions(json.Value.SerializerOptions)
        {
            UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        };
    }

    /// <summary>The raw body, or null when it is larger than <see cref="MaxBytes"/>.</summary>
    public static async Task<byte[]?> ReadBytesAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>The body as <typeparamref name="T"/>; an empty body gives <paramref name="empty"/>, when allowed.</summary>
    public async Task<(T? Value, ValidationProblem? Problem)> ReadAsync<T>(HttpRequest request, Func<T>? empty, CancellationToken cancellationToken)
        where T : class
    {
        var bytes = await ReadBytesAsync(request, cancellationToken);
        return bytes is null ? (null, Problems.Invalid("body", $"The body is larger than {MaxBytes} bytes.")) : Parse(bytes, empty);
    }

    public (T? Value, ValidationProblem? Problem) Parse<T>(byte[] body, Func<T>? empty) where T : class
    {
        if (body.AsSpan().Trim(" \t\r\n"u8).IsEmpty)
        {
            return empty is not null ? (empty(), null) : (null, Problems.Invalid("body", "A JSON body is required."));
        }

        try
        {
            var value = JsonSerializer.Deserialize<T>(body, _options);
            return value is null ? (null, Problems.Invalid("body", "The body must be a JSON object, not null.")) : (value, null);
        }
        catch (JsonException ex)
        {
            var field = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "body" : ex.Path.TrimStart('$', '.');
            return (null, Problems.Invalid(field, $"The body is not valid here: {FirstSentence(ex.Message)}"));
        }
    }

    private static string FirstSentence(string message)
    {
        // The reader's messages end with "Path: $.x | LineNumber: 0 | ...", which the field already says.
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
