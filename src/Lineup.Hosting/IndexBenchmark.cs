using System.Diagnostics;
using System.Numerics.Tensors;
using Lineup.Core.Catalog;
using Lineup.Core.Indexing;
using Lineup.Core.Numerics;
using Lineup.Index;
using Lineup.Index.Ivf;

namespace Lineup.Hosting;

/// <summary>What <see cref="IndexBenchmark"/> builds and measures.</summary>
public sealed record IndexBenchmarkOptions
{
    /// <summary>Gallery size: the real sample faces plus synthetic faces up to this many (1,000 to 100,000,000).</summary>
    public int Faces { get; init; } = 100_000;

    /// <summary>Probes searched per setting; half are new faces of gallery identities, half of identities not in it.</summary>
    public int Queries { get; init; } = 1_000;

    /// <summary>Probes timed through the exact (brute-force, float32, one thread) baseline.</summary>
    public int ExactQueries { get; init; } = 20;

    public int K { get; init; } = 10;

    public IReadOnlyList<VectorQuantization> Quantizations { get; init; } = [VectorQuantization.F16, VectorQuantization.I8];

    public IReadOnlyList<int> Connectivities { get; init; } = [16];

    public int ExpansionAdd { get; init; } = 128;

    public IReadOnlyList<int> ExpansionSearch { get; init; } = [32, 64, 128];

    /// <summary>
    /// Index engines to build: "usearch" (the HNSW graph, once per quantization × connectivity) and "ivf" (the inverted
    /// file over int8 codes, <see cref="IvfVectorIndex"/>).
    /// </summary>
    public IReadOnlyList<string> Engines { get; init; } = ["usearch"];

    /// <summary>IVF: lists scanned per search, one measurement each; 0 is the index's own size-chosen number.</summary>
    public IReadOnlyList<int> Probes { get; init; } = [0];

    /// <summary>IVF: list count; null follows the gallery size (<see cref="IvfVectorIndex.ListsFor"/>).</summary>
    public int? Lists { get; init; }

    /// <summary>
    /// IVF: threads one search scans on, one measurement each (1 and 2: the exact baseline runs on one thread, so the
    /// one-thread figure is the like-for-like speed-up).
    /// </summary>
    public IReadOnlyList<int> ScanThreads { get; init; } = [1, 2];

    /// <summary>Search threads of the concurrent measurement (the single-query one always uses one).</summary>
    public int Threads { get; init; } = Math.Max(2, Environment.ProcessorCount);

    /// <summary>
    /// Over-fetch factors to measure: 1 takes the index's top k as they are; R fetches R × k and re-ranks them by exact
    /// cosine with the embeddings the catalog stores (int8 with a scale, <see cref="EmbeddingCodec"/>: the vectors are
    /// encoded and decoded here as they are there), which repairs the ordering that quantised index vectors get wrong among near-ties.
    /// </summary>
    public IReadOnlyList<int> Rerank { get; init; } = [1];

    public int Seed { get; init; } = 1;

    /// <summary>
    /// Keep the gallery as float16 for the ground truth (true), as float32 (false), or as float32 when that takes at
    /// most half the memory this process may use and as float16 otherwise (null, the default).
    /// </summary>
    public bool? HalfPrecisionGallery { get; init; }

    /// <summary>Vectors generated and added per step (also the ground truth's unit of work).</summary>
    public int BatchSize { get; init; } = 8_192;

    /// <summary>
    /// Where each built index is saved for the cold-start measurement, and the catalog sample is written (both deleted
    /// afterwards); null skips both.
    /// </summary>
    public string? ColdStartDirectory { get; init; }

    /// <summary>
    /// Synthetic faces written into a fresh SQLite catalog under <see cref="ColdStartDirectory"/> to measure the catalog's
    /// bytes per face (the file grows linearly; 0 skips it).
    /// </summary>
    public int CatalogSample { get; init; } = 20_000;

