namespace Lineup.Core.Catalog;

/// <summary>One item of a queued run, claimed by a worker until <see cref="LeaseUntil"/>.</summary>
public sealed record WorkClaim(long RunId, long Sequence, string Name, int Attempts, DateTimeOffset LeaseUntil)
{
    /// <summary>
    /// The item's result is in the catalog already; only its faces' addition to the vector index is unconfirmed (the
    /// worker that committed it died before <see cref="IIngestWorkQueue.MarkIndexedAsync"/>). Re-add the faces of
    /// <see cref="ImageId"/> (none when the image was erased since) and confirm.
    /// </summary>
    public bool Committed { get; init; }

    /// <summary>The image a <see cref="Committed"/> item stored.</summary>
    public long? ImageId { get; init; }
}

/// <summary>A worker's last sign of life, as the queue saw it.</summary>
public sealed record WorkerRecord(string Name, string Host, DateTimeOffset StartedAt, DateTimeOffset HeartbeatAt, long ItemsDone, int Claimed);

/// <summary>A queued run's items by state.</summary>
public sealed record QueuedRunStatus(long RunId, string Source, IngestRunStatus Status, long Pending, long Claimed, long Expired, long Done);

public sealed record WorkQueueStatus(IReadOnlyList<QueuedRunStatus> Runs, IReadOnlyList<WorkerRecord> Workers);

/// <summary>
/// Distributed ingest: a run's items are queued in the catalog, and workers on any number of machines claim them
/// (<c>FOR UPDATE SKIP LOCKED</c>, so two workers never take the same item) under a lease they renew with a
/// heartbeat. A worker that dies stops renewing; once its lease has passed, its items are claimed again by others.
/// An item's result is committed only while the committing worker still holds its lease, so each item takes effect
/// exactly once however often it was claimed. The vector index is written after the catalog: an item that stored faces
/// stays held (state <c>indexing</c>) until its worker confirms the faces are indexed, and a worker that dies between
/// the two leaves it to be claimed again for the index alone (<see cref="WorkClaim.Committed"/>); re-adding a face to
/// the index replaces it, so that is exactly once too.
/// </summary>
public interface IIngestWorkQueue
{
    /// <summary>Queues items of a running run (sequence numbers from 0, in source order). Already queued sequence numbers are left as they are.</summary>
    Task EnqueueAsync(long runId, IReadOnlyList<(long Sequence, string Name)> items, CancellationToken ct = default);

    /// <summary>
    /// Records a worker (or refreshes it) and renews the leases of the items it holds, except those its own commit is
    /// finishing at that moment; returns how many it renewed.
    /// </summary>
    Task<int> HeartbeatAsync(string worker, string host, TimeSpan lease, CancellationToken ct = default);

    /// <summary>
    /// Claims up to <paramref name="max"/> items of running runs, lowest run and sequence first: pending items, and
    /// items whose lease has passed (their worker is presumed dead), among them committed items whose index add was
    /// never confirmed (<see cref="WorkClaim.Committed"/>).
    /// </summary>
    Task<IReadOnlyList<WorkClaim>> ClaimAsync(string worker, int max, TimeSpan lease, CancellationToken ct = default);

    /// <summary>
    /// Commits claimed items: like <see cref="IIngestLedger.CommitAsync"/>, but entries may come in any order, and an
    /// entry whose item this worker no longer holds (its lease passed and another worker claimed it, or it is done) is
    /// not written: its result is null. An item that stored faces stays held until <see cref="MarkIndexedAsync"/>; the
    /// others are done, and a run whose last item they were is completed in the same transaction.
    /// </summary>
    Task<IReadOnlyList<IngestEntryResult?>> CommitClaimedAsync(string worker, long runId, IReadOnlyList<IngestEntry> entries, CancellationToken ct = default);

    /// <summary>
    /// Confirms that the faces of committed items are in the vector index: they are done, and a run whose last item
    /// this was completes. Items not waiting for their index add are left as they are.
    /// </summary>
    Task MarkIndexedAsync(long runId, IReadOnlyList<long> sequences, CancellationToken ct = default);

    /// <summary>Gives back what a worker holds (a clean stop), so others need not wait for its lease.</summary>
    Task<int> ReleaseAsync(string worker, CancellationToken ct = default);

    Task<WorkQueueStatus> GetWorkStatusAsync(CancellationToken ct = default);
}
