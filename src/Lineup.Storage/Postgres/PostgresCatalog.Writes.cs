using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The write path every area shares: one transaction per write (<see cref="WriteAsync{T}"/>) and the audit append that
/// commits with the action it records (<see cref="AppendAuditAsync(NpgsqlConnection, NpgsqlTransaction, IReadOnlyList{NewAuditEvent}, CancellationToken)"/>).
/// </summary>
public sealed partial class PostgresCatalog
{
    /// <summary>
    /// Runs <paramref name="work"/> in one read-committed transaction on a pooled connection and commits it. Writers on
    /// other connections and other machines run at the same time; code that needs an order takes a row lock
    /// (<c>SELECT … FOR UPDATE</c>) or <see cref="LockAsync"/> inside the transaction.
    /// </summary>
    internal async Task<T> WriteAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        var result = await work(connection, tx).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return result;
    }

    /// <summary>A transaction-scoped advisory lock: serialises the writers of one kind across every process.</summary>
    internal static async Task LockAsync(NpgsqlConnection connection, NpgsqlTransaction tx, WriteLock which, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", connection, tx);
        command.Parameters.AddWithValue("key", SchemaLockKey + (long)which);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Appends one event inside the caller's transaction; see the list overload.</summary>
    internal async Task<AuditEvent> AppendAuditAsync(NpgsqlConnection connection, NpgsqlTransaction tx, NewAuditEvent auditEvent, CancellationToken ct) =>
        (await AppendAuditAsync(connection, tx, [auditEvent], ct).ConfigureAwait(false))[0];

    /// <summary>
    /// Appends <paramref name="events"/> inside the caller's transaction, after the action's own statements: the events
    /// commit or roll back with the action. The tree row is locked (<c>FOR UPDATE</c>) until the transaction ends, so
    /// appends from every connection and process take sequence numbers one after another with no gap.
    /// </summary>
    internal async Task<IReadOnlyList<AuditEvent>> AppendAuditAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, IReadOnlyList<NewAuditEvent> events, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(events);
        var (size, frontier) = await ReadAuditTreeForUpdateAsync(connection, tx, ct).ConfigureAwait(false);
        var at = _clock.GetUtcNow();
        var atText = AuditEvent.FormatTime(at);

        await using var insert = new NpgsqlCommand(
            "INSERT INTO audit_events(seq, at, actor, action, subject, details, leaf_hash) VALUES (@seq, @at, @actor, @action, @subject, @details, @leaf)",
            connection, tx);
        var seq = insert.Parameters.Add("seq", NpgsqlDbType.Bigint);
        insert.Parameters.AddWithValue("at", atText);
        var actor = insert.Parameters.Add("actor", NpgsqlDbType.Text);
        var action = insert.Parameters.Add("action", NpgsqlDbType.Text);
        var subject = insert.Parameters.Add("subject", NpgsqlDbType.Text);
        var details = insert.Parameters.Add("details", NpgsqlDbType.Text);
        var leaf = insert.Parameters.Add("leaf", NpgsqlDbType.Bytea);

        var written = new List<AuditEvent>(events.Count);
        foreach (var newEvent in events)
        {
            var logged = newEvent.At(size + 1, at);
            var leafHash = logged.LeafHash();
            seq.Value = logged.Seq;
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

        await using var update = new NpgsqlCommand("UPDATE audit_tree SET size = @size, frontier = @frontier WHERE id = 1", connection, tx);
        update.Parameters.AddWithValue("size", size);
        update.Parameters.AddWithValue("frontier", frontier.ToBytes());
        await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return written;
    }

    /// <summary>The tree's size and right edge, locked for this transaction; refuses a tree that disagrees with the events.</summary>
    internal static async Task<(long Size, MerkleFrontier Frontier)> ReadAuditTreeForUpdateAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        long size;
        byte[] bytes;
        await using (var command = new NpgsqlCommand("SELECT size, frontier FROM audit_tree WHERE id = 1 FOR UPDATE", connection, tx))
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                throw AuditLogAltered("the tree state row is missing");
            }

            size = reader.GetInt64(0);
            bytes = (byte[])reader.GetValue(1);
        }

        long lastSeq;
        await using (var last = new NpgsqlCommand("SELECT coalesce(max(seq), 0) FROM audit_events", connection, tx))
        {
            lastSeq = (long)(await last.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        if (lastSeq != size)
        {
            throw AuditLogAltered($"the tree holds {size} events but the last stored event is number {lastSeq}");
        }

        try
        {
            return (size, MerkleFrontier.FromBytes(size, bytes));
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw AuditLogAltered($"the stored tree state cannot be read ({e.Message})");
        }
    }

    internal static CatalogException AuditLogAltered(string what) =>
        new($"The audit log was altered outside Lineup: {what}. Nothing was signed or appended; run `lineup audit verify`.");
}

/// <summary>Advisory-lock keys of <see cref="PostgresCatalog.LockAsync"/> (offsets from the schema lock).</summary>
internal enum WriteLock
{
    Ingest = 1,
    Gallery = 2,
    Clustering = 3,
    Retention = 4,
    OptOuts = 5,
}