    /// <exception cref="ArgumentOutOfRangeException">A value outside its range, named by its property.</exception>
    public void Validate()
    {
        Check(Faces is >= 1_000 and <= 100_000_000, nameof(Faces), Faces, "The gallery must hold 1,000 to 100,000,000 faces.");
        Check(Queries is >= 2 and <= 100_000, nameof(Queries), Queries, "Give 2 to 100,000 queries.");
        Check(ExactQueries >= 1 && ExactQueries <= Queries, nameof(ExactQueries), ExactQueries, "Time 1 to --queries exact searches.");
        Check(K is >= 1 and <= 1_000, nameof(K), K, "k must be 1 to 1,000.");
        Check(Quantizations.Count > 0 && Quantizations.All(Enum.IsDefined), nameof(Quantizations), Quantizations.Count, "Give at least one of f32, f16, i8.");
        Check(Connectivities.Count > 0 && Connectivities.All(c => c is >= 2 and <= 256), nameof(Connectivities), Connectivities.Count, "Connectivity must be 2 to 256.");
        Check(ExpansionAdd is >= 1 and <= 4_096, nameof(ExpansionAdd), ExpansionAdd, "Build expansion must be 1 to 4,096.");
        Check(ExpansionSearch.Count > 0 && ExpansionSearch.All(e => e >= K && e <= 4_096), nameof(ExpansionSearch), ExpansionSearch.Count, $"Search expansion must be k ({K}) to 4,096.");
        Check(Engines.Count > 0 && Engines.All(e => e is "usearch" or "ivf"), nameof(Engines), string.Join(",", Engines), "Engines are usearch and ivf.");
        Check(Probes.Count > 0 && Probes.All(p => p is >= 0 and <= IvfVectorIndex.MaxLists), nameof(Probes), Probes.Count, $"Probes must be 0 (by size) to {IvfVectorIndex.MaxLists:N0}.");
        Check(Lists is null or (>= 1 and <= IvfVectorIndex.MaxLists), nameof(Lists), Lists ?? 0, $"Lists must be 1 to {IvfVectorIndex.MaxLists:N0}.");
        Check(ScanThreads.Count > 0 && ScanThreads.All(t => t is 1 or 2), nameof(ScanThreads), ScanThreads.Count, "Scan threads are 1 or 2.");
        Check(Threads is >= 1 and <= 256, nameof(Threads), Threads, "Threads must be 1 to 256.");
        Check(BatchSize is >= 64 and <= 1_000_000, nameof(BatchSize), BatchSize, "A batch holds 64 to 1,000,000 vectors.");
        Check(CatalogSample is >= 0 and <= 10_000_000, nameof(CatalogSample), CatalogSample, "The catalog sample holds 0 to 10,000,000 faces.");
        Check(Rerank.Count > 0 && Rerank.All(r => r is >= 1 and <= 100), nameof(Rerank), Rerank.Count, "Re-rank factors must be 1 to 100.");

        static void Check(bool ok, string name, object value, string message)
        {
            if (!ok)
            {
                throw new ArgumentOutOfRangeException(name, value, message);
            }
        }
    }
}

/// <summary>One search setting's figures.</summary>
/// <param name="ExpansionSearch">The search breadth: HNSW ef for usearch, lists scanned for ivf.</param>
/// <param name="ScanThreads">ivf: threads one search scanned on (usearch: 1).</param>
/// <param name="Rerank">Over-fetch factor: the index returned Rerank × k, re-ranked exactly (1: none).</param>
/// <param name="RecallAt10">Mean over all probes of |ANN top-k ∩ exact top-k| / k, exact float32 search in the same run as truth.</param>
/// <param name="RecallMated">The same over probes whose identity is in the gallery.</param>
/// <param name="RecallNonMated">The same over probes of identities not in the gallery (their top-k are all strangers: near-ties).</param>
/// <param name="NearestFound">Share of probes whose exact nearest face is among the ANN top-k: for a mated probe, almost always
/// the person's own face, so this is the "does the search find the person" figure.</param>
/// <param name="SpeedupOverExact">Exact search's mean latency (one thread, same run) over this setting's mean latency (one thread).</param>
public sealed record IndexSearchResult(
    int ExpansionSearch,
    int Rerank,
    double RecallAt10,
    double RecallMated,
    double RecallNonMated,
    double NearestFound,
    double MeanMs,
    double P50Ms,
    double P99Ms,
    double QueriesPerSecond,
    int Threads,
    double ConcurrentQueriesPerSecond,
    double ConcurrentP50Ms,
    double ConcurrentP99Ms,
    double SpeedupOverExact,
    int ScanThreads = 1);

/// <summary>Time from a fresh process's start to its first search answer, on an index file the page cache holds.</summary>
/// <param name="Mode">"view" (memory-mapped) or "load" (read into memory).</param>
/// <param name="ProcessStartToAnswerMs">From the child process's start (as the OS records it) to its first answer.</param>
/// <param name="OpenMs">Opening the index file, within the child.</param>
/// <param name="FirstSearchMs">The first search, within the child.</param>
/// <param name="ResidentBytes">
/// The child's resident memory (RSS) once the index is wholly in place (for the inverted file, after its background key
/// map), after a full garbage collection: what a process holding the index and answering takes, runtime included.
/// </param>
public sealed record ColdStartResult(string Mode, double ProcessStartToAnswerMs, double OpenMs, double FirstSearchMs, long ResidentBytes = 0);

/// <summary>One built index (an engine; for usearch a quantization × connectivity) and its searches.</summary>
/// <param name="Engine">"usearch" or "ivf" (then <paramref name="Quantization"/> is I8, <paramref name="Connectivity"/> and
/// <paramref name="ExpansionAdd"/> 0, <paramref name="Lists"/> the list count the build ended with and
/// <paramref name="CodeDimensions"/> the components a code holds).</param>
public sealed record IndexBuildResult(
    VectorQuantization Quantization,
    int Connectivity,
    int ExpansionAdd,
    double BuildSeconds,
    double VectorsPerSecond,
    long MemoryBytes,
    double MemoryBytesPerFace,
    long FileBytes,
    IReadOnlyList<IndexSearchResult> Searches,
    IReadOnlyList<ColdStartResult> ColdStarts,
    string Engine = "usearch",
    int Lists = 0,
    int CodeDimensions = 0);

