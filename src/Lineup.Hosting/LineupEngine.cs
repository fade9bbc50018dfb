using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Indexing;
using Lineup.Core.Numerics;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Ingest;
using Lineup.Ingest.Sources;
using Lineup.Storage;
using Lineup.Storage.Postgres;
using Lineup.Vision;
using Lineup.Vision.Models;

namespace Lineup.Hosting;

/// <summary>
/// The one long-lived engine (npgsql's data-source habit): built once per process from validated
/// options, it owns the ONNX sessions, the catalog and the index. The CLI and the server both get it
/// from here, so they cannot wire the parts differently.
/// </summary>
public sealed partial class LineupEngine : IAsyncDisposable
{
    private readonly FaceEngine _faces;
    private readonly ICatalog? _catalog;
    private readonly List<FaceEngine> _workers = [];
    private readonly SemaphoreSlim _ingestGate = new(1, 1);
    private IndexHandle? _index;
    private NearDuplicateIndex _nearDuplicates = new();
    private long _hashesSeenUpTo;

    private LineupEngine(LineupOptions options, FaceEngine faces, ICatalog? catalog, IndexHandle? index)
    {
        Options = options;
        _faces = faces;
        _catalog = catalog;
        _index = index;
        Threshold = options.Search.Threshold ?? faces.Manifest.Calibration.Threshold;
    }

    public LineupOptions Options { get; }

    public IPhotoAnalyzer Analyzer => _faces;

    public IImageDecoder Decoder => _faces.Decoder;

    /// <summary>Cosine similarity at or above which two faces are reported as a likely match.</summary>
    public float Threshold { get; }

    public ICatalog Catalog => _catalog ?? throw new InvalidOperationException("This engine was opened for analysis only.");

    /// <summary>The ingest-run ledger (runs, item outcomes); the catalog implements it.</summary>
    public IIngestLedger Ledger => Catalog as IIngestLedger ?? throw new InvalidOperationException("This catalog keeps no ingest runs.");

    public IVectorIndex Index => (_index ?? throw new InvalidOperationException("This engine was opened for analysis only.")).Index;

    /// <summary>People who sign in to the server, and their API keys; the catalog implements it.</summary>
    public IUserStore Users => Catalog as IUserStore ?? throw new InvalidOperationException("This catalog keeps no users.");

    /// <summary>Face thumbnails and image previews written at ingest; the catalog implements it.</summary>
    public IPictureStore Pictures => Catalog as IPictureStore ?? throw new InvalidOperationException("This catalog keeps no pictures.");

    /// <summary>The record of searches; the catalog implements it.</summary>
    public ISearchLog SearchLog => Catalog as ISearchLog ?? throw new InvalidOperationException("This catalog keeps no search record.");

    /// <summary>Cases, assignments and clearances; the catalog implements it.</summary>
    public ICaseStore Cases => Catalog as ICaseStore ?? throw new InvalidOperationException("This catalog keeps no cases.");

    /// <summary>The tamper-evident audit log; the catalog implements it.</summary>
    public Lineup.Core.Audit.IAuditLog Audit => Catalog as Lineup.Core.Audit.IAuditLog ?? throw new InvalidOperationException("This catalog keeps no audit log.");

    /// <summary>The embedding model's id (the model pack's).</summary>
    public string ModelId => _faces.ModelId;

    /// <summary>The calibrated false-match rate per comparison at <see cref="Threshold"/>; null without a calibration.</summary>
    public double? ThresholdFmr => _faces.Manifest.Calibration.Scores?.Fmr(Threshold);

    /// <summary>What the index did at start (loaded, caught up, rebuilt).</summary>
    public string? IndexReport => _index?.Report;

