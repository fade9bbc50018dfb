using System.Data.Common;
using System.Security.Cryptography;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;

namespace Lineup.Storage;

/// <summary>
/// The audit log's reads, checks and verification over any ADO.NET connection: the SQLite and the PostgreSQL catalog
/// share them, because the tables and every statement here read the same in both dialects. Each catalog owns its
/// connections and transactions (a SQLite deferred read transaction, a PostgreSQL repeatable-read one) and the append
/// (in the writer's transaction); what a verification finds must not depend on the backend, so it is written once.
/// </summary>
internal static class AuditLogStore
{
    internal const string EventColumns = "seq, at, actor, action, subject, details, leaf_hash";

    /// <summary>What reads of events select: the written columns and <c>pruned_at</c> (column 7), set by retention.</summary>
    private const string EventReadColumns = EventColumns + ", pruned_at";

    private const string CheckpointColumns = "tree_size, root_hash, at, signature, key_id";

    /// <summary>The subject of a retention sweep's receipt (<see cref="AuditActions.Retention"/>), as both catalogs write it.</summary>
    internal const string SweepSubject = "sweep";

    /// <summary>The receipt's detail naming the last event the sweep pruned (every event up to it was pruned).</summary>
    internal const string PrunedThroughKey = "pruned_through";

    /// <summary>Events between two progress reports of <see cref="VerifyAsync"/>.</summary>
    private const int VerifyProgressStep = 4096;

    private static CatalogException LogAltered(string what) =>
        new($"The audit log was altered outside Lineup: {what}. Nothing was signed or appended; run `lineup audit verify`.");

