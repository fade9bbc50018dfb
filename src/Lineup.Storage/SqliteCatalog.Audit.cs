using Lineup.Core.Audit;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>
/// The tamper-evident audit log (<see cref="IAuditLog"/>): events in <c>audit_events</c>, the tree's right edge in
/// <c>audit_tree</c>, signed heads in <c>audit_checkpoints</c>. Other catalog writes append their event with
/// <see cref="AppendAuditAsync(SqliteTransaction, NewAuditEvent, CancellationToken)"/> inside their own transaction, so
/// an action and its record commit or roll back together.
/// </summary>
public sealed partial class SqliteCatalog : IAuditLog
{
    public async Task<AuditEvent> AppendAsync(NewAuditEvent auditEvent, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        return await WriteAsync(tx => AppendAuditAsync(tx, auditEvent, ct), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<AuditEvent>> AppendAsync(IReadOnlyList<NewAuditEvent> events, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Any(e => e is null))
        {
            throw new ArgumentException("An audit event in the batch is null.", nameof(events));
        }

        return events.Count == 0 ? [] : await WriteAsync(tx => AppendAuditAsync(tx, events, ct), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Appends <paramref name="auditEvent"/> inside the caller's write transaction <paramref name="tx"/> (on the writer
    /// connection, under the write gate): the event commits or rolls back with the action it records. Call it after the
    /// action's own statements, so the subject's id is known.
    /// </summary>
    internal async Task<AuditEvent> AppendAuditAsync(SqliteTransaction tx, NewAuditEvent auditEvent, CancellationToken ct) =>
        (await AppendAuditAsync(tx, [auditEvent], ct).ConfigureAwait(false))[0];

    /// <inheritdoc cref="AppendAuditAsync(SqliteTransaction, NewAuditEvent, CancellationToken)"/>
    internal async Task<IReadOnlyList<AuditEvent>> AppendAuditAsync(SqliteTransaction tx, IReadOnlyList<NewAuditEvent> events, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tx);
        var (size, frontier) = await AuditLogStore.ReadTreeStateAsync(_writer, tx, requireEvents: true, ct).ConfigureAwait(false);
        var at = _clock.GetUtcNow();
        var atText = AuditEvent.FormatTime(at);

        using var insert = _writer.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = $"INSERT INTO audit_events({AuditLogStore.EventColumns}) VALUES ($seq, $at, $actor, $action, $subject, $details, $leaf)";
        var seqParameter = insert.Parameters.Add("$seq", SqliteType.Integer);
        insert.Parameters.AddWithValue("$at", atText);
        var actor = insert.Parameters.Add("$actor", SqliteType.Text);
        var action = insert.Parameters.Add("$action", SqliteType.Text);
        var subject = insert.Parameters.Add("$subject", SqliteType.Text);
        var details = insert.Parameters.Add("$details", SqliteType.Text);
        var leaf = insert.Parameters.Add("$leaf", SqliteType.Blob);

        var written = new List<AuditEvent>(events.Count);
        foreach (var newEvent in events)
        {
            var logged = newEvent.At(size + 1, at);
            var leafHash = logged.LeafHash();
            seqParameter.Value = logged.Seq;
            actor.Value = logged.Actor;
            action.Value = logged.Action;
            subject.Value = logged.Subject;
            details.Value = logged.Details.ToCanonicalJson();
            leaf.Value = leafHash;
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            frontier.Append(leafHash);
            size++;
            written.Add(logged);
        }

        using var update = _writer.CreateCommand();
        update.Transaction = tx;
        update.CommandText = "UPDATE audit_tree SET size = $size, frontier = $frontier WHERE id = 1";
        update.Parameters.AddWithValue("$size", size);
        update.Parameters.AddWithValue("$frontier", frontier.ToBytes());
        await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return written;
    }

    public async Task<IReadOnlyList<AuditEvent>> ReadEventsAsync(long fromSeq = 1, int count = 100, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await AuditLogStore.ReadEventsAsync(connection, fromSeq, count, ct).ConfigureAwait(false);
    }

    public async Task<AuditTreeHead> TreeHeadAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await AuditLogStore.ReadTreeHeadAsync(connection, null, ct).ConfigureAwait(false);
    }

    public async Task<AuditInclusionProof> InclusionProofAsync(long seq, long treeSize, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(seq, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(treeSize, seq);
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var snapshot = connection.BeginTransaction(deferred: true);
        return await AuditLogStore.InclusionProofAsync(connection, snapshot, seq, treeSize, ct).ConfigureAwait(false);
    }

    public async Task<AuditConsistencyProof> ConsistencyProofAsync(long oldSize, long newSize, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(oldSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(newSize, oldSize);
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var snapshot = connection.BeginTransaction(deferred: true);
        return await AuditLogStore.ConsistencyProofAsync(connection, snapshot, oldSize, newSize, ct).ConfigureAwait(false);
    }

    public async Task<Checkpoint> CheckpointAsync(ICheckpointSigner signer, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(signer);

        // The single writer serialises signers: no two checkpoints are ever signed at one size.
        return await WriteAsync(tx => AuditLogStore.SignCheckpointAsync(_writer, tx, signer, _clock.GetUtcNow(), ct), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Checkpoint>> ListCheckpointsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await AuditLogStore.ReadCheckpointsAsync(connection, ct).ConfigureAwait(false);
    }

    public async Task<AuditVerification> VerifyAsync(ICheckpointVerifier? key, IProgress<AuditVerifyProgress>? progress = null, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);

        // One read transaction: every statement sees the same snapshot, however many writers append meanwhile.
        using var snapshot = connection.BeginTransaction(deferred: true);
        return await AuditLogStore.VerifyAsync(connection, snapshot, key, progress, ct).ConfigureAwait(false);
    }
}