/// <summary>Everything one <c>lineup bench index</c> run measured.</summary>
public sealed record IndexBenchmarkResult(
    int Faces,
    int RealFaces,
    int SyntheticFaces,
    long Identities,
    int Queries,
    int Dimensions,
    int ProcessorCount,
    string Hardware,
    SyntheticFitReport Fit,
    double GenerateSeconds,
    double GroundTruthSeconds,
    double ExactMeanMs,
    double ExactP99Ms,
    CatalogSizeResult? Catalog,
    IReadOnlyList<IndexBuildResult> Builds,
    string GalleryPrecision = "float32");

/// <summary>
/// The embedded catalog's size per face: <paramref name="Faces"/> synthetic faces (each its own image, as
/// <c>bench gallery</c> writes them: no pictures) written into a fresh SQLite catalog, the file's growth over its empty
/// size after a checkpoint, divided by the faces.
/// </summary>
public sealed record CatalogSizeResult(int Faces, long EmptyBytes, long Bytes, double BytesPerFace, double FacesPerSecond)
{
    /// <summary>Bytes per face with every embedding stored as int8 (format 1): before the model has a basis.</summary>
    public double Int8BytesPerFace { get; init; }

    /// <summary>Directions of the embedding basis fitted on the sample (null: none), and its bytes, stored once per catalog.</summary>
    public int? BasisComponents { get; init; }

    /// <summary>The basis's bytes in the file (once per catalog; left out of <see cref="BytesPerFace"/>).</summary>
    public long BasisBytes { get; init; }

    /// <summary>Sample faces left as int8 because they lie outside the basis.</summary>
    public long OutsideBasis { get; init; }
}

