namespace Lineup.Core.Catalog;

/// <summary>One item of a queued run, claimed by a worker until <see cref="LeaseUntil"/>.</summary>
public sealed record WorkClaim(long RunId, long Sequence, string Name, int Attempts, DateTimeOffset LeaseUntil);

/// <summary>A worker's last sign of life, as the queue saw it.</summary>
public sealed record WorkerRecord(string Name, string Host, DateTimeOffset StartedAt, DateTimeOffset HeartbeatAt, long ItemsDone, int Claimed);

/// <summary>A queued run's items by state.</summary>
public sealed record QueuedRunStatus(long RunId, string Source, IngestRunStatus Status, long Pending, long Claimed, long Expired, long Done);

public sealed record WorkQueueStatus(IReadOnlyList<QueuedRunStatus> Runs, IReadOnlyList<WorkerRecord> Workers);

/// <summary>
/// Distributed ingest: a run's items are queued in the catalog, and workers on any number of machines claim them
/// (<c>FOR UPDATE SKIP LOCKED</c>, so two workers never take the same item) under a lease they renew with a
/// heartbeat. A worker that dies stops renewing; once its lease has passed, its items are claimed again by others.
/// An item's result is committed only while the committing worker still holds its lease, in the same transaction that
/// marks it done, so each item takes effect exactly once however often it was claimed.
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
    /// claimed items whose lease has passed (their worker is presumed dead).
    /// </summary>
    Task<IReadOnlyList<WorkClaim>> ClaimAsync(string worker, int max, TimeSpan lease, CancellationToken ct = default);

    /// <summary>
    /// Commits claimed items: like <see cref="IIngestLedger.CommitAsync"/>, but entries may come in any order, and an
    /// entry whose item this worker no longer holds (its lease passed and another worker claimed it, or it is done) is
    /// not written: its result is null. A run whose last item is committed is completed in the same transaction.
    /// </summary>
    Task<IReadOnlyList<IngestEntryResult?>> CommitClaimedAsync(string worker, long runId, IReadOnlyList<IngestEntry> entries, CancellationToken ct = default);

    /// <summary>Gives back what a worker holds (a clean stop), so others need not wait for its lease.</summary>
    Task<int> ReleaseAsync(string worker, CancellationToken ct = default);

    Task<WorkQueueStatus> GetWorkStatusAsync(CancellationToken ct = default);
}
