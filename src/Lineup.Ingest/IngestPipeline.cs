using System.Diagnostics;
using System.Security.Cryptography;
using System.Threading.Channels;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Indexing;
using Lineup.Core.Numerics;
using Lineup.Ingest.Sources;

namespace Lineup.Ingest;

/// <summary>
/// Source → analysis workers (one analyzer, i.e. one ONNX session set, per worker) → in-order batched
/// catalog writer → index, joined by bounded channels so that a slow stage holds the others back instead
/// of filling memory.
/// <para>
/// The catalog transaction is the commit point: an item's image, faces, sightings and its outcome row are
/// written together, and items are committed in source order (a bounded reorder window lets workers finish
/// out of order). So the recorded items of a run are always a prefix of the source, and a run killed at any
/// point resumes by skipping exactly that prefix: the result is the catalog a clean run produces, with the
/// same ids. The index is updated after each commit; it is derived, and caught up from the catalog at the
/// next start if the process dies in between. A bad item never stops the run: it ends as Refused or Failed
/// with a reason naming it.
/// </para>
/// </summary>
/// <summary>Writes a batch of entries; null for an entry that was not this writer's to write (see <see cref="IngestPipeline.RunClaimedAsync"/>).</summary>
public delegate Task<IReadOnlyList<IngestEntryResult?>> ClaimedCommit(IReadOnlyList<IngestEntry> entries, CancellationToken ct);

/// <summary>Confirms that the faces of the committed items with these sequence numbers are in the vector index.</summary>
public delegate Task IndexedConfirmation(IReadOnlyList<long> sequences, CancellationToken ct);

public sealed class IngestPipeline
{
    private readonly IReadOnlyList<IPhotoAnalyzer> _analyzers;
    private readonly ICatalog _catalog;
    private readonly IIngestLedger _ledger;
    private readonly IVectorIndex _index;
    private readonly NearDuplicateIndex _nearDuplicates;
    private readonly IngestOptions _options;

    private readonly EmbeddingBasisSchedule _basisSchedule;

    /// <param name="analyzers">One per worker: each runs the whole decode→embed chain for one item at a time.</param>
    /// <param name="nearDuplicates">Perceptual hashes of the catalogued images; the pipeline adds every image it stores.</param>
    public IngestPipeline(
        IReadOnlyList<IPhotoAnalyzer> analyzers, ICatalog catalog, IIngestLedger ledger, IVectorIndex index, NearDuplicateIndex nearDuplicates, IngestOptions options)
    {
        ArgumentNullException.ThrowIfNull(analyzers);
        ArgumentOutOfRangeException.ThrowIfZero(analyzers.Count);
        _analyzers = analyzers;
        _catalog = catalog ?? throw new ArgumentNullException(nameof(catalog));
        _ledger = ledger ?? throw new ArgumentNullException(nameof(ledger));
        _index = index ?? throw new ArgumentNullException(nameof(index));
        _nearDuplicates = nearDuplicates ?? throw new ArgumentNullException(nameof(nearDuplicates));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _basisSchedule = new EmbeddingBasisSchedule(catalog);
    }

    /// <summary>What a worker made of one item.</summary>
    internal sealed record Result(
        long Sequence, IngestItem Item, IngestStatus Status, string? Reason, NewImage? Image, long? KnownImageId, StageTimings Timings)
    {
        public float Aspect => Image is { Height: > 0 } i ? i.Width / (float)i.Height : 0;

        /// <summary>Faces the <see cref="IngestOptions.FaceScreen"/> refused.</summary>
        public int OptedOut { get; init; }

        /// <summary>
        /// Every face found, the refused ones too: whether the photo is a copy of a catalogued one is decided on all of
        /// them (without its refused faces a different photo of the same person would pass for a copy).
        /// </summary>
        public IReadOnlyList<AnalyzedFace>? Found { get; init; }
    }