/// <summary>
/// Measures the embedded index on a realistic gallery: the catalog's real faces (a seeded sample of up to
/// <see cref="SyntheticGallery.MaxFitFaces"/>) plus synthetic identities fitted to them, held in memory (nothing is
/// written to the catalog). Ground truth is exact float32 search over the same vectors in the same run; the exact
/// baseline's latency is timed on one thread in the same run, so ratios hold on a noisy machine.
/// </summary>
public static class IndexBenchmark
{
    /// <summary>Runs the benchmark; <paramref name="coldStart"/> measures a fresh process opening a saved index (null skips it).</summary>
    public static async Task<IndexBenchmarkResult> RunAsync(
        SyntheticGallery.Generator generator,
        IndexBenchmarkOptions options,
        Func<string, USearchOptions, string, CancellationToken, Task<ColdStartResult>>? coldStart,
        IProgress<string>? progress = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var d = generator.Dimensions;
        var real = generator.RealSample;
        if (real.Count >= options.Faces)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Faces, $"The gallery must be larger than the {real.Count:N0} real faces it starts with.");
        }

        // The gallery is kept for the exact ground truth: as float32 when it takes at most half of the memory this process
        // may use, else as float16 (10M faces of 512 dimensions take 10 GB so).
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var half = options.HalfPrecisionGallery ?? (long)options.Faces * d * sizeof(float) > available / 2;
        var needed = (long)options.Faces * d * (half ? 2 : sizeof(float));
        if (needed > available / 2)
        {
            throw new InsufficientMemoryException(
                $"{options.Faces:N0} faces take {needed / 1e9:0.0} GB even as float16 (kept for the exact ground truth); this process may use " +
                $"{available / 1e9:0.0} GB and the index needs room too. Use fewer --faces.");
        }

        // The gallery: real faces first (keys 1..R), then synthetic faces (keys R+1..), in blocks.
        var clock = Stopwatch.StartNew();
        var synthetic = options.Faces - real.Count;
        var blocks = new GalleryBlocks(d, half);
        var blockKeys = new List<long[]>();
        var realBlock = new float[real.Count * d];
        for (var i = 0; i < real.Count; i++)
        {
            real[i].CopyTo(realBlock.AsSpan(i * d, d));
        }

        blocks.Add(realBlock);
        blockKeys.Add([.. Enumerable.Range(1, real.Count).Select(i => (long)i)]);
        long lastIdentity = 0;
        for (var done = 0; done < synthetic;)
        {
            ct.ThrowIfCancellationRequested();
            var count = Math.Min(options.BatchSize, synthetic - done);
            var vectors = new float[count * d];
            var identities = await Task.Run(() => generator.Faces(done, count, vectors), ct).ConfigureAwait(false);
            lastIdentity = identities[^1];
            blocks.Add(vectors);
            var first = real.Count + done + 1L;
            blockKeys.Add([.. Enumerable.Range(0, count).Select(i => first + i)]);
            done += count;
            progress?.Report($"generating: {done:N0}/{synthetic:N0} synthetic faces");
        }

        var generateSeconds = clock.Elapsed.TotalSeconds;
        progress?.Report("fitting the embedding basis a catalog of this gallery would store it in (the re-rank scores candidates as stored)…");
        blocks.FitCatalogBasis();

        // Probes: even ones are new faces of gallery identities (complete ones: the last may be cut off), odd ones of
        // identities past the gallery's end.
        var identitiesInGallery = Math.Max(1, lastIdentity);
        var probeIdentities = new long[options.Queries];
        var pick = new Random(options.Seed);
        for (var q = 0; q < probeIdentities.Length; q++)
        {
            probeIdentities[q] = q % 2 == 0 ? pick.NextInt64(identitiesInGallery) : lastIdentity + 1 + q;
        }

        var probes = new float[options.Queries * d];
        generator.Probes(probeIdentities, 0, probes);

        progress?.Report($"exact ground truth: {options.Queries:N0} probes against {options.Faces:N0} faces…");
        clock.Restart();
        var truth = GroundTruth(blocks, blockKeys, probes, options.Queries, d, options.K);
        var groundTruthSeconds = clock.Elapsed.TotalSeconds;

        progress?.Report($"exact baseline: {options.ExactQueries} probes, one thread…");
        var exact = new double[options.ExactQueries];
        var scratch = new VectorHit[options.K];
        for (var q = 0; q < exact.Length; q++)
        {
            var start = Stopwatch.GetTimestamp();
            ExactSearch(blocks, blockKeys, probes.AsSpan(q * d, d), scratch);
            exact[q] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        var exactMean = exact.Average();
        if (half)
        {
            progress?.Report($"the gallery is held as float16 ({needed / 1e9:0.0} GB): exact search reads float16 rows and multiplies in float32");
        }

        CatalogSizeResult? catalogSize = null;
        if (options.ColdStartDirectory is { } sampleDirectory && options.CatalogSample > 0)
        {
            catalogSize = await MeasureCatalogAsync(generator, Path.Combine(sampleDirectory, "catalog-sample"), options.CatalogSample, progress, ct).ConfigureAwait(false);
        }

        var builds = new List<IndexBuildResult>();
        string hardware = "unknown";
        foreach (var quantization in options.Engines.Contains("usearch") ? options.Quantizations : [])
        {
            foreach (var connectivity in options.Connectivities)
            {
                var settings = new USearchOptions
                {
                    Dimensions = d,
                    Quantization = quantization,
                    Connectivity = connectivity,
                    ExpansionAdd = options.ExpansionAdd,
                    ExpansionSearch = options.ExpansionSearch[0],
                    Threads = options.Threads,
                };
                builds.Add(await MeasureAsync(settings, blocks, blockKeys, probes, truth, options, exactMean, coldStart, progress, h => hardware = h, ct)
                    .ConfigureAwait(false));
            }
        }

        if (options.Engines.Contains("ivf"))
        {
            builds.Add(await MeasureIvfAsync(d, blocks, blockKeys, probes, truth, options, exactMean, coldStart, progress, ct).ConfigureAwait(false));
        }

        return new IndexBenchmarkResult(
            options.Faces, real.Count, synthetic, lastIdentity + 1, options.Queries, d, Environment.ProcessorCount, hardware, generator.Fit,
            generateSeconds, groundTruthSeconds, exactMean, Percentile([.. exact.Order()], 0.99), catalogSize, builds,
            half ? "float16" : "float32");
    }

    private static async Task<CatalogSizeResult> MeasureCatalogAsync(
        SyntheticGallery.Generator generator, string directory, int faces, IProgress<string>? progress, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "catalog.db");
        try
        {
            long empty, full;
            var clock = new Stopwatch();
            await using (var catalog = await Storage.SqliteCatalog.OpenAsync(path, "bench", ct).ConfigureAwait(false))
            {
                var collection = await catalog.EnsureCollectionAsync(SyntheticGallery.CollectionName, SyntheticGallery.LawfulBasis, SyntheticGallery.Jurisdiction, ct)
                    .ConfigureAwait(false);
                empty = SizeOf(path);
                clock.Start();
                const int Batch = 2_000;
                for (var done = 0; done < faces; done += Batch)
                {
                    var count = Math.Min(Batch, faces - done);
                    var images = generator.Images(collection.Id, done, count);
                    await catalog.AddImagesAsync(images, ct).ConfigureAwait(false);
                    progress?.Report($"catalog sample: {done + count:N0}/{faces:N0} faces");
                }

                clock.Stop();
            }

            // Closing the catalog checkpoints its write-ahead log into the file.
            full = SizeOf(path);

            // Then as a large catalog holds its faces: in the model's embedding basis, fitted on these faces (a catalog fits
            // it once it holds 20,000); the sample's own rows re-encoded in it, the file compacted.
            EmbeddingBasisInfo? basis;
            EmbeddingCompaction? compaction = null;
            long compacted = full;
            await using (var catalog = await Storage.SqliteCatalog.OpenAsync(path, "bench", ct).ConfigureAwait(false))
            {
                progress?.Report("catalog sample: fitting the embedding basis and re-encoding the sample in it…");
                basis = await catalog.EnsureEmbeddingBasisAsync(0, ct).ConfigureAwait(false);
                if (basis is not null)
                {
                    compaction = await catalog.CompactEmbeddingsAsync(null, ct).ConfigureAwait(false);
                }
            }

            if (basis is not null)
            {
                compacted = SizeOf(path);
            }

            // The basis is stored once per catalog (its float32 directions and scales, on overflow pages): not a per-face cost.
            var basisBytes = basis is null ? 0 : ((((long)basis.Components * (basis.Dimensions + 1) * sizeof(float)) + 4095) / 4096 * 4096);
            return new CatalogSizeResult(
                faces, empty, compacted, (double)(compacted - empty - basisBytes) / faces, faces / clock.Elapsed.TotalSeconds)
            {
                Int8BytesPerFace = (double)(full - empty) / faces,
                BasisComponents = basis?.Components,
                BasisBytes = basisBytes,
                OutsideBasis = compaction?.OutsideBasis ?? 0,
            };
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }

        static long SizeOf(string file) =>
            new[] { file, file + "-wal" }.Where(File.Exists).Sum(f => new FileInfo(f).Length);
    }

    private static async Task<IndexBuildResult> MeasureAsync(
        USearchOptions settings,
        GalleryBlocks blocks,
        List<long[]> blockKeys,
        float[] probes,
        long[][] truth,
        IndexBenchmarkOptions options,
        double exactMean,
        Func<string, USearchOptions, string, CancellationToken, Task<ColdStartResult>>? coldStart,
        IProgress<string>? progress,
        Action<string> hardware,
        CancellationToken ct)
    {
        var label = $"{settings.Quantization} M {settings.Connectivity}";
        using var index = new USearchVectorIndex(settings);
        hardware(index.HardwareAcceleration);
        var buildSeconds = await BuildAsync(index, index.Reserve, label, blocks, blockKeys, options, progress, ct).ConfigureAwait(false);
        var memory = index.MemoryUsageBytes;
        var searches = new List<IndexSearchResult>();
        var gallery = new Gallery(blocks, blockKeys, options.BatchSize);
        foreach (var ef in options.ExpansionSearch)
        {
            progress?.Report($"{label}: searching at ef {ef}…");
            index.ExpansionSearch = ef;
            foreach (var rerank in options.Rerank)
            {
                searches.Add(Search(index, probes, truth, options, ef, rerank, exactMean, gallery));
            }
        }

        var runtime = settings with { ExpansionSearch = options.ExpansionSearch[^1] };
        var (fileBytes, colds) = await ColdStartsAsync(
            options, coldStart, label, $"bench-{settings.Quantization}-{settings.Connectivity}.usearch", index.Save, runtime, ["view", "load"], progress, ct)
            .ConfigureAwait(false);
        return new IndexBuildResult(
            settings.Quantization, settings.Connectivity, settings.ExpansionAdd, buildSeconds, options.Faces / buildSeconds, memory,
            (double)memory / options.Faces, fileBytes, searches, colds);
    }

    /// <summary>The inverted-file index: built with the gallery size reserved (so it trains once), searched at each probe count.</summary>
    private static async Task<IndexBuildResult> MeasureIvfAsync(
        int dimensions,
        GalleryBlocks blocks,
        List<long[]> blockKeys,
        float[] probes,
        long[][] truth,
        IndexBenchmarkOptions options,
        double exactMean,
        Func<string, USearchOptions, string, CancellationToken, Task<ColdStartResult>>? coldStart,
        IProgress<string>? progress,
        CancellationToken ct)
    {
        const string Label = "ivf i8";
        using var index = new IvfVectorIndex(new IvfOptions { Dimensions = dimensions, Lists = options.Lists, Threads = options.Threads, Seed = options.Seed });
        var buildSeconds = await BuildAsync(index, index.Reserve, Label, blocks, blockKeys, options, progress, ct).ConfigureAwait(false);

        // As a rebuild does (FaceIndexStore): the build ends by giving back the lists' growth slack, so the memory measured
        // is what the index holds from then on, and what a reopened one holds.
        var trim = Stopwatch.StartNew();
        index.TrimExcess();
        buildSeconds += trim.Elapsed.TotalSeconds;
        var memory = index.MemoryUsageBytes;

        // The arrays the trim replaced are garbage (3 GB at 10M): collect them now, or a background collection runs on the
        // second core while the searches are timed (at 10M the two-scan-thread p50 was 14.2 ms without this collection
        // and 10.1 ms with it, one run each).
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        var searches = new List<IndexSearchResult>();
        var gallery = new Gallery(blocks, blockKeys, options.BatchSize);
        foreach (var count in options.Probes)
        {
            index.Probes = count == 0 ? IvfVectorIndex.ProbesFor(index.Lists) : count;
            foreach (var threads in options.ScanThreads)
            {
                index.ScanThreads = threads;
                progress?.Report($"{Label}: searching {index.Probes} of {index.Lists} lists on {threads} thread(s)…");
                foreach (var rerank in options.Rerank)
                {
                    searches.Add(Search(index, probes, truth, options, index.Probes, rerank, exactMean, gallery) with { ScanThreads = threads });
                }
            }
        }

        var (fileBytes, colds) = await ColdStartsAsync(
            options, coldStart, Label, "bench.ivf", index.Save, new USearchOptions { Dimensions = dimensions }, ["ivf"], progress, ct).ConfigureAwait(false);
        return new IndexBuildResult(
            VectorQuantization.I8, 0, 0, buildSeconds, options.Faces / buildSeconds, memory, (double)memory / options.Faces, fileBytes, searches, colds,
            "ivf", index.Lists, index.CodeDimensions);
    }

    /// <summary>Adds the gallery block by block (the size reserved first); returns the seconds it took.</summary>
    private static async Task<double> BuildAsync(
        IVectorIndex index, Action<long> reserve, string label, GalleryBlocks blocks, List<long[]> blockKeys, IndexBenchmarkOptions options,
        IProgress<string>? progress, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        reserve(options.Faces);
        var added = 0L;
        var lastReport = Stopwatch.GetTimestamp();
        float[]? buffer = null;
        for (var b = 0; b < blocks.Count; b++)
        {
            ct.ThrowIfCancellationRequested();
            var (keys, vectors) = (blockKeys[b], blocks.Single(b, ref buffer));
            await Task.Run(() => index.AddRange(keys, vectors.AsSpan(0, keys.Length * blocks.Dimensions)), ct).ConfigureAwait(false);
            added += keys.Length;
            if (Stopwatch.GetElapsedTime(lastReport).TotalSeconds >= 5)
            {
                lastReport = Stopwatch.GetTimestamp();
                progress?.Report($"{label}: built {added:N0}/{options.Faces:N0} ({added / clock.Elapsed.TotalSeconds:N0} vectors/s)");
            }
        }

        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Saves the index and times a new process's first answer from it in each mode; the file is deleted after.</summary>
    private static async Task<(long FileBytes, List<ColdStartResult> ColdStarts)> ColdStartsAsync(
        IndexBenchmarkOptions options,
        Func<string, USearchOptions, string, CancellationToken, Task<ColdStartResult>>? coldStart,
        string label,
        string fileName,
        Func<string, long> save,
        USearchOptions runtime,
        string[] modes,
        IProgress<string>? progress,
        CancellationToken ct)
    {
        var colds = new List<ColdStartResult>();
        if (options.ColdStartDirectory is not { } directory || coldStart is null)
        {
            return (0, colds);
        }

        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, fileName);
        try
        {
            save(path);
            var fileBytes = new FileInfo(path).Length;
            foreach (var mode in modes)
            {
                progress?.Report($"{label}: cold start ({mode}) in a new process…");
                colds.Add(await coldStart(path, runtime, mode, ct).ConfigureAwait(false));
            }

            return (fileBytes, colds);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static IndexSearchResult Search(
        IVectorIndex index, float[] probes, long[][] truth, IndexBenchmarkOptions options, int ef, int rerank, double exactMean, Gallery gallery)
    {
        var d = index.Dimensions;
        var q = options.Queries;
        var hits = new VectorHit[options.K];
        var wide = new VectorHit[options.K * rerank];
        var (row, exact) = (new float[d], new float[d]);

        // Warm-up: a few searches so the first timed one does not pay for page faults and JIT.
        for (var i = 0; i < Math.Min(q, 20); i++)
        {
            Find(probes.AsSpan(i * d, d), hits, wide, row, exact);
        }

        var latencies = new double[q];
        var recalls = new double[q];
        var nearest = 0;
        var wall = Stopwatch.StartNew();
        for (var i = 0; i < q; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var found = Find(probes.AsSpan(i * d, d), hits, wide, row, exact);
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            recalls[i] = Recall(hits.AsSpan(0, found), truth[i]);
            nearest += truth[i].Length > 0 && Recall(hits.AsSpan(0, found), truth[i].AsSpan(0, 1)) > 0 ? 1 : 0;
        }

        var single = wall.Elapsed.TotalSeconds;

        // Concurrent: the same probes split over the threads, each its own closed loop.
        var threads = options.Threads;
        var concurrent = new double[q];
        wall.Restart();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var own = new VectorHit[options.K];
            var ownWide = new VectorHit[wide.Length];
            var (ownRow, ownExact) = (new float[d], new float[d]);
            for (var i = t; i < q; i += threads)
            {
                var start = Stopwatch.GetTimestamp();
                Find(probes.AsSpan(i * d, d), own, ownWide, ownRow, ownExact);
                concurrent[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        });
        var parallelSeconds = wall.Elapsed.TotalSeconds;

        var sorted = latencies.Order().ToArray();
        var sortedConcurrent = concurrent.Order().ToArray();
        var mean = latencies.Average();
        return new IndexSearchResult(
            ef,
            rerank,
            recalls.Average(),
            recalls.Where((_, i) => i % 2 == 0).Average(),
            recalls.Where((_, i) => i % 2 == 1).Average(),
            (double)nearest / q,
            mean,
            Percentile(sorted, 0.5),
            Percentile(sorted, 0.99),
            q / single,
            threads,
            q / parallelSeconds,
            Percentile(sortedConcurrent, 0.5),
            Percentile(sortedConcurrent, 0.99),
            exactMean / mean);

        int Find(ReadOnlySpan<float> probe, VectorHit[] top, VectorHit[] candidates, float[] row, float[] exactBuffer)
        {
            if (rerank == 1)
            {
                return index.Search(probe, top);
            }

            var found = index.Search(probe, candidates);
            for (var c = 0; c < found; c++)
            {
                // The catalog keeps 10-bit coefficients of its basis (EmbeddingCodec): round as it does, then score exactly.
                // Encoding here costs a projection the real re-rank does not pay (it only decodes): the latency is a
                // little pessimistic.
                gallery.AsCatalogKeepsIt(candidates[c].Key, exactBuffer);
                candidates[c] = new VectorHit(candidates[c].Key, TensorPrimitives.Dot(exactBuffer, probe));
            }

            candidates.AsSpan(0, found).Sort(static (a, b) => b.Similarity.CompareTo(a.Similarity));
            var kept = Math.Min(found, top.Length);
            candidates.AsSpan(0, kept).CopyTo(top);
            return kept;
        }
    }

    /// <summary>Key → vector over the benchmark's blocks (keys are dense: the real block, then synthetic blocks of BatchSize).</summary>
    private sealed class Gallery(GalleryBlocks blocks, List<long[]> keys, int batchSize)
    {
        private readonly int _real = keys[0].Length;

        /// <summary>
        /// The vector of <paramref name="key"/> as the catalog gives it back (<see cref="EmbeddingCodec"/>, in the basis the
        /// catalog would fit: <see cref="GalleryBlocks.CatalogBasis"/>), in float32.
        /// </summary>
        public void AsCatalogKeepsIt(long key, Span<float> vector)
        {
            var (block, row) = key <= _real ? (0, (int)(key - 1)) : (1 + (int)((key - _real - 1) / batchSize), (int)((key - _real - 1) % batchSize));
            blocks.Row(block, row, vector);
            EmbeddingCodec.ToStored(vector, blocks.CatalogBasis);
        }
    }

    /// <summary>
    /// The benchmark gallery's vectors in blocks, as float32 or (for galleries too large for that) float16. Readers ask
    /// for a block or a row as float32.
    /// </summary>
    private sealed class GalleryBlocks(int dimensions, bool half)
    {
        private readonly List<float[]> _single = [];
        private readonly List<Half[]> _half = [];

        public int Dimensions => dimensions;

        public bool IsHalf => half;

        /// <summary>
        /// The embedding basis a catalog of these vectors fits (<see cref="FitCatalogBasis"/>), or null: the re-rank scores
        /// candidates as the catalog stores them.
        /// </summary>
        public EmbeddingBasis? CatalogBasis { get; private set; }

        /// <summary>
        /// Fits <see cref="CatalogBasis"/> as a catalog of these vectors would: on up to
        /// <see cref="EmbeddingBasis.MaxSampleFaces"/> of them spread evenly, each as stored before there is a basis (int8).
        /// </summary>
        public void FitCatalogBasis()
        {
            var total = 0L;
            for (var b = 0; b < Count; b++)
            {
                total += Rows(b);
            }

            var d = dimensions;
            var take = (int)Math.Min(total, EmbeddingBasis.MaxSampleFaces);
            if (take < EmbeddingBasis.MinimumSample(d))
            {
                CatalogBasis = null;
                return;
            }

            var sample = new float[take * d];
            var stride = total / take;
            var (block, row, n) = (0, 0L, 0);
            for (var i = 0L; i < total && n < take; i++)
            {
                if (i % stride == 0)
                {
                    Row(block, (int)row, sample.AsSpan(n * d, d));
                    EmbeddingCodec.ToStored(sample.AsSpan(n * d, d));
                    n++;
                }

                if (++row == Rows(block))
                {
                    (block, row) = (block + 1, 0);
                }
            }

            CatalogBasis = EmbeddingBasis.Fit(1, sample.AsSpan(0, n * d), n, d);
        }

        public int Count => half ? _half.Count : _single.Count;

        public void Add(float[] vectors)
        {
            if (!half)
            {
                _single.Add(vectors);
                return;
            }

            var stored = new Half[vectors.Length];
            TensorPrimitives.ConvertToHalf(vectors, stored);
            _half.Add(stored);
        }

        public int Rows(int block) => (half ? _half[block].Length : _single[block].Length) / dimensions;

        /// <summary>Block <paramref name="block"/> as float32: the array itself, or its rows converted into <paramref name="buffer"/>.</summary>
        public float[] Single(int block, ref float[]? buffer)
        {
            if (!half)
            {
                return _single[block];
            }

            var stored = _half[block];
            if (buffer is null || buffer.Length < stored.Length)
            {
                buffer = new float[stored.Length];
            }

            TensorPrimitives.ConvertToSingle(stored, buffer);
            return buffer;
        }

        /// <summary>One row as float32 (a float16 row widened) into <paramref name="vector"/>.</summary>
        public void Row(int block, int row, Span<float> vector)
        {
            var d = dimensions;
            if (half)
            {
                TensorPrimitives.ConvertToSingle(_half[block].AsSpan(row * d, d), vector);
                return;
            }

            _single[block].AsSpan(row * d, d).CopyTo(vector);
        }

        /// <summary>The dot product of one row with <paramref name="probe"/>; a float16 row is widened into <paramref name="scratch"/> first.</summary>
        public float Dot(int block, int row, ReadOnlySpan<float> probe, Span<float> scratch)
        {
            var d = dimensions;
            if (!half)
            {
                return TensorPrimitives.Dot(_single[block].AsSpan(row * d, d), probe);
            }

            TensorPrimitives.ConvertToSingle(_half[block].AsSpan(row * d, d), scratch);
            return TensorPrimitives.Dot(scratch, probe);
        }
    }

    private static double Recall(ReadOnlySpan<VectorHit> found, ReadOnlySpan<long> truth)
    {
        var matched = 0;
        foreach (var hit in found)
        {
            if (truth.Contains(hit.Key))
            {
                matched++;
            }
        }

        return (double)matched / truth.Length;
    }

    /// <summary>Exact top-k of every probe: the gallery's blocks in parallel, each against all probes (the block stays in cache).</summary>
    private static long[][] GroundTruth(GalleryBlocks blocks, List<long[]> blockKeys, float[] probes, int queries, int d, int k)
    {
        var partial = new Top[blocks.Count][];
        Parallel.For(0, blocks.Count, () => (float[]?)null, (b, _, buffer) =>
        {
            var tops = new Top[queries];
            var (vectors, keys) = (blocks.Single(b, ref buffer), blockKeys[b]);
            for (var q = 0; q < queries; q++)
            {
                tops[q] = new Top(k);
            }

            // Probes in tiles of 64 against rows of the block: each row is read once per tile.
            const int Tile = 64;
            for (var q0 = 0; q0 < queries; q0 += Tile)
            {
                var q1 = Math.Min(queries, q0 + Tile);
                for (var r = 0; r < keys.Length; r++)
                {
                    var row = vectors.AsSpan(r * d, d);
                    for (var q = q0; q < q1; q++)
                    {
                        tops[q].Offer(keys[r], TensorPrimitives.Dot(row, probes.AsSpan(q * d, d)));
                    }
                }
            }

            partial[b] = tops;
            return buffer;
        }, _ => { });

        var truth = new long[queries][];
        for (var q = 0; q < queries; q++)
        {
            var merged = new Top(k);
            foreach (var tops in partial)
            {
                tops[q].CopyTo(merged);
            }

            truth[q] = merged.Keys();
        }

        return truth;
    }

    /// <summary>
    /// The baseline a search would be without an index: every vector compared, one thread, in float32 (a float16
    /// gallery's rows widened one at a time, as a scan of the catalog's embeddings would).
    /// </summary>
    private static void ExactSearch(GalleryBlocks blocks, List<long[]> blockKeys, ReadOnlySpan<float> probe, VectorHit[] results)
    {
        var top = new Top(results.Length);
        Span<float> scratch = stackalloc float[probe.Length];
        for (var b = 0; b < blocks.Count; b++)
        {
            var keys = blockKeys[b];
            for (var r = 0; r < keys.Length; r++)
            {
                top.Offer(keys[r], blocks.Dot(b, r, probe, scratch));
            }
        }

        top.CopyTo(results);
    }

    private static double Percentile(double[] sorted, double level) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(level * sorted.Length) - 1, 0, sorted.Length - 1)];

    /// <summary>The k largest similarities seen, kept sorted (k is small: 10).</summary>
    private sealed class Top(int k)
    {
        private readonly long[] _keys = new long[k];
        private readonly float[] _scores = new float[k];
        private int _count;

        public void Offer(long key, float score)
        {
            if (_count == _keys.Length && score <= _scores[_count - 1])
            {
                return;
            }

            var i = _count < _keys.Length ? _count++ : _count - 1;
            while (i > 0 && _scores[i - 1] < score)
            {
                _scores[i] = _scores[i - 1];
                _keys[i] = _keys[i - 1];
                i--;
            }

            _scores[i] = score;
            _keys[i] = key;
        }

        public void CopyTo(Top other)
        {
            for (var i = 0; i < _count; i++)
            {
                other.Offer(_keys[i], _scores[i]);
            }
        }

        public void CopyTo(VectorHit[] results)
        {
            for (var i = 0; i < _count; i++)
            {
                results[i] = new VectorHit(_keys[i], _scores[i]);
            }
        }

        public long[] Keys() => _keys[.._count];
    }
}
