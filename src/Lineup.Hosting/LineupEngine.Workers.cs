using System.Diagnostics;
using Lineup.Core.Catalog;
using Lineup.Core.Imaging;
using Lineup.Core.Indexing;
using Lineup.Ingest;
using Lineup.Ingest.Sources;

namespace Lineup.Hosting;

/// <summary>What one worker did until it stopped.</summary>
public sealed record WorkerSummary(string Worker, long Claimed, long Committed, long LostLeases, long Faces, TimeSpan Elapsed)
{
    /// <summary>Items another worker committed but died before indexing, whose faces this one added to the index.</summary>
    public long Reindexed { get; init; }
}

/// <summary>
/// Distributed ingest (<c>lineup ingest --queue</c> and <c>lineup worker</c>): the coordinator queues a run's items in
/// the catalog; workers on any number of machines claim them under a lease, analyse them and commit each item only while
/// they still hold it (<see cref="IIngestWorkQueue"/>). Every worker opens the run's source itself, so the source must
/// be at the same path on every worker's machine (a shared or replicated file system).
/// </summary>
/// <remarks>
/// Exact duplicates are caught across workers (the catalog's unique image hash). Near-duplicates are caught against
/// what a worker has read from the catalog before each claim: two near-duplicate copies analysed by two workers at the
/// same moment can both be stored, as two photos. Reading the hashes again re-adds the worker's own images to its
/// in-memory near-duplicate index, which is harmless (the same original is found).
/// </remarks>
public sealed partial class LineupEngine
{
    /// <summary>Items queued per round trip while a run is being queued.</summary>
    private const int QueueChunk = 5_000;

    /// <summary>How long an idle worker waits before asking for work again.</summary>
    private static readonly TimeSpan s_idlePoll = TimeSpan.FromMilliseconds(500);

    /// <summary>The catalog's work queue; only the distributed catalog has one.</summary>
    public IIngestWorkQueue WorkQueue => Catalog as IIngestWorkQueue ?? throw new InvalidOperationException(
        "Ingest workers need the distributed backend (Lineup:Backend = distributed, with a PostgreSQL catalog); " +
        "the embedded catalog ingests in one process (`lineup ingest`).");