    /// <summary>Up to <paramref name="count"/> events from <paramref name="fromSeq"/>; an unreadable one is a <see cref="CatalogException"/>.</summary>
    internal static async Task<IReadOnlyList<AuditEvent>> ReadEventsAsync(DbConnection connection, long fromSeq, int count, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {EventReadColumns} FROM audit_events WHERE seq >= @from ORDER BY seq LIMIT @count";
        Bind(command, "from", fromSeq);
        Bind(command, "count", count);
        var events = new List<AuditEvent>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            try
            {
                events.Add(ReadEvent(reader));
            }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidCastException)
            {
                throw new CatalogException(
                    $"Audit event {reader.GetInt64(0)} cannot be read ({e.Message}); it was altered outside Lineup: run `lineup audit verify`.", e);
            }
        }

        return events;
    }

    /// <summary>The head the stored right edge says (no event is read).</summary>
    internal static async Task<AuditTreeHead> ReadTreeHeadAsync(DbConnection connection, DbTransaction? tx, CancellationToken ct)
    {
        var (size, frontier) = await ReadTreeStateAsync(connection, tx, requireEvents: false, ct).ConfigureAwait(false);
        return new AuditTreeHead(size, frontier.RootHash());
    }

    /// <summary>The inclusion proof of event <paramref name="seq"/> in the tree of <paramref name="treeSize"/>, from the stored leaves of one snapshot.</summary>
    internal static async Task<AuditInclusionProof> InclusionProofAsync(
        DbConnection connection, DbTransaction snapshot, long seq, long treeSize, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(seq, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(treeSize, seq);
        var leaves = await ReadLeafHashesWithinLogAsync(connection, snapshot, treeSize, ct).ConfigureAwait(false);
        var index = seq - 1;
        return new AuditInclusionProof(
            seq,
            treeSize,
            leaves.AsSpan((int)index * MerkleTree.HashSize, MerkleTree.HashSize).ToArray(),
            MerkleTree.InclusionProof(leaves, index));
    }

    /// <summary>The consistency proof from <paramref name="oldSize"/> to <paramref name="newSize"/>, from the stored leaves of one snapshot.</summary>
    internal static async Task<AuditConsistencyProof> ConsistencyProofAsync(
        DbConnection connection, DbTransaction snapshot, long oldSize, long newSize, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(oldSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(newSize, oldSize);
        var leaves = await ReadLeafHashesWithinLogAsync(connection, snapshot, newSize, ct).ConfigureAwait(false);
        return new AuditConsistencyProof(oldSize, newSize, MerkleTree.ConsistencyProof(leaves, oldSize));
    }

    /// <summary>
    /// Signs the current head inside the caller's write transaction <paramref name="tx"/> and stores the checkpoint, or
    /// returns the stored one when the head is already signed. The caller serialises signers (SQLite: its one writer;
    /// PostgreSQL: an advisory lock), so no two checkpoints are signed at one size.
    /// </summary>
    internal static async Task<Checkpoint> SignCheckpointAsync(
        DbConnection connection, DbTransaction tx, ICheckpointSigner signer, DateTimeOffset now, CancellationToken ct)
    {
        var (size, frontier) = await ReadTreeStateAsync(connection, tx, requireEvents: true, ct).ConfigureAwait(false);
        var checkpoints = await ReadCheckpointRowsAsync(connection, tx, ct).ConfigureAwait(false);
        if (checkpoints.FirstOrDefault(c => c.TreeSize == size) is { } signed)
        {
            return signed.ToCheckpoint() ?? throw LogAltered($"the stored checkpoint at size {size} cannot be read");
        }

        // Never sign a head that is not what the stored leaves say, nor one that does not extend the last signed head.
        var leaves = await ReadLeafHashesAsync(connection, tx, size, ct).ConfigureAwait(false);
        var root = frontier.RootHash();
        if (!CryptographicOperations.FixedTimeEquals(MerkleTree.RootHash(leaves), root))
        {
            throw LogAltered("the stored right edge of the tree does not match the stored leaf hashes");
        }

        if (checkpoints.LastOrDefault(c => c.TreeSize < size) is { } previous)
        {
            var extends = previous.ToCheckpoint() is { } last
                && last.TreeSize >= 0
                && CryptographicOperations.FixedTimeEquals(MerkleTree.RootHash(leaves.AsSpan(0, (int)last.TreeSize * MerkleTree.HashSize)), last.RootHash);
            if (!extends)
            {
                throw LogAltered($"the stored leaves no longer extend the checkpoint at size {previous.TreeSize}");
            }
        }

        if (checkpoints.Count > 0 && checkpoints[^1].TreeSize > size)
        {
            throw LogAltered($"a checkpoint covers {checkpoints[^1].TreeSize} events but the log holds {size}");
        }

        var checkpoint = Checkpoint.Sign(signer, size, root, now);
        await using var insert = connection.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = $"INSERT INTO audit_checkpoints({CheckpointColumns}) VALUES (@size, @root, @at, @signature, @key)";
        Bind(insert, "size", checkpoint.TreeSize);
        Bind(insert, "root", checkpoint.RootHash);
        Bind(insert, "at", AuditEvent.FormatTime(checkpoint.Timestamp));
        Bind(insert, "signature", checkpoint.Signature);
        Bind(insert, "key", checkpoint.KeyId);
        await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return checkpoint;
    }

    /// <summary>Every stored checkpoint, by tree size; an unreadable one is a <see cref="CatalogException"/>.</summary>
    internal static async Task<IReadOnlyList<Checkpoint>> ReadCheckpointsAsync(DbConnection connection, CancellationToken ct)
    {
        var rows = await ReadCheckpointRowsAsync(connection, null, ct).ConfigureAwait(false);
        return rows.Select(r => r.ToCheckpoint() ?? throw LogAltered($"the checkpoint at size {r.TreeSize} cannot be read")).ToList();
    }

    /// <summary>
    /// Verifies the log as the statements inside <paramref name="snapshot"/> see it; the caller makes that one snapshot
    /// (a SQLite read transaction, a PostgreSQL repeatable-read transaction), however many writers append meanwhile.
    /// </summary>
    internal static async Task<AuditVerification> VerifyAsync(
        DbConnection connection, DbTransaction snapshot, ICheckpointVerifier? key, IProgress<AuditVerifyProgress>? progress, CancellationToken ct)
    {
        var findings = new VerificationFindings();
        var checkpoints = await ReadCheckpointRowsAsync(connection, snapshot, ct).ConfigureAwait(false);

        long total;
        await using (var count = connection.CreateCommand())
        {
            count.Transaction = snapshot;
            count.CommandText = "SELECT count(*) FROM audit_events";
            total = (long)(await count.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        // The leaves as the events' fields say they should be; checkpoint roots and consistency are checked against these.
        var leaves = new byte[checked(total * MerkleTree.HashSize)];
        var frontier = new MerkleFrontier();
        var nextCheckpoint = 0;
        var supported = new List<CheckpointRow>();
        CheckRootsAt(0);

        long rows = 0;
        long lastSeq = 0;

        // Pruned events (as runs of consecutive sequence numbers) and the furthest any intact sweep receipt says it pruned.
        var prunedRuns = new List<(long From, long To)>();
        long sweptThrough = 0;
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = snapshot;
            command.CommandText = $"SELECT {EventReadColumns} FROM audit_events ORDER BY seq";
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (rows < total && await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var seq = reader.GetInt64(0);
                if (seq < 1)
                {
                    findings.Add(AuditProblemKind.EventOutOfSequence, seq, null, $"Event with sequence number {seq}: numbers start at 1.");
                }
                else if (seq > lastSeq + 1)
                {
                    var missing = seq - lastSeq - 1;
                    findings.Add(AuditProblemKind.EventMissing, lastSeq + 1, null,
                        missing == 1 ? $"Event {lastSeq + 1} is missing." : $"Events {lastSeq + 1} to {seq - 1} are missing ({missing}).");
                }

                lastSeq = Math.Max(lastSeq, seq);
                var stored = ReadBlob(reader, 6);
                var target = leaves.AsSpan((int)rows * MerkleTree.HashSize, MerkleTree.HashSize);
                try
                {
                    var read = ReadEvent(reader);
                    if (read.IsPruned)
                    {
                        // Retention blanked its content, so its leaf cannot be recomputed: the stored leaf stands in, and the
                        // stored right edge, every checkpoint root and the consistency proofs still check it. Whether a
                        // sweep may have pruned it is checked once the receipts are read (they follow the events they prune).
                        read.LeafHash().CopyTo(target);
                        AddToRuns(prunedRuns, seq);
                    }
                    else
                    {
                        var computed = read.LeafHash();
                        var intact = stored is { Length: MerkleTree.HashSize } && CryptographicOperations.FixedTimeEquals(computed, stored);
                        if (!intact)
                        {
                            findings.Add(AuditProblemKind.EventAltered, seq, null, $"Event {seq}: its fields do not hash to its stored leaf hash.");
                        }
                        else if (SweptThrough(read) is { } through)
                        {
                            // Only an intact receipt counts: one whose fields were changed cannot vouch for anything.
                            sweptThrough = Math.Max(sweptThrough, through);
                        }

                        computed.CopyTo(target);
                    }
                }
                catch (Exception e) when (e is FormatException or ArgumentException or InvalidCastException or OverflowException)
                {
                    // No leaf can be recomputed from fields the log never writes: the leaf is unknown (zeros, left as
                    // allocated), so every checkpoint from here on is unsupported by the events, as with any other change.
                    findings.Add(AuditProblemKind.EventMalformed, seq, null, $"Event {seq} cannot be read: {e.Message}");
                }

                frontier.Append(target);
                rows++;
                CheckRootsAt(rows);
                if (rows % VerifyProgressStep == 0)
                {
                    progress?.Report(new AuditVerifyProgress(rows, total));
                }
            }
        }

        progress?.Report(new AuditVerifyProgress(rows, total));
        CheckPruned(prunedRuns, sweptThrough, findings);
        for (; nextCheckpoint < checkpoints.Count; nextCheckpoint++)
        {
            var beyond = checkpoints[nextCheckpoint];
            findings.Add(AuditProblemKind.CheckpointBeyondLog, null, beyond.TreeSize,
                $"Checkpoint at size {beyond.TreeSize} covers more events than the log holds ({rows}): events were removed from the end.");
        }

        await CheckTreeStateAsync(connection, snapshot, frontier, findings, ct).ConfigureAwait(false);
        CheckSignatures(checkpoints, key, findings);
        CheckConsistency(supported, leaves.AsSpan(0, (int)rows * MerkleTree.HashSize), findings);

        var parsed = checkpoints.Select(c => c.ToCheckpoint()).ToList();
        return new AuditVerification(
            rows,
            new AuditTreeHead(rows, frontier.RootHash()),
            checkpoints.Count,
            parsed.Count > 0 ? parsed[^1] : null,
            findings.Listed,
            findings.Count,
            findings.FirstBadSeq,
            findings.FirstBadCheckpoint);

        // Compares the recomputed root with every checkpoint taken at exactly `size` events.
        void CheckRootsAt(long size)
        {
            while (nextCheckpoint < checkpoints.Count && checkpoints[nextCheckpoint].TreeSize <= size)
            {
                var checkpoint = checkpoints[nextCheckpoint++];
                if (checkpoint.TreeSize < 0)
                {
                    findings.Add(AuditProblemKind.CheckpointRootMismatch, null, checkpoint.TreeSize, $"Checkpoint with negative size {checkpoint.TreeSize}.");
                }
                else if (checkpoint.RootHash is not { Length: MerkleTree.HashSize } root
                    || !CryptographicOperations.FixedTimeEquals(root, frontier.RootHash()))
                {
                    findings.Add(AuditProblemKind.CheckpointRootMismatch, null, checkpoint.TreeSize,
                        $"Checkpoint at size {checkpoint.TreeSize}: its root is not the root of the first {checkpoint.TreeSize} events.");
                }
                else
                {
                    supported.Add(checkpoint);
                }
            }
        }
    }

    /// <summary>The stored right edge; with <paramref name="requireEvents"/>, refuses one that disagrees with the last stored event.</summary>
    /// <remarks>One statement, so the tree row and the last event come from one snapshot whatever the isolation level.</remarks>
    internal static async Task<(long Size, MerkleFrontier Frontier)> ReadTreeStateAsync(
        DbConnection connection, DbTransaction? tx, bool requireEvents, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = """
            SELECT t.size, t.frontier, (SELECT coalesce(max(seq), 0) FROM audit_events)
            FROM audit_tree t WHERE t.id = 1
            """;
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            throw LogAltered("the tree state row is missing");
        }

        var size = reader.GetInt64(0);
        MerkleFrontier frontier;
        try
        {
            frontier = MerkleFrontier.FromBytes(size, ReadBlob(reader, 1) ?? []);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw LogAltered($"the stored tree state cannot be read ({e.Message})");
        }

        var lastSeq = reader.GetInt64(2);
        return requireEvents && lastSeq != size
            ? throw LogAltered($"the tree holds {size} events but the last stored event is number {lastSeq}")
            : (size, frontier);
    }

    /// <summary>The first <paramref name="treeSize"/> leaf hashes; a size beyond the stored tree is an <see cref="ArgumentOutOfRangeException"/>.</summary>
    private static async Task<byte[]> ReadLeafHashesWithinLogAsync(DbConnection connection, DbTransaction snapshot, long treeSize, CancellationToken ct)
    {
        var (size, _) = await ReadTreeStateAsync(connection, snapshot, requireEvents: false, ct).ConfigureAwait(false);
        if (treeSize > size)
        {
            throw new ArgumentOutOfRangeException(nameof(treeSize), treeSize, $"The audit log holds {size} events.");
        }

        return await ReadLeafHashesAsync(connection, snapshot, treeSize, ct).ConfigureAwait(false);
    }

    /// <summary>The first <paramref name="treeSize"/> stored leaf hashes, concatenated; refuses gaps, bad hashes and sizes beyond the log.</summary>
    private static async Task<byte[]> ReadLeafHashesAsync(DbConnection connection, DbTransaction? tx, long treeSize, CancellationToken ct)
    {
        var leaves = new byte[checked(treeSize * MerkleTree.HashSize)];
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "SELECT seq, leaf_hash FROM audit_events WHERE seq <= @size ORDER BY seq";
        Bind(command, "size", treeSize);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        long expected = 1;
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            if (reader.GetInt64(0) != expected || ReadBlob(reader, 1) is not { Length: MerkleTree.HashSize } leaf)
            {
                throw LogAltered($"event {expected} is missing or its leaf hash is not {MerkleTree.HashSize} bytes");
            }

            leaf.CopyTo(leaves, (expected - 1) * MerkleTree.HashSize);
            expected++;
        }

        return expected == treeSize + 1 ? leaves : throw LogAltered($"the log holds {expected - 1} of the {treeSize} events asked for");
    }

    private static async Task<List<CheckpointRow>> ReadCheckpointRowsAsync(DbConnection connection, DbTransaction? tx, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = $"SELECT {CheckpointColumns} FROM audit_checkpoints ORDER BY tree_size";
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var rows = new List<CheckpointRow>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            rows.Add(new CheckpointRow(
                reader.GetInt64(0),
                ReadBlob(reader, 1),
                reader.IsDBNull(2) ? "" : reader.GetString(2),
                ReadBlob(reader, 3),
                reader.IsDBNull(4) ? "" : reader.GetString(4)));
        }

        return rows;
    }

    private static async Task CheckTreeStateAsync(
        DbConnection connection, DbTransaction snapshot, MerkleFrontier computed, VerificationFindings findings, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = snapshot;
        command.CommandText = "SELECT size, frontier FROM audit_tree WHERE id = 1";
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            findings.Add(AuditProblemKind.TreeStateMismatch, null, null, "The stored tree state is missing.");
            return;
        }

        var size = reader.GetInt64(0);
        var frontier = ReadBlob(reader, 1);
        if (size != computed.Size || frontier is null || !frontier.AsSpan().SequenceEqual(computed.ToBytes()))
        {
            findings.Add(AuditProblemKind.TreeStateMismatch, null, null,
                $"The stored tree state (size {size}) is not the tree of the stored events (size {computed.Size}).");
        }
    }

    /// <summary>
    /// Builds an event from a row of <see cref="EventReadColumns"/>; throws when a field is not what the log writes.
    /// A row with <c>pruned_at</c> set is a pruned event: the update that pruned it (the only one the trigger allows) left
    /// every text empty and the leaf hash as it was.
    /// </summary>
    private static AuditEvent ReadEvent(DbDataReader r)
    {
        if (!r.IsDBNull(7))
        {
            for (var i = 2; i <= 5; i++)
            {
                if (RequireText(r, i).Length != 0)
                {
                    throw new FormatException($"it is marked pruned but keeps its {r.GetName(i)}");
                }
            }

            return ReadBlob(r, 6) is { Length: MerkleTree.HashSize } leaf
                ? AuditEvent.Pruned(r.GetInt64(0), AuditEvent.ParseTime(RequireText(r, 1)), AuditEvent.ParseTime(RequireText(r, 7)), leaf)
                : throw new FormatException($"it is pruned and its stored leaf hash is not {MerkleTree.HashSize} bytes");
        }

        return new(
            r.GetInt64(0),
            AuditEvent.ParseTime(RequireText(r, 1)),
            RequireText(r, 2),
            RequireText(r, 3),
            RequireText(r, 4),
            AuditDetails.Parse(RequireText(r, 5)));
    }

    /// <summary>
    /// The <c>pruned_through</c> a retention sweep's receipt records (every event up to it was pruned); null for any other
    /// event, or a receipt whose number does not precede it (a sweep appends its receipt after what it pruned).
    /// </summary>
    private static long? SweptThrough(AuditEvent e) =>
        e.Action == AuditActions.Retention && e.Subject == SweepSubject
        && e.Details[PrunedThroughKey]?.Integer is { } through && through >= 0 && through < e.Seq
            ? through
            : null;

    private static void AddToRuns(List<(long From, long To)> runs, long seq)
    {
        if (runs.Count > 0 && runs[^1].To == seq - 1)
        {
            runs[^1] = (runs[^1].From, seq);
        }
        else
        {
            runs.Add((seq, seq));
        }
    }

    /// <summary>
    /// Pruning is the one change the log allows, and only a sweep makes it, from the first event up to the
    /// <c>pruned_through</c> its receipt records. A pruned event beyond the furthest receipt was blanked by someone
    /// else (with the database, the trigger is no obstacle): its leaf still fits the tree, so only this check finds it.
    /// </summary>
    private static void CheckPruned(List<(long From, long To)> prunedRuns, long sweptThrough, VerificationFindings findings)
    {
        foreach (var (from, to) in prunedRuns)
        {
            for (var seq = Math.Max(from, sweptThrough + 1); seq <= to; seq++)
            {
                findings.Add(AuditProblemKind.EventAltered, seq, null, sweptThrough == 0
                    ? $"Event {seq} is blank (pruned), but no retention sweep has pruned any event: its content was removed outside Lineup."
                    : $"Event {seq} is blank (pruned), but retention sweeps pruned only events 1 to {sweptThrough}: its content was removed outside Lineup.");
            }
        }
    }

    /// <summary>
    /// A text column's value. Anything else is a <see cref="FormatException"/>: a value of another storage class (SQLite
    /// keeps what was written), or a NULL or another column type (PostgreSQL, after someone altered the table).
    /// </summary>
    private static string RequireText(DbDataReader r, int i) =>
        !r.IsDBNull(i) && r.GetFieldType(i) == typeof(string)
            ? r.GetString(i)
            : throw new FormatException($"column {r.GetName(i)} is not text");

    private static byte[]? ReadBlob(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetValue(i) as byte[];

    /// <summary>Binds a parameter by its bare name: both providers match it to <c>@name</c> in the statement.</summary>
    private static void Bind(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    private static void CheckSignatures(IReadOnlyList<CheckpointRow> checkpoints, ICheckpointVerifier? key, VerificationFindings findings)
    {
        if (checkpoints.Count > 0 && key is null)
        {
            findings.Add(AuditProblemKind.KeyMissing, null, null,
                $"{checkpoints.Count} checkpoints are stored but no audit public key was found to check their signatures.");
            return;
        }

        foreach (var row in checkpoints)
        {
            if (!string.Equals(row.KeyId, key!.KeyId, StringComparison.Ordinal))
            {
                findings.Add(AuditProblemKind.CheckpointUnknownKey, null, row.TreeSize,
                    $"Checkpoint at size {row.TreeSize} names key {Abbreviate(row.KeyId)}, not the log's key {key.KeyId[..16]}.");
            }
            else if (row.ToCheckpoint() is not { } checkpoint || !checkpoint.IsSignedBy(key))
            {
                findings.Add(AuditProblemKind.CheckpointSignatureInvalid, null, row.TreeSize,
                    $"Checkpoint at size {row.TreeSize}: the signature does not verify over its size, root and time.");
            }
        }
    }

    /// <summary>
    /// Checks an RFC 6962 consistency proof, built from the recomputed leaves, from every checkpoint whose root the
    /// events reproduce to the latest such checkpoint: the proof a witness would be given. (A checkpoint the events do
    /// not reproduce is already a problem; a proof through it would only repeat that.)
    /// </summary>
    private static void CheckConsistency(IReadOnlyList<CheckpointRow> supported, ReadOnlySpan<byte> leaves, VerificationFindings findings)
    {
        if (supported.Count < 2)
        {
            return;
        }

        var latest = supported[^1];
        var tree = new MerkleHashes(leaves);
        foreach (var checkpoint in supported.Take(supported.Count - 1))
        {
            var proof = tree.ConsistencyProof(checkpoint.TreeSize, latest.TreeSize);
            if (checkpoint.RootHash is not { } oldRoot || latest.RootHash is not { } newRoot
                || !MerkleTree.VerifyConsistency(checkpoint.TreeSize, latest.TreeSize, oldRoot, newRoot, proof))
            {
                findings.Add(AuditProblemKind.CheckpointInconsistent, null, checkpoint.TreeSize,
                    $"No consistency proof from the stored events joins checkpoint {checkpoint.TreeSize} to the latest checkpoint {latest.TreeSize}.");
            }
        }
    }

    private static string Abbreviate(string text) => text.Length > 16 ? text[..16] : text;

    /// <summary>A stored checkpoint as read, before any of it is trusted.</summary>
    private sealed record CheckpointRow(long TreeSize, byte[]? RootHash, string At, byte[]? Signature, string KeyId)
    {
        public Checkpoint? ToCheckpoint()
        {
            try
            {
                return RootHash is { Length: MerkleTree.HashSize } && Signature is not null
                    ? new Checkpoint(TreeSize, RootHash, AuditEvent.ParseTime(At), Signature, KeyId)
                    : null;
            }
            catch (FormatException)
            {
                return null;
            }
        }
    }

    /// <summary>Problems found, the first ones listed, with the first bad event and checkpoint.</summary>
    private sealed class VerificationFindings
    {
        private readonly List<AuditProblem> _listed = [];

        public IReadOnlyList<AuditProblem> Listed => _listed;

        public long Count { get; private set; }

        public long? FirstBadSeq { get; private set; }

        public long? FirstBadCheckpoint { get; private set; }

        public void Add(AuditProblemKind kind, long? seq, long? checkpointSize, string message)
        {
            Count++;
            if (_listed.Count < AuditVerification.MaxListedProblems)
            {
                _listed.Add(new AuditProblem(kind, seq, checkpointSize, message));
            }

            if (seq is { } s && (FirstBadSeq is null || s < FirstBadSeq))
            {
                FirstBadSeq = s;
            }

            if (checkpointSize is { } c && (FirstBadCheckpoint is null || c < FirstBadCheckpoint))
            {
                FirstBadCheckpoint = c;
            }
        }
    }
}