    /// <summary>Opens everything: models (fetched on first use), catalog (migrated), index (caught up or rebuilt).</summary>
    public static async Task<LineupEngine> OpenAsync(LineupOptions options, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        options.Validate();
        var faces = await OpenFacesAsync(options, progress, ct).ConfigureAwait(false);
        ICatalog? catalog = null;
        try
        {
            Directory.CreateDirectory(options.FullDataDirectory);
            catalog = await OpenBackendCatalogAsync(options, faces.ModelId, ct).ConfigureAwait(false);
            var index = await IndexHandle.OpenAsync(options, catalog, faces.Dimensions, progress, ct).ConfigureAwait(false);
            await MarkDeadRunsAsync(options, catalog, ct).ConfigureAwait(false);
            return new LineupEngine(options, faces, catalog, index);
        }
        catch
        {
            if (catalog is not null)
            {
                await catalog.DisposeAsync().ConfigureAwait(false);
            }

            faces.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs recorded as running whose process died (kill -9, power loss) are shown as interrupted: if the
    /// ingest lock is free, nobody is running them.
    /// </summary>
    private static async Task MarkDeadRunsAsync(LineupOptions options, ICatalog catalog, CancellationToken ct)
    {
        // A distributed catalog's running runs belong to processes on other machines (and queued runs to workers):
        // a local lock says nothing about them.
        if (!options.IsDistributed && catalog is IIngestLedger ledger && IngestLock.TryAcquire(options.FullDataDirectory) is { } free)
        {
            using (free)
            {
                await ledger.MarkRunningAsInterruptedAsync(ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The catalog alone (users, runs, the search record), without models or index: for administration that must work
    /// before models are fetched. Faces it reads or writes carry the default pack's model id.
    /// </summary>
    public static async Task<ICatalog> OpenCatalogAsync(LineupOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Directory.CreateDirectory(options.FullDataDirectory);
        return await OpenBackendCatalogAsync(options, ModelPackManifest.Default.Id, ct).ConfigureAwait(false);
    }

    /// <summary>The configured backend's catalog: SQLite in the data directory, or the distributed PostgreSQL catalog.</summary>
    private static async Task<ICatalog> OpenBackendCatalogAsync(LineupOptions options, string modelId, CancellationToken ct) =>
        options.IsDistributed
            ? await PostgresCatalog.OpenAsync(options.Distributed.Postgres!, modelId, options.Clock, ct).ConfigureAwait(false)
            : await SqliteCatalog.OpenAsync(options.CatalogPath, modelId, options.Clock, ct).ConfigureAwait(false);

    /// <summary>Models only (for verify and eval): no catalog or index is opened or created.</summary>
    public static async Task<LineupEngine> OpenForAnalysisAsync(LineupOptions options, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        options.Validate();
        return new LineupEngine(options, await OpenFacesAsync(options, progress, ct).ConfigureAwait(false), null, null);
    }

    private static async Task<FaceEngine> OpenFacesAsync(LineupOptions options, IProgress<string>? progress, CancellationToken ct)
    {
        var store = new ModelStore(options.FullModelsDirectory, progress: progress)
        {
            ExecutionProvider = options.ExecutionProvider == "cuda" ? ExecutionProvider.Cuda : ExecutionProvider.Cpu,
            CudaDevice = options.CudaDevice,
        };
        await store.EnsureAsync(allowFetch: true, ct).ConfigureAwait(false);
        return FaceEngine.Create(store, pictures: options.Pictures);
    }

    /// <summary>
    /// Ingests <paramref name="source"/> into <paramref name="collection"/> as a recorded run. When
    /// <paramref name="resume"/> is set and an earlier run of the same source into the same collection was
    /// interrupted (killed, crashed, cancelled) or failed, that run continues where it stopped instead.
    /// </summary>
    public async Task<IngestRunResult> IngestAsync(
        IIngestSource source, Collection collection, IngestObserver? observer = null, bool resume = true, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(collection);
        return await WithIngestLockAsync(async () =>
        {
            var earlier = resume ? await Ledger.FindResumableRunAsync(collection.Id, source.Kind, source.Description, ct).ConfigureAwait(false) : null;
            var run = earlier is null
                ? await Ledger.StartRunAsync(collection.Id, source.Kind, source.Description, ct).ConfigureAwait(false)
                : await Ledger.ResumeRunAsync(earlier.Id, ct).ConfigureAwait(false);
            return await RunAsync(source, run, collection, earlier is not null, observer, ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Continues an interrupted or failed run from its recorded source.</summary>
    public async Task<IngestRunResult> ResumeAsync(long runId, IngestObserver? observer = null, CancellationToken ct = default) =>
        await WithIngestLockAsync(async () =>
        {
            var recorded = await Ledger.GetRunAsync(runId, ct).ConfigureAwait(false)
                ?? throw new CatalogException($"Ingest run {runId} does not exist (see `lineup runs list`).");
            var collection = (await Catalog.ListCollectionsAsync(ct).ConfigureAwait(false)).First(c => c.Id == recorded.CollectionId);
            var source = IngestSources.Open(recorded.SourceKind, recorded.Source, Options.SourceLimits);
            var run = await Ledger.ResumeRunAsync(runId, ct).ConfigureAwait(false);
            return await RunAsync(source, run, collection, true, observer, ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);

    private async Task<IngestRunResult> WithIngestLockAsync(Func<Task<IngestRunResult>> work, CancellationToken ct)
    {
        await _ingestGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var exclusive = IngestLock.Acquire(Options.FullDataDirectory);

            // Holding the lock, no other process is ingesting: a run still marked running died with its process. Not so
            // with a distributed catalog, whose running runs may belong to other machines or to workers.
            if (!Options.IsDistributed)
            {
                await Ledger.MarkRunningAsInterruptedAsync(ct).ConfigureAwait(false);
            }

            return await work().ConfigureAwait(false);
        }
        finally
        {
            _ingestGate.Release();
        }
    }

    private async Task<IngestRunResult> RunAsync(
        IIngestSource source, IngestRun run, Collection collection, bool resumed, IngestObserver? observer, CancellationToken ct)
    {
        observer?.Started?.Invoke(run, resumed);
        var nearDuplicates = await NearDuplicatesAsync(ct).ConfigureAwait(false);
        var pipeline = new IngestPipeline(
            Analyzers(), Catalog, Ledger, Index, nearDuplicates,
            new IngestOptions { Limits = Options.Limits, FaceScreen = await IngestScreenAsync(ct).ConfigureAwait(false) });

        // Counting (for the ETA) streams the source once more, beside the ingest; far cheaper than analysing.
        using var counting = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var count = Task.Run(async () =>
        {
            if (await source.CountAsync(counting.Token).ConfigureAwait(false) is { } total)
            {
                observer?.TotalKnown?.Invoke(total);
                await Ledger.SetRunTotalAsync(run.Id, total, counting.Token).ConfigureAwait(false);
            }
        }, counting.Token);

        IngestSummary summary;
        try
        {
            summary = await pipeline.RunAsync(source, run, collection, observer?.Item, ct).ConfigureAwait(false);
            await Ledger.FinishRunAsync(run.Id, IngestRunStatus.Completed, null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await TryFinishAsync(run.Id, IngestRunStatus.Interrupted, "cancelled").ConfigureAwait(false);
            throw;
        }
        catch (Exception e)
        {
            await TryFinishAsync(run.Id, IngestRunStatus.Failed, e.Message).ConfigureAwait(false);
            throw;
        }
        finally
        {
            await counting.CancelAsync().ConfigureAwait(false);
            try
            {
                await count.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The count only feeds the ETA; the ingest itself reports problems with the source, and a
                // failed count must not hide the ingest's own result or error.
            }

            await _index!.SaveAsync(Catalog, CancellationToken.None).ConfigureAwait(false);
            await MarkOwnHashesSeenAsync(CancellationToken.None).ConfigureAwait(false);
        }

        var report = await IngestReport.BuildAsync(Catalog, Ledger, run.Id, summary, ct).ConfigureAwait(false);
        var path = await report.WriteAsync(Options.FullDataDirectory, ct).ConfigureAwait(false);
        return new IngestRunResult(report.Run, summary, report.Counts, resumed, path);
    }

    /// <summary>
    /// Records how a run ended. When even that write fails (the catalog's disk is gone), the run stays
    /// "running" until the next ingest marks it interrupted, and the error that ended it is what surfaces.
    /// </summary>
    private async Task TryFinishAsync(long runId, IngestRunStatus status, string error)
    {
        try
        {
            await Ledger.FinishRunAsync(runId, status, error, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is CatalogException or System.Data.Common.DbException or IOException or ObjectDisposedException)
        {
        }
    }

    /// <summary>One analyzer (one ONNX session set) per worker; the engine's own serves as the first.</summary>
    private List<IPhotoAnalyzer> Analyzers()
    {
        while (_workers.Count < Options.Workers - 1)
        {
            _workers.Add(_faces.CreateWorker());
        }

        return [_faces, .. _workers.Take(Options.Workers - 1)];
    }

    /// <summary>
    /// The gallery's perceptual hashes: loaded from the catalog at the first ingest, then caught up at each
    /// one with what other processes catalogued meanwhile (a long-lived server beside a CLI ingest).
    /// Called under the ingest lock, so nothing is added while it reads.
    /// </summary>
    private async Task<NearDuplicateIndex> NearDuplicatesAsync(CancellationToken ct)
    {
        await foreach (var hash in Catalog.ReadPerceptualHashesAsync(_hashesSeenUpTo, ct).ConfigureAwait(false))
        {
            _nearDuplicates.Add(hash.ImageId, hash.Hash, hash.Height > 0 ? hash.Width / (float)hash.Height : 0);
            _hashesSeenUpTo = hash.ImageId;
        }

        return _nearDuplicates;
    }

    /// <summary>After a run, still under the lock: its own images are in the index already, so only the mark moves.</summary>
    private async Task MarkOwnHashesSeenAsync(CancellationToken ct)
    {
        await foreach (var hash in Catalog.ReadPerceptualHashesAsync(_hashesSeenUpTo, ct).ConfigureAwait(false))
        {
            _hashesSeenUpTo = hash.ImageId;
        }
    }

    /// <summary>
    /// 1:N search of one probe face against the gallery, recorded in the catalog (case, attestation, probe hash and
    /// photo, quality, parameters, gallery version, timings, candidate list; never the embedding). Intake comes first:
    /// without an open, authorised case the user is assigned to, current clearances and an accepted probe source the
    /// search is refused (<see cref="SearchRefusedException"/>, recorded and audited) before the probe is decoded. A
    /// probe face under the quality floor is refused (<see cref="ProbeQualityException"/>, recorded too) unless the
    /// request gives a reason to override.
    /// </summary>
    public async Task<SearchResult> SearchAsync(SearchRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Top is < 1 or > 1000)
        {
            throw new ArgumentException($"The number of candidates must be between 1 and 1000, not {request.Top}.");
        }

        if (request.QualityOverride is { } reason && string.IsNullOrWhiteSpace(reason))
        {
            throw new ArgumentException("A quality override needs a reason.");
        }

        var filter = request.Filter.Normalize();
        var started = Stopwatch.GetTimestamp();
        var floor = Options.Search.QualityFloor;
        var record = new SearchRecord(
            Options.Clock.GetUtcNow(), request.By, Convert.ToHexStringLower(SHA256.HashData(request.Photo)), 0, null, null,
            floor, null, SearchOutcome.NoFace, Parameters(request, filter), _faces.ModelId, Index.Count, 0, 0, 0)
        {
            CaseNumber = string.IsNullOrWhiteSpace(request.CaseNumber) ? null : request.CaseNumber.Trim(),
            ProbeSource = string.IsNullOrWhiteSpace(request.ProbeSource) ? null : request.ProbeSource.Trim(),
            GalleryVersion = await SearchLog.GalleryVersionAsync(ct).ConfigureAwait(false),
        };

        var (searchCase, refusal) = await CheckIntakeAsync(request, record.At, ct).ConfigureAwait(false);
        if (refusal is { } refused)
        {
            var refusedId = await RecordAsync(
                record with { CaseId = searchCase?.Id, Outcome = SearchOutcome.RefusedIntake, Refusal = SearchIntake.Code(refused.Refusal), DurationMs = ElapsedMs(started) },
                ReadOnlyMemory<byte>.Empty, [], ct).ConfigureAwait(false);
            throw new SearchRefusedException(refused.Refusal, refused.Message, refusedId);
        }

        record = record with { CaseId = searchCase!.Id, ProbeSource = ProbeSources.Normalize(request.ProbeSource) };
        var analyzing = Stopwatch.GetTimestamp();
        var analysis = Analyze(request.Photo, request.Name);
        var analyzeMs = ElapsedMs(analyzing);
        var probeFaces = Describe(analysis.Faces, floor);
        record = record with { FacesInProbe = analysis.Faces.Count, Timings = Timings(analyzeMs) };
        if (analysis.Faces.Count == 0)
        {
            await RecordAsync(record with { DurationMs = ElapsedMs(started) }, request.Photo, [], ct).ConfigureAwait(false);
            throw new NoFaceException($"{request.Name}: no face was found.");
        }

        int chosen;
        string choice;
        if (request.Face is { } n)
        {
            if (n < 1 || n > analysis.Faces.Count)
            {
                await RecordAsync(record with { DurationMs = ElapsedMs(started) }, request.Photo, [], ct).ConfigureAwait(false);
                throw new NoFaceException($"{request.Name} has {analysis.Faces.Count} face(s); face {n} does not exist.");
            }

            chosen = n - 1;
            choice = $"face {n} of {analysis.Faces.Count}, as asked";
        }
        else
        {
            chosen = MostProminent(analysis);
            choice = analysis.Faces.Count == 1
                ? "the only face"
                : $"face {chosen + 1} of {analysis.Faces.Count}, the most prominent (largest and most central); choose another by its number";
        }

        var face = probeFaces[chosen];
        var quality = analysis.Faces[chosen].Quality?.Score;
        record = record with { Face = chosen + 1, Quality = quality, QualityOverride = request.QualityOverride };
        if (face.BelowFloor && request.QualityOverride is null)
        {
            var id = await RecordAsync(
                record with { Outcome = SearchOutcome.RefusedLowQuality, DurationMs = ElapsedMs(started) }, request.Photo, [], ct).ConfigureAwait(false);
            throw new ProbeQualityException(
                $"{request.Name}: face {chosen + 1} has quality {quality:0} of 100, under the floor of {floor:0} ({Shortfalls(face.Quality!.Value)}). " +
                "Matches on such a probe are unreliable; search it anyway only with a recorded reason.",
                id, face, floor);
        }

        var calibration = _faces.Manifest.Calibration.Scores;
        if (await IsOptedOutAsync(analysis.Faces[chosen].Embedding, ct).ConfigureAwait(false))
        {
            // The person asked not to be searched for: nothing is returned, at any rank, and the record says so.
            var withheld = await RecordAsync(
                record with { Outcome = SearchOutcome.WithheldOptOut, DurationMs = ElapsedMs(started) }, request.Photo, [], ct).ConfigureAwait(false);
            return new SearchResult(
                withheld, analysis.Info, probeFaces, chosen + 1, choice, floor, request.QualityOverride, Threshold, calibration?.Fmr(Threshold),
                Index.Count, 0, filter.IsEmpty ? "none" : filter.Describe(), SearchOutcome.WithheldOptOut, calibration?.Dataset, []);
        }

        var searching = Stopwatch.GetTimestamp();
        var allowed = filter.IsEmpty || Catalog is not ISearchFilterCatalog filters
            ? FaceKeySet.All
            : await filters.ResolveAsync(filter, ct).ConfigureAwait(false);
        // One index for the whole search: an erasure swaps in a rebuilt index and disposes the old one, and a search
        // that took the old one just before the swap asks the new one instead of failing.
        var index = Index;
        var rerank = Options.EffectiveRerank;
        var hits = new VectorHit[request.Top * rerank];
        int found;
        try
        {
            found = index.Search(analysis.Faces[chosen].Embedding, hits, allowed);
        }
        catch (ObjectDisposedException)
        {
            index = Index;
            found = index.Search(analysis.Faces[chosen].Embedding, hits, allowed);
        }

        if (rerank > 1)
        {
            (hits, found) = await RerankAsync(analysis.Faces[chosen].Embedding, hits.AsMemory(0, found), request.Top, ct).ConfigureAwait(false);
        }

        var indexMs = ElapsedMs(searching);
        var fetching = Stopwatch.GetTimestamp();
        var searched = allowed.IsAll ? index.Count : allowed.Count;
        var ids = hits.AsSpan(0, found).ToArray().Select(h => h.Key).ToList();
        var records = (await Catalog.GetFacesWithImagesAsync(ids, ct).ConfigureAwait(false)).ToDictionary(r => r.Face.Id);
        var optedOut = await OptedOutFacesAsync(ids, ct).ConfigureAwait(false);
        var candidates = new List<Candidate>(found);
        for (var i = 0; i < found; i++)
        {
            if (records.TryGetValue(hits[i].Key, out var stored) && !optedOut.Contains(hits[i].Key))
            {
                var sightings = await Catalog.GetSightingsAsync(stored.Image.Id, ct).ConfigureAwait(false);
                var fmr = calibration?.Fmr(hits[i].Similarity);
                candidates.Add(new Candidate(
                    candidates.Count + 1, hits[i].Key, hits[i].Similarity, hits[i].Similarity >= Threshold, fmr, fmr * searched,
                    stored.Face, stored.Image, sightings));
            }
        }

        var above = candidates.Count(c => c.AboveThreshold);
        var outcome = above > 0 ? SearchOutcome.Candidates : SearchOutcome.NoCandidateAboveThreshold;
        var kept = candidates.Select(c => new StoredCandidate(c.Rank, c.FaceId, c.Image.Id, c.Similarity, c.EstimatedFmr, c.AboveThreshold)).ToList();
        var searchId = await RecordAsync(
            record with
            {
                Outcome = outcome, Candidates = candidates.Count, AboveThreshold = above, GallerySize = index.Count,
                DurationMs = ElapsedMs(started), Timings = Timings(analyzeMs, indexMs, ElapsedMs(fetching)),
            },
            request.Photo, kept, ct).ConfigureAwait(false);
        return new SearchResult(
            searchId, analysis.Info, probeFaces, chosen + 1, choice, floor, request.QualityOverride, Threshold, calibration?.Fmr(Threshold),
            index.Count, searched, filter.IsEmpty ? "none" : filter.Describe(), outcome, calibration?.Dataset, candidates);
    }

    /// <summary>
    /// Orders the index's candidates by exact cosine with the catalog's stored embeddings and keeps the best
    /// <paramref name="top"/> (ties by face id, so equal scores rank the same way every time). A candidate the catalog
    /// no longer holds (erased since the index was searched) drops out here, as it would at the record fetch.
    /// </summary>
    private async Task<(VectorHit[] Hits, int Found)> RerankAsync(float[] probe, ReadOnlyMemory<VectorHit> candidates, int top, CancellationToken ct)
    {
        var ids = new long[candidates.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = candidates.Span[i].Key;
        }

        var stored = await Catalog.GetEmbeddingsAsync(ids, ct).ConfigureAwait(false);
        var rescored = stored
            .Where(e => e.Vector.Length == probe.Length)
            .Select(e => new VectorHit(e.FaceId, TensorPrimitives.Dot(probe, e.Vector)))
            .OrderByDescending(h => h.Similarity)
            .ThenBy(h => h.Key)
            .Take(top)
            .ToArray();
        return (rescored, rescored.Length);
    }

    /// <summary>The case of the request and the first reason to refuse the search, if any (<see cref="SearchIntake"/>).</summary>
    private async Task<(CaseRecord? Case, (IntakeRefusal Refusal, string Message)? Refusal)> CheckIntakeAsync(
        SearchRequest request, DateTimeOffset now, CancellationToken ct)
    {
        var user = UserNames.IsValid(request.By) ? await Users.FindUserAsync(request.By, ct).ConfigureAwait(false) : null;
        var found = string.IsNullOrWhiteSpace(request.CaseNumber) ? null : await Cases.FindCaseAsync(request.CaseNumber, ct).ConfigureAwait(false);
        return (found, SearchIntake.Check(user, request.By, request.CaseNumber, found, request.ProbeSource, Options.Oversight.Policy, now));
    }

    private static string Timings(double analyzeMs, double? indexMs = null, double? catalogMs = null) =>
        string.Create(CultureInfo.InvariantCulture,
            $"analyze={analyzeMs:0.0}{(indexMs is { } i ? $"; index={i:0.0}" : "")}{(catalogMs is { } c ? $"; catalog={c:0.0}" : "")}");

    /// <summary>What a search applied, as recorded: top-k, face choice, filter, threshold.</summary>
    private string Parameters(SearchRequest request, SearchFilter filter) =>
        string.Create(CultureInfo.InvariantCulture,
            $"top={request.Top}; face={(request.Face is { } f ? f.ToString(CultureInfo.InvariantCulture) : "most prominent")}; filter={(filter.IsEmpty ? "none" : filter.Describe())}; threshold={Threshold:0.000}; index={Options.Index.Kind}{(Options.EffectiveRerank > 1 ? $"; rerank={Options.EffectiveRerank}" : "")}");

    private async Task<long> RecordAsync(SearchRecord record, ReadOnlyMemory<byte> probe, IReadOnlyList<StoredCandidate> candidates, CancellationToken ct) =>
        await SearchLog.RecordSearchAsync(record, probe, candidates, ct).ConfigureAwait(false);

    private static double ElapsedMs(long started) => Stopwatch.GetElapsedTime(started).TotalMilliseconds;

    private static string Shortfalls(FaceQuality quality) =>
        quality.Shortfalls() is { Count: > 0 } reasons ? string.Join(", ", reasons) : "several factors a little weak";

    /// <summary>
    /// The faces of a probe photo with their quality against the floor, without searching anything (the UI shows them
    /// so that the analyst can choose one). Nothing is recorded: no search happened.
    /// </summary>
    public (ImageInfo Probe, IReadOnlyList<ProbeFace> Faces, float QualityFloor) DescribeProbe(byte[] photo, string name = "the probe photo")
    {
        var analysis = Analyze(photo, name);
        var floor = Options.Search.QualityFloor;
        return (analysis.Info, Describe(analysis.Faces, floor), floor);
    }

    /// <summary>1:1 comparison of the most prominent face of each photo.</summary>
    public VerifyResult Verify(byte[] a, byte[] b, string nameA = "the first photo", string nameB = "the second photo")
    {
        var first = Analyze(a, nameA);
        var second = Analyze(b, nameB);
        if (first.Faces.Count == 0 || second.Faces.Count == 0)
        {
            throw new NoFaceException($"{(first.Faces.Count == 0 ? nameA : nameB)}: no face was found.");
        }

        var fa = MostProminent(first);
        var fb = MostProminent(second);
        var similarity = VectorMath.CosineOfUnit(first.Faces[fa].Embedding, second.Faces[fb].Embedding);
        var floor = Options.Search.QualityFloor;
        return new VerifyResult(
            similarity, Threshold, _faces.Manifest.Calibration.Scores?.Fmr(similarity), Describe(first.Faces, floor)[fa], Describe(second.Faces, floor)[fb]);
    }

    public async Task<string> RebuildIndexAsync(IProgress<string>? progress, CancellationToken ct)
    {
        // Built beside the live index and swapped in, as after an erasure: searches meanwhile use the old one.
        var current = _index!;
        _index = await IndexHandle.RebuildAsync(Options, Catalog, _faces.Dimensions, progress, ct).ConfigureAwait(false);
        current.Dispose();
        return _index.Report;
    }

    /// <summary>Analyses one photo; a rejection names the photo.</summary>
    private PhotoAnalysis Analyze(byte[] photo, string name)
    {
        try
        {
            return _faces.Analyze(photo, Options.Limits);
        }
        catch (ImageRejectedException e)
        {
            throw new ImageRejectedException(e.Reason, $"{name}: {e.Message}", e);
        }
    }

    /// <summary>The face the photo is "of" (<see cref="FaceSelection.MostProminent"/>), as an index.</summary>
    private static int MostProminent(PhotoAnalysis analysis)
    {
        var face = FaceSelection.MostProminent(analysis.Faces, analysis.Info.Width, analysis.Info.Height);
        return face is null ? -1 : IndexOf(analysis.Faces, face);
    }

    private static int IndexOf(IReadOnlyList<AnalyzedFace> faces, AnalyzedFace face)
    {
        for (var i = 0; i < faces.Count; i++)
        {
            if (ReferenceEquals(faces[i], face))
            {
                return i;
            }
        }

        return -1;
    }

    private static List<ProbeFace> Describe(IReadOnlyList<AnalyzedFace> faces, float floor) =>
        faces.Select((f, i) => new ProbeFace(
            i + 1, f.Box, f.DetectorScore, f.Landmarks.InterEyeDistance, f.Quality, f.Quality is { } q && q.Score < floor)).ToList();

    public async ValueTask DisposeAsync()
    {
        if (_index is not null && _catalog is not null)
        {
            await _index.SaveAsync(_catalog, CancellationToken.None).ConfigureAwait(false);
            _index.Dispose();
        }

        if (_catalog is not null)
        {
            await _catalog.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var worker in _workers)
        {
            worker.Dispose();
        }

        _faces.Dispose();
        _ingestGate.Dispose();
    }
}
