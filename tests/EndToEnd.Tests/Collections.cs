using Aspire.Webhooks.TestSupport;

namespace Aspire.Webhooks.EndToEnd.Tests;

/// <summary>The whole system shares the broker and the database with nothing else in this assembly.</summary>
[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<RabbitMqServer>, ICollectionFixture<PostgresServer>
{
    public const string Name = "Servers";
}
