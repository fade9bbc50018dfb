namespace Lineup.Core.Catalog;

/// <summary>What happened to one ingest item (the immich job-status habit: every item ends in exactly one state).</summary>
public enum IngestStatus
{
    /// <summary>Stored with at least one face.</summary>
    Ingested,

    /// <summary>Stored, but no face was found.</summary>
    NoFace,

    /// <summary>The same bytes were already in the catalog: only a sighting (the new URL or path) was added.</summary>
    Duplicate,

    /// <summary>A re-encoded or resized copy of a catalogued image: stored and linked to it, no faces added.</summary>
    NearDuplicate,

    /// <summary>Refused by policy before or while decoding (a byte, pixel or archive budget, not an image, an unsafe name).</summary>
    Refused,

    /// <summary>Could not be read or processed (I/O error, corrupt data, a broken record, a write failure).</summary>
    Failed,
}

public enum IngestRunStatus
{
    Running,

    /// <summary>The process ended without finishing (killed, crashed, cancelled); the run can be resumed.</summary>
    Interrupted,

    Completed,

    /// <summary>A stage failed (the catalog could not be written, the source could not be read); resumable once fixed.</summary>
    Failed,
}

/// <summary>
/// One ingest of one source into one collection. Items are recorded in source order, each in the same
/// transaction as what it stored, so the recorded items are always a prefix of the source: a resumed run
/// skips exactly <see cref="ItemsDone"/> items.
/// </summary>
public sealed record IngestRun(
    long Id,
    long CollectionId,
    string SourceKind,
    string Source,
    IngestRunStatus Status,
    long? TotalItems,
    long ItemsDone,
    string? LastItemName,
    int Resumes,
    DateTimeOffset StartedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? FinishedAt,
    string? Error);

/// <summary>The recorded outcome of one item of a run.</summary>
public sealed record IngestItemRecord(long Sequence, string Name, IngestStatus Status, int Faces, long? ImageId, string? Reason, DateTimeOffset RecordedAt);

/// <summary>Per-status totals of a run.</summary>
public sealed record IngestRunCounts(long Items, long Ingested, long NoFace, long Duplicates, long NearDuplicates, long Refused, long Failed, long Faces)
{
    public long Problems => Refused + Failed;
}

/// <summary>
/// One item's result, handed to <see cref="IIngestLedger.CommitAsync"/>. <see cref="Image"/> is set for an
/// analysed image (the catalog turns it into a duplicate sighting if its bytes are already present);
/// <see cref="SeenAgain"/> for bytes found already catalogued before analysis; neither for a refused or
/// failed item.
/// </summary>
public sealed record IngestEntry(long Sequence, string Name, IngestStatus Status, string? Reason = null, NewImage? Image = null, SeenAgain? SeenAgain = null);

/// <summary>Known bytes seen again: a new sighting of <paramref name="ImageId"/>.</summary>
public sealed record SeenAgain(long ImageId, long CollectionId, Provenance Provenance);

/// <summary>What the catalog did with one <see cref="IngestEntry"/>.</summary>
public sealed record IngestEntryResult(IngestStatus Status, long? ImageId, IReadOnlyList<long> FaceIds, string? Reason);

/// <summary>The ingest-run ledger: runs, their per-item outcomes, and the transactional commit of a batch.</summary>
public interface IIngestLedger
{
    Task<IngestRun> StartRunAsync(long collectionId, string sourceKind, string source, CancellationToken ct = default);

    Task<IngestRun?> GetRunAsync(long runId, CancellationToken ct = default);

    /// <summary>Newest first.</summary>
    Task<IReadOnlyList<IngestRun>> ListRunsAsync(int limit = 100, CancellationToken ct = default);

    /// <summary>The newest interrupted or failed run of this source into this collection, if any.</summary>
    Task<IngestRun?> FindResumableRunAsync(long collectionId, string sourceKind, string source, CancellationToken ct = default);

    /// <summary>Marks every run still recorded as running as interrupted. Call only while holding the ingest lock
    /// (then no other process can be running one).</summary>
    Task<int> MarkRunningAsInterruptedAsync(CancellationToken ct = default);

    /// <summary>Sets an interrupted or failed run running again.</summary>
    Task<IngestRun> ResumeRunAsync(long runId, CancellationToken ct = default);

    Task SetRunTotalAsync(long runId, long? totalItems, CancellationToken ct = default);

    Task FinishRunAsync(long runId, IngestRunStatus status, string? error, CancellationToken ct = default);

    /// <summary>
    /// Writes a batch of consecutive items in one transaction: images, faces, sightings and each item's
    /// outcome. Entries must continue the run's sequence (the first is <see cref="IngestRun.ItemsDone"/>).
    /// </summary>
    Task<IReadOnlyList<IngestEntryResult>> CommitAsync(long runId, IReadOnlyList<IngestEntry> entries, CancellationToken ct = default);

    Task<IngestRunCounts> GetRunCountsAsync(long runId, CancellationToken ct = default);

    /// <summary>Items of a run in source order, optionally only those with the given statuses.</summary>
    Task<IReadOnlyList<IngestItemRecord>> GetRunItemsAsync(long runId, IReadOnlyCollection<IngestStatus>? statuses = null, int limit = int.MaxValue, CancellationToken ct = default);
}