    /// <summary>
    /// Starts a run of <paramref name="source"/> into <paramref name="collection"/> and queues every item for workers;
    /// nothing is analysed here. Returns the run, running, with its total set.
    /// </summary>
    public async Task<IngestRun> QueueAsync(IIngestSource source, Collection collection, IProgress<long>? queued = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(collection);
        var queue = WorkQueue;
        var run = await Ledger.StartRunAsync(collection.Id, source.Kind, source.Description, ct).ConfigureAwait(false);
        try
        {
            var chunk = new List<(long, string)>(QueueChunk);
            var sequence = 0L;
            await foreach (var item in source.ReadAsync(ct).ConfigureAwait(false))
            {
                chunk.Add((sequence++, item.Name));
                if (chunk.Count == QueueChunk)
                {
                    await queue.EnqueueAsync(run.Id, chunk, ct).ConfigureAwait(false);
                    chunk.Clear();
                    queued?.Report(sequence);
                }
            }

            await queue.EnqueueAsync(run.Id, chunk, ct).ConfigureAwait(false);
            queued?.Report(sequence);
            await Ledger.SetRunTotalAsync(run.Id, sequence, ct).ConfigureAwait(false);

            // Workers complete the run with its last item once the total is known; if they were all done before it was
            // set (or there is nothing to do), nobody will: complete it here.
            var status = (await queue.GetWorkStatusAsync(ct).ConfigureAwait(false)).Runs.FirstOrDefault(r => r.RunId == run.Id);
            if (status is null || (status.Pending == 0 && status.Claimed == 0 && status.Expired == 0))
            {
                await Ledger.FinishRunAsync(run.Id, IngestRunStatus.Completed, null, ct).ConfigureAwait(false);
            }

            return await Ledger.GetRunAsync(run.Id, ct).ConfigureAwait(false) ?? run;
        }
        catch (Exception e)
        {
            await TryFinishAsync(run.Id, IngestRunStatus.Failed, $"queueing failed: {e.Message}").ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Works as <paramref name="worker"/> until <paramref name="ct"/> is cancelled, or, with <paramref name="untilIdle"/>,
    /// until no running run has an item left to claim (all done, or all held by live workers). A heartbeat renews the
    /// worker's leases every third of <see cref="DistributedSettings.LeaseSeconds"/>; a clean stop gives its claims back.
    /// </summary>
    public async Task<WorkerSummary> WorkAsync(string worker, bool untilIdle, IngestObserver? observer = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        var queue = WorkQueue;
        var lease = TimeSpan.FromSeconds(Options.Distributed.LeaseSeconds);
        var host = Environment.MachineName;
        var clock = Stopwatch.StartNew();
        long claimed = 0, committed = 0, lost = 0, faces = 0, reindexed = 0;

        await queue.HeartbeatAsync(worker, host, lease, ct).ConfigureAwait(false);
        using var stopHeartbeat = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var heartbeat = Task.Run(async () =>
        {
            // A failed heartbeat (a lost connection, a lock timeout) is tried again at the next tick; only when none has
            // succeeded for a whole lease are the claims surely lost, and the worker stops.
            using var timer = new PeriodicTimer(lease / 3);
            var lastBeat = Stopwatch.StartNew();
            while (await timer.WaitForNextTickAsync(stopHeartbeat.Token).ConfigureAwait(false))
            {
                try
                {
                    await queue.HeartbeatAsync(worker, host, lease, stopHeartbeat.Token).ConfigureAwait(false);
                    lastBeat.Restart();
                }
                catch (Exception e) when (e is not OperationCanceledException && lastBeat.Elapsed < lease)
                {
                }
            }
        }, stopHeartbeat.Token);

        // Three stages overlap, so the analysers never wait on the network: the next claim is fetched while this one is
        // analysed, and this one is committed (catalog, then index) while the next is analysed. One commit at a time,
        // in claim order: each decides near-duplicates against what the previous one stored.
        var cursors = new Dictionary<long, SourceCursor>();
        Task<IReadOnlyList<WorkClaim>>? claiming = null;
        var committing = Task.CompletedTask;
        IngestPipeline? pipeline = null;
        IFaceScreen? screen = null;
        NearDuplicateIndex? hashes = null;

        async Task CommitAsync(IngestPipeline by, List<(long RunId, IngestPipeline.AnalysedClaims Items)> analysed, List<(Collection Collection, WorkClaim Claim)> reindex)
        {
            // Other workers' images since the last commit, so that a near-duplicate of one of them is recognised.
            await NearDuplicatesAsync(ct).ConfigureAwait(false);
            foreach (var (runId, items) in analysed)
            {
                var summary = await by.CommitClaimedAsync(items,
                    (entries, token) => queue.CommitClaimedAsync(worker, runId, entries, token),
                    (sequences, token) => queue.MarkIndexedAsync(runId, sequences, token),
                    observer?.Item, ct).ConfigureAwait(false);
                committed += summary.Items;
                lost += items.Count - summary.Items;
                faces += summary.Faces;
            }

            foreach (var run in reindex.GroupBy(r => r.Claim.RunId))
            {
                await ReindexAsync(queue, run.First().Collection, run.Key, [.. run.Select(r => r.Claim)], ct).ConfigureAwait(false);
                reindexed += run.Count();
            }
        }

        try
        {
            claiming = queue.ClaimAsync(worker, Options.Distributed.ClaimBatch, lease, ct);
            while (!ct.IsCancellationRequested)
            {
                if (heartbeat.IsFaulted)
                {
                    // Without a heartbeat the leases lapse and others take the items over; stop rather than work for nothing.
                    await heartbeat.ConfigureAwait(false);
                }

                var claims = await claiming.ConfigureAwait(false);
                claiming = null;
                if (claims.Count == 0)
                {
                    // What is being committed still counts as claimed: finish it before deciding the queue is idle.
                    await committing.ConfigureAwait(false);
                    if (untilIdle && await IsIdleAsync(queue, ct).ConfigureAwait(false))
                    {
                        break;
                    }

                    await Task.Delay(s_idlePoll, ct).ConfigureAwait(false);
                    claiming = queue.ClaimAsync(worker, Options.Distributed.ClaimBatch, lease, ct);
                    continue;
                }

                claimed += claims.Count;
                claiming = queue.ClaimAsync(worker, Options.Distributed.ClaimBatch, lease, ct);

                // The pipeline is built again only when the opt-out registry changed (a new screen), or an erasure in this
                // process replaced the engine's near-duplicate index. Only the commit stage catches that index up and adds
                // to it.
                var current = await IngestScreenAsync(ct).ConfigureAwait(false);
                if (pipeline is null || !ReferenceEquals(current, screen) || !ReferenceEquals(hashes, _nearDuplicates))
                {
                    screen = current;
                    hashes = _nearDuplicates;
                    pipeline = new IngestPipeline(
                        Analyzers(), Catalog, Ledger, Index, hashes,
                        new IngestOptions { Limits = Options.Limits, FaceScreen = screen });
                }

                var analysed = new List<(long RunId, IngestPipeline.AnalysedClaims Items)>();
                var reindex = new List<(Collection, WorkClaim)>();
                foreach (var group in claims.GroupBy(c => c.RunId))
                {
                    var runId = group.Key;
                    if (!cursors.TryGetValue(runId, out var cursor))
                    {
                        cursor = await SourceCursor.OpenAsync(this, runId, ct).ConfigureAwait(false);
                        cursors[runId] = cursor;
                    }

                    // Items another worker committed but died before indexing need their faces only, not analysis.
                    reindex.AddRange(group.Where(c => c.Committed).Select(c => (cursor.Collection, c)));
                    var fresh = group.Where(c => !c.Committed).ToList();
                    if (fresh.Count > 0)
                    {
                        var items = await cursor.TakeAsync(fresh, ct).ConfigureAwait(false);
                        analysed.Add((runId, await pipeline.AnalyseClaimedAsync(items, cursor.Collection, ct).ConfigureAwait(false)));
                    }
                }

                await committing.ConfigureAwait(false);
                committing = CommitAsync(pipeline, analysed, reindex);
            }

            await committing.ConfigureAwait(false);
        }
        finally
        {
            // After a failure elsewhere, a commit in flight still ends before the claims are handed back; its own failure
            // (if any) is secondary to the one being thrown.
            await committing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (claiming is not null)
            {
                await ((Task)claiming).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await stopHeartbeat.CancelAsync().ConfigureAwait(false);
            try
            {
                await heartbeat.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            foreach (var cursor in cursors.Values)
            {
                await cursor.DisposeAsync().ConfigureAwait(false);
            }

            // A clean stop (Ctrl+C, --until-idle): hand back what is still held so nobody waits for the lease.
            await queue.ReleaseAsync(worker, CancellationToken.None).ConfigureAwait(false);
        }

        return new WorkerSummary(worker, claimed, committed, lost, faces, clock.Elapsed) { Reindexed = reindexed };
    }

    /// <summary>
    /// Adds the faces of items another worker committed to the catalog but died before adding to the index, then
    /// confirms them. The catalog holds their embeddings; adding a face that did reach the index only replaces it.
    /// </summary>
    private async Task ReindexAsync(IIngestWorkQueue queue, Collection collection, long runId, IReadOnlyList<WorkClaim> claims, CancellationToken ct)
    {
        var faces = new List<(long, float[])>();
        foreach (var claim in claims)
        {
            if (claim.ImageId is { } imageId)
            {
                foreach (var face in await Catalog.GetEmbeddingsOfImageAsync(imageId, ct).ConfigureAwait(false))
                {
                    faces.Add((face.FaceId, face.Vector));
                }
            }
        }

        if (Index is IFaceAttributeIndex attributed)
        {
            attributed.AddRange(faces, collection.Id, collection.Jurisdiction);
        }
        else
        {
            foreach (var (faceId, embedding) in faces)
            {
                Index.Add(faceId, embedding);
            }
        }

        await queue.MarkIndexedAsync(runId, [.. claims.Select(c => c.Sequence)], ct).ConfigureAwait(false);
    }

    private static async Task<bool> IsIdleAsync(IIngestWorkQueue queue, CancellationToken ct)
    {
        var status = await queue.GetWorkStatusAsync(ct).ConfigureAwait(false);
        return status.Runs.Where(r => r.Status == IngestRunStatus.Running).All(r => r.Pending == 0 && r.Claimed == 0 && r.Expired == 0);
    }

    /// <summary>
    /// A worker's reading position in one run's source. Claims come lowest sequence first, so the reader mostly moves
    /// forward; an item behind it (taken over from a dead worker) reopens the source. Streaming the items it skips costs
    /// reading them (decompressing an archive), far less than analysing them.
    /// </summary>
    private sealed class SourceCursor : IAsyncDisposable
    {
        private readonly IIngestSource _source;
        private IAsyncEnumerator<IngestItem>? _items;
        private long _next;

        private SourceCursor(IIngestSource source, Collection collection)
        {
            _source = source;
            Collection = collection;
        }

        public Collection Collection { get; }

        public static async Task<SourceCursor> OpenAsync(LineupEngine engine, long runId, CancellationToken ct)
        {
            var run = await engine.Ledger.GetRunAsync(runId, ct).ConfigureAwait(false)
                ?? throw new CatalogException($"Ingest run {runId} does not exist.");
            var collection = (await engine.Catalog.ListCollectionsAsync(ct).ConfigureAwait(false)).FirstOrDefault(c => c.Id == run.CollectionId)
                ?? throw new CatalogException($"The collection of ingest run {runId} does not exist.");
            return new SourceCursor(IngestSources.Open(run.SourceKind, run.Source, engine.Options.SourceLimits), collection);
        }

        /// <summary>The claimed items, in sequence order; one the source no longer has (or has under another name) fails with a reason.</summary>
        public async Task<IReadOnlyList<(long Sequence, IngestItem Item)>> TakeAsync(IReadOnlyList<WorkClaim> claims, CancellationToken ct)
        {
            var taken = new List<(long, IngestItem)>(claims.Count);
            foreach (var claim in claims.OrderBy(c => c.Sequence))
            {
                if (_items is null || claim.Sequence < _next)
                {
                    await RestartAsync(ct).ConfigureAwait(false);
                }

                IngestItem? found = null;
                while (_next <= claim.Sequence && await _items!.MoveNextAsync().ConfigureAwait(false))
                {
                    if (_next++ == claim.Sequence)
                    {
                        found = _items.Current;
                    }
                }

                taken.Add((claim.Sequence, found switch
                {
                    null => IngestItem.Failed(claim.Name, $"{claim.Name}: the source {_source.Description} no longer has item {claim.Sequence + 1:N0}"),
                    _ when !string.Equals(found.Name, claim.Name, StringComparison.Ordinal) => IngestItem.Failed(claim.Name,
                        $"{claim.Name}: the source {_source.Description} has changed since the run was queued (item {claim.Sequence + 1:N0} is now '{found.Name}')"),
                    _ => found,
                }));
            }

            return taken;
        }

        private async Task RestartAsync(CancellationToken ct)
        {
            if (_items is not null)
            {
                await _items.DisposeAsync().ConfigureAwait(false);
            }

            _items = _source.ReadAsync(ct).GetAsyncEnumerator(ct);
            _next = 0;
        }

        public async ValueTask DisposeAsync()
        {
            if (_items is not null)
            {
                await _items.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
