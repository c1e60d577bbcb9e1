using System.Net;
using System.Text.Json;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>The contract a partner reads: what myKaarma sends and every answer it can get.</summary>
public sealed class ApiReferenceTests
{
    [Fact]
    public async Task The_openapi_document_describes_the_webhook_request_headers_and_every_answer()
    {
        // The document needs no broker.
        await using var factory = new ReceiverFactory("amqp://guest:guest@127.0.0.1:1/", "unused");
        using var client = factory.CreateClient();

        using var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));

        var operation = document.RootElement.GetProperty("paths").GetProperty("/webhooks/mykaarma").GetProperty("post");
        Assert.Equal("ReceiveMyKaarmaEvent", operation.GetProperty("operationId").GetString());
        var headers = operation.GetProperty("parameters").EnumerateArray()
            .Where(p => p.GetProperty("in").GetString() == "header")
            .Select(p => p.GetProperty("name").GetString())
            .ToArray();
        Assert.Equal(["mykaarma-signature-token", "x-authorization-token"], headers.Order());
        var content = operation.GetProperty("requestBody").GetProperty("content");
        Assert.True(content.TryGetProperty("text/plain", out _));
        Assert.True(content.TryGetProperty("application/json", out _));
        var answers = operation.GetProperty("responses").EnumerateObject().Select(r => r.Name).Order().ToArray();
        Assert.Equal(["202", "400", "401", "403", "413", "503"], answers);
        var envelope = content.GetProperty("text/plain").GetProperty("schema");
        Assert.Equal(["dealeruuid", "departmentuuid", "id", "payload", "timestamp", "type"],
            envelope.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order().ToArray());
    }

    [Fact]
    public async Task The_scalar_page_is_served()
    {
        await using var factory = new ReceiverFactory("amqp://guest:guest@127.0.0.1:1/", "unused");
        using var client = factory.CreateClient();

        using var response = await client.GetAsync("/scalar");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("openapi/v1.json", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
