using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Receiver.Tests;

/// <summary>
/// An event the broker would route to no queue must be refused, not acknowledged and lost; and the Receiver declares
/// its queue again, so myKaarma's retry is stored.
/// </summary>
[Collection(RabbitMqCollection.Name)]
public sealed class UnroutableEventTests(RabbitMqServer rabbit)
{
    [Fact]
    public async Task When_the_events_queue_disappears_the_answer_is_503_and_the_retry_is_stored_in_a_declared_again_queue()
    {
        var queue = RabbitMqServer.UniqueQueueName("receiver-unroutable");
        await using var factory = new ReceiverFactory(rabbit.ConnectionString, queue);
        using var client = factory.CreateClient();
        using (var first = await client.SendAsync(ReceiverFactory.SignedRequest(SampleEvents.WithFreshId(SampleEvents.Customer))))
        {
            Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        }

        // An operator deletes the queue: the exchange stays, but nothing is bound to it any more.
        await using (var connection = await rabbit.ConnectAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false);
        }

        try
        {
            var refused = SampleEvents.WithFreshId(SampleEvents.Customer);
            using var second = await client.SendAsync(ReceiverFactory.SignedRequest(refused));

            Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
            var problem = await second.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("broker_unavailable", problem.GetProperty("reason").GetString());

            // myKaarma retries the refused event; the Receiver has meanwhile declared its queue and binding again.
            await Eventually.ReturnsAsync(async () =>
            {
                using var retry = await client.SendAsync(ReceiverFactory.SignedRequest(refused));
                return retry.StatusCode;
            }, status => status == HttpStatusCode.Accepted, because: "the retry is stored once the queue is back");
            Assert.Equal(1u, await rabbit.MessageCountAsync(queue));
        }
        finally
        {
            await rabbit.DeleteQueueAsync(queue);
        }
    }
}
