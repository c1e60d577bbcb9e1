using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.Relay.Tests;

/// <summary>Tests that need the broker and the database; the fixtures live in TestSupport.</summary>
[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<RabbitMqServer>, ICollectionFixture<PostgresServer>
{
    public const string Name = "Servers";
}
