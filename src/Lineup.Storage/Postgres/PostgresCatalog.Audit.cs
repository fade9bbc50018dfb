using System.Data;
using Lineup.Core.Audit;
using Npgsql;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The tamper-evident audit log (<see cref="IAuditLog"/>) on PostgreSQL: the same tables, statements, checks and
/// messages as SQLite (<see cref="AuditLogStore"/>). Appends from every process take the tree row lock
/// (<see cref="AppendAuditAsync(NpgsqlConnection, NpgsqlTransaction, IReadOnlyList{NewAuditEvent}, CancellationToken)"/>);
/// reads that must agree with themselves (proofs, verification) run in one repeatable-read snapshot, and signers are
/// serialised by an advisory lock so that appends go on while a checkpoint reads the leaves.
/// </summary>
public sealed partial class PostgresCatalog : IAuditLog
{
    /// <summary>
    /// The advisory lock of checkpoint signers: the schema lock key plus an offset far beyond <see cref="WriteLock"/>'s,
    /// so that a lock added there cannot share it.
    /// </summary>
    private const long AuditCheckpointLockKey = SchemaLockKey + 0x100;

    public async Task<AuditEvent> AppendAsync(NewAuditEvent auditEvent, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        return await WriteAsync((connection, tx) => AppendAuditAsync(connection, tx, auditEvent, ct), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<AuditEvent>> AppendAsync(IReadOnlyList<NewAuditEvent> events, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Any(e => e is null))
        {
            throw new ArgumentException("An audit event in the batch is null.", nameof(events));
        }

        return events.Count == 0 ? [] : await WriteAsync((connection, tx) => AppendAuditAsync(connection, tx, events, ct), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<AuditEvent>> ReadEventsAsync(long fromSeq = 1, int count = 100, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await AuditLogStore.ReadEventsAsync(connection, fromSeq, count, ct).ConfigureAwait(false);
    }

    public async Task<AuditTreeHead> TreeHeadAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await AuditLogStore.ReadTreeHeadAsync(connection, null, ct).ConfigureAwait(false);
    }

    public async Task<AuditInclusionProof> InclusionProofAsync(long seq, long treeSize, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(seq, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(treeSize, seq);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var snapshot = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        return await AuditLogStore.InclusionProofAsync(connection, snapshot, seq, treeSize, ct).ConfigureAwait(false);
    }

    public async Task<AuditConsistencyProof> ConsistencyProofAsync(long oldSize, long newSize, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(oldSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(newSize, oldSize);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var snapshot = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        return await AuditLogStore.ConsistencyProofAsync(connection, snapshot, oldSize, newSize, ct).ConfigureAwait(false);
    }

    /// <remarks>
    /// Signers in every process take one transaction-scoped advisory lock, so two never sign two heads at one size: the
    /// second waits, then (read committed: each statement sees what committed before it) finds the first one's
    /// checkpoint, or signs a later head. The tree row is not locked: the head is read with its last event in one
    /// statement, appends after it only add leaves beyond the signed size, and searches are not held up while the
    /// leaves are read.
    /// </remarks>
    public async Task<Checkpoint> CheckpointAsync(ICheckpointSigner signer, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(signer);
        return await WriteAsync(async (connection, tx) =>
        {
            await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", connection, tx))
            {
                lockCommand.Parameters.AddWithValue("key", AuditCheckpointLockKey);
                await lockCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return await AuditLogStore.SignCheckpointAsync(connection, tx, signer, _clock.GetUtcNow(), ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Checkpoint>> ListCheckpointsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await AuditLogStore.ReadCheckpointsAsync(connection, ct).ConfigureAwait(false);
    }

    public async Task<AuditVerification> VerifyAsync(ICheckpointVerifier? key, IProgress<AuditVerifyProgress>? progress = null, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);

        // Repeatable read: every statement sees the snapshot of the first, however many processes append meanwhile.
        await using var snapshot = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        return await AuditLogStore.VerifyAsync(connection, snapshot, key, progress, ct).ConfigureAwait(false);
    }
}
