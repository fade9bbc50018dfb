namespace Lineup.Core.Audit;

/// <summary>
/// The tamper-evident audit log: every action appends an <see cref="AuditEvent"/> as the next leaf of an RFC 6962
/// Merkle tree. Signed <see cref="Checkpoint"/>s fix the tree at a size; a witness that keeps one can later ask for a
/// consistency proof that today's log still extends it, and <see cref="VerifyAsync"/> recomputes everything from the
/// stored events. The catalog implements it; actions stored in the catalog append their event in the same transaction.
/// </summary>
public interface IAuditLog
{
    /// <summary>Appends one event in its own transaction; returns it with its sequence number and time.</summary>
    Task<AuditEvent> AppendAsync(NewAuditEvent auditEvent, CancellationToken ct = default);

    /// <summary>Appends events in order, in one transaction (all or none).</summary>
    Task<IReadOnlyList<AuditEvent>> AppendAsync(IReadOnlyList<NewAuditEvent> events, CancellationToken ct = default);

    /// <summary>Up to <paramref name="count"/> events from sequence number <paramref name="fromSeq"/> (1-based), in order.</summary>
    Task<IReadOnlyList<AuditEvent>> ReadEventsAsync(long fromSeq = 1, int count = 100, CancellationToken ct = default);

    /// <summary>The current size and root, from the stored right edge of the tree (O(log n), no event is read).</summary>
    Task<AuditTreeHead> TreeHeadAsync(CancellationToken ct = default);

    /// <summary>The inclusion proof of event <paramref name="seq"/> in the tree of the first <paramref name="treeSize"/> events.</summary>
    Task<AuditInclusionProof> InclusionProofAsync(long seq, long treeSize, CancellationToken ct = default);

    /// <summary>The consistency proof from the tree of <paramref name="oldSize"/> events to the tree of <paramref name="newSize"/>.</summary>
    Task<AuditConsistencyProof> ConsistencyProofAsync(long oldSize, long newSize, CancellationToken ct = default);

    /// <summary>
    /// Signs the current head with <paramref name="signer"/> and stores the checkpoint (the stored one when the head
    /// was already signed). Refuses, signing nothing, when the stored leaves no longer extend the latest checkpoint:
    /// a log must never sign a head inconsistent with one it signed before (c2sp.org/tlog-checkpoint).
    /// </summary>
    Task<Checkpoint> CheckpointAsync(ICheckpointSigner signer, CancellationToken ct = default);

    /// <summary>Every stored checkpoint, by tree size.</summary>
    Task<IReadOnlyList<Checkpoint>> ListCheckpointsAsync(CancellationToken ct = default);

    /// <summary>
    /// Recomputes every leaf hash from the stored fields, the root at every checkpoint, each checkpoint's signature
    /// (with <paramref name="key"/>; a checkpoint without a key to check it is a problem) and each checkpoint's
    /// consistency with the latest, and the stored right edge of the tree. Reads one snapshot.
    /// </summary>
    Task<AuditVerification> VerifyAsync(ICheckpointVerifier? key, IProgress<AuditVerifyProgress>? progress = null, CancellationToken ct = default);
}

/// <summary>A tree size and its RFC 6962 root.</summary>
public sealed record AuditTreeHead(long TreeSize, byte[] RootHash)
{
    public string RootHex => Convert.ToHexStringLower(RootHash);
}

/// <summary>Proof that event <see cref="Seq"/>, with <see cref="LeafHash"/>, is leaf <c>Seq - 1</c> of the tree of <see cref="TreeSize"/> events.</summary>
public sealed record AuditInclusionProof(long Seq, long TreeSize, byte[] LeafHash, IReadOnlyList<byte[]> Path)
{
    /// <summary>Whether the proof leads to <paramref name="rootHash"/>.</summary>
    public bool Verify(ReadOnlySpan<byte> rootHash) => MerkleTree.VerifyInclusion(LeafHash, Seq - 1, TreeSize, Path, rootHash);
}

