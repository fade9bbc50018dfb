using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Npgsql;

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

        // One statement for the whole list: a round trip per event cost 1.2-2.4 s per 500 events (a retention purge, an
        // erasure of a busy identity) on the loaded test server.
        var written = new List<AuditEvent>(events.Count);
        var sequences = new long[events.Count];
        var actors = new string[events.Count];
        var actions = new string[events.Count];
        var subjects = new string?[events.Count];
        var details = new string[events.Count];
        var leaves = new byte[events.Count][];
        for (var i = 0; i < events.Count; i++)
        {
            var logged = events[i].At(size + 1, at);
            var leafHash = logged.LeafHash();
            sequences[i] = logged.Seq;
            actors[i] = logged.Actor;
            actions[i] = logged.Action;
            subjects[i] = logged.Subject;
            details[i] = logged.Details.ToCanonicalJson();
            leaves[i] = leafHash;
            frontier.Append(leafHash);
            size++;
            written.Add(logged);
        }

        await using (var insert = new NpgsqlCommand(
            """
            INSERT INTO audit_events(seq, at, actor, action, subject, details, leaf_hash)
            SELECT u.seq, @at, u.actor, u.action, u.subject, u.details, u.leaf
            FROM unnest(@seqs, @actors, @actions, @subjects, @details, @leaves) AS u(seq, actor, action, subject, details, leaf)
            """, connection, tx))
        {
            insert.Parameters.AddWithValue("at", atText);
            insert.Parameters.AddWithValue("seqs", sequences);
            insert.Parameters.AddWithValue("actors", actors);
            insert.Parameters.AddWithValue("actions", actions);
            insert.Parameters.AddWithValue("subjects", subjects);
            insert.Parameters.AddWithValue("details", details);
            insert.Parameters.AddWithValue("leaves", leaves);
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
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