    /// <summary>
    /// Runs (or continues) <paramref name="run"/> over <paramref name="source"/>: the first
    /// <see cref="IngestRun.ItemsDone"/> items are passed over. <paramref name="onOutcome"/> is called once per
    /// committed item, in source order, from one thread.
    /// </summary>
    public async Task<IngestSummary> RunAsync(
        IIngestSource source, IngestRun run, Collection collection, Action<IngestOutcome>? onOutcome = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(collection);
        var clock = Stopwatch.StartNew();
        var tally = new IngestTally();
        var workers = _analyzers.Count;

        // Items between the reader and their commit; bounds the reorder buffer (the oldest item in flight is
        // always with a worker or queued ahead of the others, so the window never deadlocks).
        using var window = new SemaphoreSlim(workers * 4 + _options.BatchSize * 2);
        var items = Channel.CreateBounded<(long Sequence, IngestItem Item)>(new BoundedChannelOptions(workers * 2) { SingleWriter = true });
        var results = Channel.CreateBounded<Result>(new BoundedChannelOptions(workers * 2 + _options.BatchSize) { SingleReader = true });

        // A stage that fails (the source cannot be read, the catalog cannot be written) stops the others,
        // which would otherwise wait forever on a full or never-drained channel.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        async Task StopOnFailureAsync(Func<Task> stage)
        {
            try
            {
                await stage().ConfigureAwait(false);
            }
            catch
            {
                await stop.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }

        var reader = StopOnFailureAsync(async () =>
        {
            try
            {
                tally.Skipped = await ReadAsync(source, run, items.Writer, window, stop.Token).ConfigureAwait(false);
            }
            finally
            {
                items.Writer.Complete();
            }
        });

        var analysers = _analyzers.Select(analyzer => Task.Run(() => StopOnFailureAsync(async () =>
        {
            await foreach (var (sequence, item) in items.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                var result = await AnalyseAsync(analyzer, sequence, item, collection, stop.Token).ConfigureAwait(false);
                await results.Writer.WriteAsync(result, stop.Token).ConfigureAwait(false);
            }
        }), stop.Token)).ToArray();

        var completion = Task.WhenAll(analysers).ContinueWith(t => results.Writer.Complete(t.Exception), TaskScheduler.Default);

        var writer = StopOnFailureAsync(() => WriteAsync(run, collection, results.Reader, window, outcome =>
        {
            tally.Add(outcome);
            onOutcome?.Invoke(outcome);
        }, stop.Token));

        var all = Task.WhenAll(reader, completion, writer);
        try
        {
            await all.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && all.Exception is { } failure)
        {
            // Report the stage that failed, not the cancellation it caused in the others.
            throw failure.Flatten().InnerExceptions.FirstOrDefault(e => e is not OperationCanceledException) ?? failure;
        }

        return tally.Summarize(clock.Elapsed);
    }

    /// <summary>Numbers the source's items and queues those the run has not committed yet; returns how many it passed over.</summary>
    private static async Task<long> ReadAsync(
        IIngestSource source, IngestRun run, ChannelWriter<(long, IngestItem)> items, SemaphoreSlim window, CancellationToken ct)
    {
        var skip = run.ItemsDone;
        var sequence = 0L;
        await foreach (var item in source.ReadAsync(ct).ConfigureAwait(false))
        {
            if (sequence < skip)
            {
                // Resuming: the committed prefix must be the same items, or skipping by count would be wrong.
                if (sequence == skip - 1 && run.LastItemName is { } last && !string.Equals(item.Name, last, StringComparison.Ordinal))
                {
                    throw new IngestSourceException(
                        $"{source.Description} has changed since run {run.Id} stopped: item {sequence + 1:N0} is now '{item.Name}', " +
                        $"the run recorded '{last}'. Start a new run instead (`lineup ingest … --new-run`; images already catalogued are recognised as duplicates).");
                }

                sequence++;
                continue;
            }

            await window.WaitAsync(ct).ConfigureAwait(false);
            await items.WriteAsync((sequence, item), ct).ConfigureAwait(false);
            sequence++;
        }

        if (sequence < skip)
        {
            throw new IngestSourceException(
                $"{source.Description} has {sequence:N0} items now, fewer than the {skip:N0} run {run.Id} already recorded; start a new run instead (`--new-run`).");
        }

        return Math.Min(skip, sequence);
    }

    /// <summary>The ordered ledger commit of <see cref="RunAsync"/>, in the shape of a claimed commit.</summary>
    private ClaimedCommit Ordered(IngestRun run) => async (entries, ct) =>
        (await _ledger.CommitAsync(run.Id, entries, ct).ConfigureAwait(false)).ToArray<IngestEntryResult?>();

    /// <summary>
    /// A distributed worker's share of a run (<c>lineup worker</c>): <see cref="AnalyseClaimedAsync"/> then
    /// <see cref="CommitClaimedAsync"/>. A worker that overlaps the two (analysing its next claim while the last one is
    /// written) calls them itself.
    /// </summary>
    public async Task<IngestSummary> RunClaimedAsync(
        IReadOnlyList<(long Sequence, IngestItem Item)> items, Collection collection, ClaimedCommit commit, IndexedConfirmation? indexed = null,
        Action<IngestOutcome>? onOutcome = null, CancellationToken ct = default)
    {
        var analysed = await AnalyseClaimedAsync(items, collection, ct).ConfigureAwait(false);
        return await CommitClaimedAsync(analysed, commit, indexed, onOutcome, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Analyses <paramref name="items"/> — items a worker claimed from the catalog's work queue, in any order and with
    /// gaps — on all analysers at once. Nothing is written: the catalog is only read (exact duplicates), and whether an
    /// image is a near-duplicate is decided at the commit, against what is catalogued by then.
    /// </summary>
    public async Task<AnalysedClaims> AnalyseClaimedAsync(
        IReadOnlyList<(long Sequence, IngestItem Item)> items, Collection collection, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(collection);
        var clock = Stopwatch.StartNew();
        var results = new Result[items.Count];
        var next = -1;
        await Task.WhenAll(_analyzers.Select(analyzer => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < items.Count)
            {
                results[i] = await AnalyseAsync(analyzer, items[i].Sequence, items[i].Item, collection, ct).ConfigureAwait(false);
            }
        }, ct))).ConfigureAwait(false);
        Array.Sort(results, static (a, b) => a.Sequence.CompareTo(b.Sequence));
        return new AnalysedClaims(this, collection, results, clock.Elapsed);
    }