/// <summary>Proof that the tree of <see cref="NewSize"/> events extends the tree of <see cref="OldSize"/>.</summary>
public sealed record AuditConsistencyProof(long OldSize, long NewSize, IReadOnlyList<byte[]> Path)
{
    /// <summary>Whether the proof joins <paramref name="oldRoot"/> to <paramref name="newRoot"/>.</summary>
    public bool Verify(ReadOnlySpan<byte> oldRoot, ReadOnlySpan<byte> newRoot) =>
        MerkleTree.VerifyConsistency(OldSize, NewSize, oldRoot, newRoot, Path);
}

/// <summary>What verification found wrong.</summary>
public enum AuditProblemKind
{
    /// <summary>An event's fields do not hash to its stored leaf hash (a field, or the hash, was changed).</summary>
    EventAltered,

    /// <summary>An event's stored fields cannot be read as an event (bad time, details, action; a changed type).</summary>
    EventMalformed,

    /// <summary>Sequence numbers skip: events were deleted (or the following ones renumbered).</summary>
    EventMissing,

    /// <summary>A sequence number below 1.</summary>
    EventOutOfSequence,

    /// <summary>The root recomputed from the events differs from the checkpoint's root at its size.</summary>
    CheckpointRootMismatch,

    /// <summary>A checkpoint covers more events than the log holds: the log was truncated.</summary>
    CheckpointBeyondLog,

    /// <summary>The signature does not verify over the checkpoint's size, root and time.</summary>
    CheckpointSignatureInvalid,

    /// <summary>The checkpoint names a key other than the log's.</summary>
    CheckpointUnknownKey,

    /// <summary>No consistency proof joins the checkpoint to the latest checkpoint.</summary>
    CheckpointInconsistent,

    /// <summary>The stored right edge of the tree (size and subtree roots) differs from the events.</summary>
    TreeStateMismatch,

    /// <summary>Checkpoints exist but no public key was given to check them.</summary>
    KeyMissing,
}

/// <summary>One problem: the event (<see cref="Seq"/>) or checkpoint (<see cref="CheckpointSize"/>) it concerns, and what is wrong.</summary>
public sealed record AuditProblem(AuditProblemKind Kind, long? Seq, long? CheckpointSize, string Message);

/// <summary>Events verified so far of <see cref="Total"/>.</summary>
public sealed record AuditVerifyProgress(long Verified, long Total);

/// <summary>The outcome of <see cref="IAuditLog.VerifyAsync"/>.</summary>
/// <param name="Events">Event rows read.</param>
/// <param name="Head">Size and root recomputed from the event fields.</param>
/// <param name="Checkpoints">Stored checkpoints.</param>
/// <param name="LatestCheckpoint">The checkpoint with the largest tree size, if any.</param>
/// <param name="Problems">The first <see cref="MaxListedProblems"/> problems, events in sequence order first.</param>
/// <param name="ProblemCount">All problems found.</param>
/// <param name="FirstBadSeq">The lowest sequence number of an altered, malformed or missing event.</param>
/// <param name="FirstBadCheckpoint">The smallest tree size of a checkpoint that fails any check.</param>
public sealed record AuditVerification(
    long Events,
    AuditTreeHead Head,
    int Checkpoints,
    Checkpoint? LatestCheckpoint,
    IReadOnlyList<AuditProblem> Problems,
    long ProblemCount,
    long? FirstBadSeq,
    long? FirstBadCheckpoint)
{
    public const int MaxListedProblems = 1000;

    /// <summary>Nothing was found wrong.</summary>
    public bool IsIntact => ProblemCount == 0;

    /// <summary>Events after the latest checkpoint: only their own leaf hashes protect them until the next checkpoint.</summary>
    public long UnanchoredEvents => Math.Max(0, Events - (LatestCheckpoint?.TreeSize ?? 0));
}
