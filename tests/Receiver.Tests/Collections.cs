using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Receiver.Tests;

// xunit needs collection definitions in the test assembly itself; the fixture lives in TestSupport.
[CollectionDefinition(Name)]
public sealed class RabbitMqCollection : ICollectionFixture<RabbitMqServer>
{
    public const string Name = "RabbitMQ";
}