    /// <summary>
    /// Writes what <see cref="AnalyseClaimedAsync"/> made of a claim through <paramref name="commit"/>, in sequence order
    /// and in batches of <see cref="IngestOptions.BatchSize"/>. The commit writes only the items the worker still holds
    /// and answers null for the others (their lease passed and another worker took them over), which are then neither
    /// reported nor indexed. Duplicates, near-duplicates, the opt-out screen and the index are handled as in
    /// <see cref="RunAsync"/>. Once a batch's faces are in the index, <paramref name="indexed"/> confirms it for the items
    /// that stored faces. Commits of one pipeline must not run concurrently: each decides near-duplicates against what the
    /// previous ones stored.
    /// </summary>
    public async Task<IngestSummary> CommitClaimedAsync(
        AnalysedClaims analysed, ClaimedCommit commit, IndexedConfirmation? indexed = null, Action<IngestOutcome>? onOutcome = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(analysed);
        ArgumentNullException.ThrowIfNull(commit);
        if (!ReferenceEquals(analysed.Pipeline, this))
        {
            throw new ArgumentException("These items were analysed by another pipeline (another opt-out screen); analyse them again.", nameof(analysed));
        }

        var clock = Stopwatch.StartNew();
        var tally = new IngestTally();
        var collection = analysed.Collection;
        var batch = new List<(Result Result, IngestEntry Entry)>(_options.BatchSize);
        void Report(IngestOutcome outcome)
        {
            tally.Add(outcome);
            onOutcome?.Invoke(outcome);
        }

        async Task FlushAsync()
        {
            if (batch.Count > 0)
            {
                await CommitAsync(commit, collection, batch, Report, ct, indexed).ConfigureAwait(false);
                batch.Clear();
            }
        }

        foreach (var result in analysed.Results)
        {
            var entry = await ToEntryAsync(result, collection, batch, FlushAsync, ct).ConfigureAwait(false);
            batch.Add((result, entry));
            if (batch.Count >= _options.BatchSize)
            {
                await FlushAsync().ConfigureAwait(false);
            }
        }

        await FlushAsync().ConfigureAwait(false);
        return tally.Summarize(analysed.Elapsed + clock.Elapsed);
    }

