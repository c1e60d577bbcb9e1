using System.Text.Json;
using Aspire.Webhooks.Relay.Outbox;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Aspire.Webhooks.Relay.Management;

/// <summary>How an idempotent request ended.</summary>
public enum IdempotentOutcome
{
    /// <summary>It ran now, and its answer is stored under the key.</summary>
    Done,

    /// <summary>The key was used before for this very request: its stored answer is returned and nothing ran.</summary>
    Repeated,

    /// <summary>The key was used before for a different request: nothing ran.</summary>
    KeyReused,

    /// <summary>The operation refused (an unknown id, a delivery still pending): nothing was changed or stored.</summary>
    Refused,
}

/// <summary>What an operation did: its answer, and the subscribers whose lanes must wake for new pending deliveries.</summary>
public sealed record OperationResult<T>(T Answer, IReadOnlyCollection<Guid> Wake);

/// <summary>
/// The <c>api_requests</c> table: runs a replay or backfill once per <c>Idempotency-Key</c>. The operation and the
/// record of its answer commit in one transaction, and requests with the same key wait for each other (an advisory
/// lock on the key), so a retried request, even one sent while the first is still running, never acts twice.
/// </summary>
public sealed class IdempotencyStore(NpgsqlDataSource database, IOptions<ManagementOptions> options, IOptions<JsonOptions> json, TimeProvider time)
{
    private readonly JsonSerializerOptions _json = json.Value.SerializerOptions;

    /// <summary>
    /// Runs <paramref name="operation"/> in a transaction unless the key was used before; returns null from the
    /// operation to refuse (nothing is stored then, so the same key may be sent again once the cause is fixed).
    /// </summary>
    public async Task<(IdempotentOutcome Outcome, T? Answer)> RunOnceAsync<T>(string key, string operationName, string fingerprint,
        Func<NpgsqlConnection, DateTimeOffset, CancellationToken, Task<OperationResult<T>?>> operation, CancellationToken cancellationToken)
        where T : class
    {
        var now = time.GetUtcNow();
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var batch = new NpgsqlBatch(connection))
        {
            batch.BatchCommands.Add(OutboxStore.Command("select pg_advisory_xact_lock(hashtextextended($1, 0))", key));
            batch.BatchCommands.Add(OutboxStore.Command("delete from api_requests where created_at < $1",
                now - options.Value.IdempotencyKeyLifetime));
            batch.BatchCommands.Add(OutboxStore.Command(
                "select operation, fingerprint, response::text from api_requests where idempotency_key = $1", key));
            // The delete returns no rows: after the lock's row comes the lookup's.
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                var sameRequest = reader.GetString(0) == operationName && reader.GetString(1) == fingerprint;
                var stored = JsonSerializer.Deserialize<T>(reader.GetString(2), _json);
                await reader.DisposeAsync();
                await transaction.CommitAsync(cancellationToken);
                return sameRequest ? (IdempotentOutcome.Repeated, stored) : (IdempotentOutcome.KeyReused, null);
            }
        }

        var result = await operation(connection, now, cancellationToken);
        if (result is null)
        {
            await transaction.RollbackAsync(cancellationToken);
            return (IdempotentOutcome.Refused, null);
        }

        await using (var record = new NpgsqlCommand("""
            insert into api_requests (idempotency_key, operation, fingerprint, status_code, response, created_at)
            values ($1, $2, $3, $4, $5, $6)
            """, connection))
        {
            record.Parameters.AddWithValue(key);
            record.Parameters.AddWithValue(operationName);
            record.Parameters.AddWithValue(fingerprint);
            record.Parameters.AddWithValue(StatusCodes.Status200OK);
            record.Parameters.AddWithValue(NpgsqlDbType.Jsonb, JsonSerializer.Serialize(result.Answer, _json));
            record.Parameters.AddWithValue(now);
            await record.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);

        if (result.Wake.Count > 0)
        {
            // After the commit, so no lane wakes before it can see the deliveries; a lost one is covered by the poll.
            await using var notify = new NpgsqlCommand(
                $"select pg_notify('{OutboxStore.DeliveriesChannel}', s::text) from unnest($1::uuid[]) as s", connection);
            notify.Parameters.AddWithValue(result.Wake.ToArray());
            await notify.ExecuteNonQueryAsync(CancellationToken.None);
        }

        return (IdempotentOutcome.Done, result.Answer);
    }
}
