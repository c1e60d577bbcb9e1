using Npgsql;
using Testcontainers.PostgreSql;
using Xunit;

namespace Aspire.Webhooks.TestSupport;

/// <summary>A PostgreSQL server shared by a test collection; each test gets a database of its own.</summary>
public sealed class PostgresServer : IAsyncLifetime
{
    public const string Variable = "ConnectionStrings__relaydb";

    private IAsyncDisposable? _container;

    public string ConnectionString { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        (ConnectionString, _container) = await ExternalServer.ResolveAsync(Variable, async () =>
        {
            var container = new PostgreSqlBuilder("postgres:15-alpine").Build();
            await container.StartAsync();
            return (container.GetConnectionString(), (IAsyncDisposable)container);
        }, "PostgreSQL server");

        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
    }

    public async Task DisposeAsync()
    {
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"create database \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
    }

    public static async Task DropDatabaseAsync(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var name = builder.Database!;
        NpgsqlConnection.ClearAllPools();
        builder.Database = "postgres";
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"drop database if exists \"{name}\" with (force)", connection);
        // A backend this role may not terminate (an autovacuum worker that just started on the new database) makes
        // the forced drop fail; it is gone within moments.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                await command.ExecuteNonQueryAsync();
                return;
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.ObjectInUse &&
                                               DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }
}