    /// <summary>Claimed items analysed by <see cref="AnalyseClaimedAsync"/>, in sequence order, waiting for their commit.</summary>
    public sealed class AnalysedClaims
    {
        internal AnalysedClaims(IngestPipeline pipeline, Collection collection, Result[] results, TimeSpan elapsed)
        {
            Pipeline = pipeline;
            Collection = collection;
            Results = results;
            Elapsed = elapsed;
        }

        internal IngestPipeline Pipeline { get; }

        internal Result[] Results { get; }

        internal TimeSpan Elapsed { get; }

        public Collection Collection { get; }

        /// <summary>The items analysed.</summary>
        public int Count => Results.Length;
    }

    /// <summary>Reads, hashes and analyses one item.</summary>
    private async Task<Result> AnalyseAsync(IPhotoAnalyzer analyzer, long sequence, IngestItem item, Collection collection, CancellationToken ct)
    {
        Result Final(IngestStatus status, string reason) => new(sequence, item, status, reason, null, null, default);

        byte[] bytes;
        try
        {
            bytes = await item.ReadAsync(ct).ConfigureAwait(false);
        }
        catch (IngestItemRefusedException e)
        {
            return Final(IngestStatus.Refused, e.Message);
        }
        catch (IngestItemFailedException e)
        {
            return Final(IngestStatus.Failed, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Final(IngestStatus.Failed, $"{item.Name}: cannot be read: {e.Message}");
        }

        var sha = SHA256.HashData(bytes);
        if (await _catalog.FindImageAsync(sha, ct).ConfigureAwait(false) is { } existing)
        {
            return new Result(sequence, item, IngestStatus.Duplicate, $"same bytes as image {existing.Id}", null, existing.Id, default);
        }

        PhotoAnalysis analysis;
        try
        {
            // A gallery photo: its preview and face thumbnails are made now, from the pixels decoded for detection.
            analysis = analyzer.Analyze(bytes, _options.Limits, withPictures: true);
        }
        catch (ImageRejectedException e)
        {
            return Final(e.Reason is ImageRejection.Corrupt ? IngestStatus.Failed : IngestStatus.Refused, $"{item.Name}: {e.Message}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Final(IngestStatus.Failed, $"{item.Name}: analysis failed: {e.GetType().Name}: {e.Message}");
        }

        var faces = Screen(analysis.Faces);
        var optedOut = analysis.Faces.Count - faces.Count;
        var image = new NewImage(
            collection.Id,
            sha,
            bytes.LongLength,
            analysis.Info.Format.ToString().ToLowerInvariant(),
            analysis.Info.Width,
            analysis.Info.Height,
            item.Provenance,
            faces)
        {
            PerceptualHash = analysis.PerceptualHash,

            // The preview shows every face of the photo, the refused ones too.
            Preview = optedOut > 0 ? null : analysis.Preview,
        };
        var status = faces.Count > 0 ? IngestStatus.Ingested : IngestStatus.NoFace;
        // The entry carries the count as its reason too, so that a ledger that keeps reasons of stored items can show it.
        return new Result(sequence, item, status, optedOut > 0 ? OptedOutReason(optedOut) : null, image, null, analysis.Timings)
        {
            OptedOut = optedOut,
            Found = analysis.Faces,
        };
    }

    private static string OptedOutReason(int faces) =>
        faces == 1 ? "1 face not stored: it matches the opt-out registry" : $"{faces} faces not stored: they match the opt-out registry";

    /// <summary>The faces the <see cref="IngestOptions.FaceScreen"/> lets through (the same list when it refuses none).</summary>
    private IReadOnlyList<AnalyzedFace> Screen(IReadOnlyList<AnalyzedFace> faces)
    {
        if (_options.FaceScreen is not { } screen)
        {
            return faces;
        }

        List<AnalyzedFace>? kept = null;
        for (var i = 0; i < faces.Count; i++)
        {
            if (screen.Refuses(faces[i].Embedding))
            {
                kept ??= [.. faces.Take(i)];
            }
            else
            {
                kept?.Add(faces[i]);
            }
        }

        return kept ?? faces;
    }

    /// <summary>
    /// Commits results in source order. Natural batching: whatever is ready in order when the previous
    /// transaction ends (at most <see cref="IngestOptions.BatchSize"/>) goes into the next one, so a writer that
    /// keeps up commits each item at once and one that falls behind amortises the fsync.
    /// </summary>
    private async Task WriteAsync(
        IngestRun run, Collection collection, ChannelReader<Result> results, SemaphoreSlim window, Action<IngestOutcome> report, CancellationToken ct)
    {
        var waiting = new Dictionary<long, Result>();
        var batch = new List<(Result Result, IngestEntry Entry)>(_options.BatchSize);
        var next = run.ItemsDone;

        async Task FlushAsync()
        {
            if (batch.Count == 0)
            {
                return;
            }

            await CommitAsync(Ordered(run), collection, batch, report, ct).ConfigureAwait(false);
            window.Release(batch.Count);
            batch.Clear();
        }

        while (await results.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (results.TryRead(out var result))
            {
                waiting.Add(result.Sequence, result);
            }

            while (waiting.Remove(next, out var result))
            {
                var entry = await ToEntryAsync(result, collection, batch, FlushAsync, ct).ConfigureAwait(false);
                batch.Add((result, entry));
                next++;
                if (batch.Count >= _options.BatchSize)
                {
                    await FlushAsync().ConfigureAwait(false);
                }
            }

            await FlushAsync().ConfigureAwait(false);
        }

        if (waiting.Count > 0)
        {
            throw new InvalidOperationException($"Ingest writer: item {next} never arrived but {waiting.Count} later items did.");
        }
    }

    /// <summary>Turns a worker's result into a ledger entry, deciding whether an analysed image is a near-duplicate.</summary>
    private async Task<IngestEntry> ToEntryAsync(
        Result result, Collection collection, List<(Result Result, IngestEntry Entry)> batch, Func<Task> flushAsync, CancellationToken ct)
    {
        if (result.KnownImageId is { } known)
        {
            return new IngestEntry(result.Sequence, result.Item.Name, IngestStatus.Duplicate, result.Reason,
                SeenAgain: new SeenAgain(known, collection.Id, result.Item.Provenance));
        }

        if (result.Image is not { PerceptualHash: { } hash } image)
        {
            return new IngestEntry(result.Sequence, result.Item.Name, result.Status, result.Reason, result.Image);
        }

        // The original may still be waiting in this batch, without an id: commit it first.
        if (batch.Any(b => b.Entry.Image is { PerceptualHash: { } other, NearDuplicateOf: null } && PerceptualHash.Distance(hash, other) <= PerceptualHash.NearDuplicateDistance))
        {
            await flushAsync().ConfigureAwait(false);
        }

        if (_nearDuplicates.TryFind(hash, result.Aspect, out var originalId, out var distance))
        {
            var found = result.Found ?? image.Faces;
            var similarity = await SameFacesAsync(found, originalId, ct).ConfigureAwait(false);
            if (similarity is { } s)
            {
                var reason = found.Count == 0
                    ? $"near-duplicate of image {originalId} (perceptual hash distance {distance})"
                    : $"near-duplicate of image {originalId} (perceptual hash distance {distance}, face similarity {s:0.000})";
                return new IngestEntry(result.Sequence, result.Item.Name, IngestStatus.NearDuplicate, reason,
                    image with { Faces = [], NearDuplicateOf = originalId });
            }
        }

        return new IngestEntry(result.Sequence, result.Item.Name, result.Status, result.Reason, image);
    }

    /// <summary>
    /// The best face similarity between a candidate copy and the catalogued image, or null when the faces
    /// say they are different photos. A copy without faces adds nothing and counts as the same; a copy with
    /// faces must share one with the original (a perceptual hash alone can collide).
    /// </summary>
    private async Task<float?> SameFacesAsync(IReadOnlyList<AnalyzedFace> faces, long originalId, CancellationToken ct)
    {
        if (faces.Count == 0)
        {
            return 1f;
        }

        var stored = await _catalog.GetEmbeddingsOfImageAsync(originalId, ct).ConfigureAwait(false);
        var best = float.NegativeInfinity;
        foreach (var face in faces)
        {
            foreach (var other in stored)
            {
                best = Math.Max(best, VectorMath.CosineOfUnit(face.Embedding, other.Vector));
            }
        }

        return best >= _options.NearDuplicateFaceSimilarity ? best : null;
    }

    /// <summary>
    /// Writes the batch in one transaction, then feeds the index and the near-duplicate index. When the
    /// batch as a whole is rejected, each item is retried alone so that one bad row costs only itself; an
    /// item the catalog refuses alone is recorded as failed so the run moves on.
    /// </summary>
    private async Task CommitAsync(
        ClaimedCommit commit, Collection collection, List<(Result Result, IngestEntry Entry)> batch, Action<IngestOutcome> report, CancellationToken ct,
        IndexedConfirmation? indexed = null)
    {
        IReadOnlyList<IngestEntryResult?> stored;
        try
        {
            stored = await commit(batch.Select(b => b.Entry).ToList(), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
        {
            if (batch.Count > 1)
            {
                foreach (var one in batch)
                {
                    await CommitAsync(commit, collection, [one], report, ct, indexed).ConfigureAwait(false);
                }

                return;
            }

            var (result, entry) = batch[0];
            var failed = new IngestEntry(entry.Sequence, entry.Name, IngestStatus.Failed, $"{entry.Name}: catalog write failed: {e.Message}");
            stored = await commit([failed], ct).ConfigureAwait(false);
            batch[0] = (result, failed);
        }

        // A networked index takes the batch's faces in one pipelined call rather than a round trip per face.
        var attributed = _index is IFaceAttributeIndex ? new List<(long, float[])>() : null;
        var withFaces = indexed is null ? null : new List<long>();
        for (var i = 0; i < batch.Count; i++)
        {
            var (result, entry) = batch[i];
            if (stored[i] is not { } outcome)
            {
                // Claimed mode: the lease passed and another worker holds the item now; its result is theirs to record.
                continue;
            }
            if (entry.Image is { } image && outcome.Status is IngestStatus.Ingested or IngestStatus.NoFace)
            {
                for (var f = 0; f < outcome.FaceIds.Count; f++)
                {
                    // The catalog's write replaced the vector with what it now gives back (IEmbeddingBases), so the index
                    // holds what a rebuild reproduces, exactly.
                    if (attributed is not null)
                    {
                        attributed.Add((outcome.FaceIds[f], image.Faces[f].Embedding));
                    }
                    else
                    {
                        _index.Add(outcome.FaceIds[f], image.Faces[f].Embedding);
                    }
                }

                if (outcome.FaceIds.Count > 0)
                {
                    withFaces?.Add(entry.Sequence);
                }

                if (image.PerceptualHash is { } hash && outcome.ImageId is { } id)
                {
                    _nearDuplicates.Add(id, hash, result.Aspect);
                }
            }

            // Counted, never named: which person a face matched is not the operator's to know.
            var optedOut = outcome.Status is IngestStatus.Ingested or IngestStatus.NoFace or IngestStatus.NearDuplicate ? result.OptedOut : 0;
            var reason = outcome.Reason ?? (optedOut > 0 ? OptedOutReason(optedOut) : null);
            report(new IngestOutcome(entry.Sequence, entry.Name, outcome.Status, outcome.FaceIds.Count, reason, outcome.ImageId, result.Timings)
            {
                OptedOut = optedOut,
            });
        }

        if (attributed is { Count: > 0 })
        {
            ((IFaceAttributeIndex)_index).AddRange(attributed, collection.Id, collection.Jurisdiction);
        }

        if (withFaces is { Count: > 0 })
        {
            await indexed!(withFaces, ct).ConfigureAwait(false);
        }

        // Once the catalog holds a full sample, the model's embedding basis is fitted and later faces are stored in it.
        await _basisSchedule.CommittedAsync(stored.Sum(o => o?.FaceIds.Count ?? 0), ct).ConfigureAwait(false);
    }
}
