using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json;
using Lineup.Core.Evaluation;
using Lineup.Core.Indexing;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>Same-run yardsticks for the clustering times: the machine's speed at the two things clustering does most.</summary>
/// <param name="SampleFaces">Faces in the sample (a seeded reservoir of the gallery).</param>
/// <param name="ExactKnnSeconds">An exact (brute-force) k-nearest-neighbour graph over the sample: every pair's cosine.</param>
/// <param name="IndexSearchesPerSecond">Plain index searches (k = 64, the first window of a range query) for the sample's faces,
/// with as many workers as clustering uses.</param>
public sealed record ClusteringBaseline(int SampleFaces, int Neighbours, double ExactKnnSeconds, int Workers, double IndexSearchesPerSecond);

/// <summary>What <c>lineup bench cluster</c> measured.</summary>
/// <param name="RealFaces">Faces outside the synthetic collection.</param>
/// <param name="Full">The full clustering of the gallery.</param>
/// <param name="Incremental">Clustering again after <paramref name="AddedFaces"/> more synthetic faces arrived.</param>
/// <param name="NeighboursPerIndexSearch">The full run's neighbour stage over the time of one plain index search per linked face.</param>
/// <param name="FullPerExactKnn">The full run over the exact kNN graph of the sample.</param>
/// <param name="SyntheticScore">The full run's identities scored on the synthetic faces, whose identities are known (their
/// source URLs): how well clustering holds at this gallery size, as far as the synthetic faces resemble real ones.</param>
public sealed record ClusteringBenchResult(
    long GalleryFaces,
    long RealFaces,
    long SyntheticFaces,
    int Workers,
    string IndexKind,
    ClusteringBaseline Baseline,
    ClusteringRun Full,
    int AddedFaces,
    ClusteringRun Incremental,
    double NeighboursPerIndexSearch,
    double FullPerExactKnn,
    double TargetSeconds,
    ClusteringScore? SyntheticScore)
{
    public bool WithinTarget => Full.Elapsed.TotalSeconds <= TargetSeconds;
}

/// <summary>
/// <c>lineup bench cluster</c>: identity clustering at scale. A gallery of real faces (already in the data directory, or
/// ingested with <c>--real</c>) grown with <see cref="SyntheticGallery"/> to <c>--faces</c>, clustered in full, then
/// again incrementally after 1,000 more faces arrive. The times come with baselines measured in the same run (an exact
/// kNN graph over a 10,000-face sample and the index's plain search rate), since the machine is shared and noisy.
/// </summary>
public static class NetworkBench
{
    /// <summary>The issue's target: 100,000 faces clustered in under 5 minutes.</summary>
    public const double TargetSeconds = 300;

    private const string RealCollection = "bench-real";

    public static Command Build()
    {
        var faces = new Option<int>("--faces") { Description = "Faces in the gallery for the full run (real plus synthetic; 1,000 to 10,000,000)", DefaultValueFactory = _ => 100_000 };
        var real = new Option<string?>("--real") { Description = "Ingest the photos of this folder (or manifest, archive, WARC) first, as the real faces" };
        var added = new Option<int>("--added") { Description = "Synthetic faces added before the incremental run", DefaultValueFactory = _ => 1_000 };
        var sample = new Option<int>("--sample") { Description = "Faces in the baselines' sample", DefaultValueFactory = _ => 10_000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic faces and of the sample", DefaultValueFactory = _ => 1 };
        var json = new Option<string?>("--json") { Description = "Also write the results to this JSON file" };
        var command = new Command(
            "cluster",
            "Cluster a gallery of --faces faces (real plus synthetic) in full, then incrementally after --added more, with same-run baselines. " +
            "Works in --data when given (kept; grown to --faces), else in a temporary data directory (removed).")
        {
            faces, real, added, sample, seed, json,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var settings = new Settings(parse.GetValue(faces), parse.GetValue(real), parse.GetValue(added), parse.GetValue(sample), parse.GetValue(seed));
            NetworkCommands.Require(settings.Faces is >= 1_000 and <= 10_000_000, "--faces", "must be 1,000 to 10,000,000");
            NetworkCommands.Require(settings.Added is >= 1 and <= 1_000_000, "--added", "must be 1 to 1,000,000");
            NetworkCommands.Require(settings.Sample is >= 100 and <= 100_000, "--sample", "must be 100 to 100,000");
            var options = GlobalOptions.Resolve(parse);
            options.ModelsDirectory = options.FullModelsDirectory;
            var scratch = parse.GetValue(GlobalOptions.Data) is null && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("LINEUP_DATA"));
            if (scratch)
            {
                options.DataDirectory = Path.Combine(Path.GetTempPath(), $"lineup-bench-cluster-{Guid.NewGuid():N}");
            }

            try
            {
                var result = await RunAsync(options, settings, NetworkCommands.ErrorProgress(parse), ct);
                Print(result);
                if (parse.GetValue(json) is { Length: > 0 } path)
                {
                    await File.WriteAllTextAsync(path, JsonSerializer.Serialize(new { settings, result, result.WithinTarget }, SearchCommands.Json), ct);
                }

                return ExitCodes.Ok;
            }
            finally
            {
                if (scratch && Directory.Exists(options.DataDirectory))
                {
                    Directory.Delete(options.DataDirectory, recursive: true);
                }
            }
        }));
        return command;
    }

    private sealed record Settings(int Faces, string? Real, int Added, int Sample, int Seed);

    private static async Task<ClusteringBenchResult> RunAsync(LineupOptions options, Settings settings, IProgress<string> progress, CancellationToken ct)
    {
        await using var engine = await LineupEngine.OpenAsync(options, progress, ct);
        if (settings.Real is { } real)
        {
            progress.Report($"ingesting the real faces of {real}…");
            var collection = await engine.Catalog.EnsureCollectionAsync(RealCollection, "benchmark run on local test photos", "ZZ", ct);
            await engine.IngestAsync(IngestSources.Open(real, options.SourceLimits), collection, null, resume: false, ct);
        }

        var stats = await engine.Catalog.GetStatsAsync(ct);
        if (stats.Faces < settings.Faces)
        {
            await AddSyntheticAsync(engine, settings, (int)(settings.Faces - stats.Faces), progress, ct);
        }

        var baseline = await MeasureBaselineAsync(engine, settings, progress, ct);

        progress.Report("full clustering…");
        var full = await NetworkCommands.ClusterAsync(engine, full: true, progress, ct);
        var score = await ScoreSyntheticAsync(engine, ct);
        await AddSyntheticAsync(engine, settings, settings.Added, progress, ct);
        progress.Report("incremental clustering…");
        var incremental = await NetworkCommands.ClusterAsync(engine, full: false, progress, ct);

        var synthetic = await engine.Catalog.FindCollectionAsync(SyntheticGallery.CollectionName, ct) is null
            ? 0
            : (await ((Core.Catalog.ISearchFilterCatalog)engine.Catalog).ResolveAsync(new Core.Catalog.SearchFilter([SyntheticGallery.CollectionName]).Normalize(), ct)).Count;
        var searchSeconds = full.LinkedFaces / baseline.IndexSearchesPerSecond;
        return new ClusteringBenchResult(
            full.Faces,
            full.Faces - (synthetic - settings.Added),
            synthetic - settings.Added,
            Math.Max(1, options.Workers),
            options.Index.Kind,
            baseline,
            full,
            settings.Added,
            incremental,
            full.Neighbours.TotalSeconds / searchSeconds,
            full.Elapsed.TotalSeconds / baseline.ExactKnnSeconds,
            TargetSeconds,
            score);
    }

    /// <summary>The current identities scored on the synthetic faces (label: the synthetic identity of the source URL).</summary>
    private static async Task<ClusteringScore?> ScoreSyntheticAsync(LineupEngine engine, CancellationToken ct)
    {
        if (engine.Catalog is not Core.Catalog.ISearchFilterCatalog filters || await engine.Catalog.FindCollectionAsync(SyntheticGallery.CollectionName, ct) is null)
        {
            return null;
        }

        var synthetic = (await filters.ResolveAsync(new Core.Catalog.SearchFilter([SyntheticGallery.CollectionName]).Normalize(), ct)).ToList();
        var identityOf = (await engine.Network.Store.ReadAssignmentsAsync(ct)).ToDictionary(a => a.FaceId, a => a.IdentityId);
        var items = new List<(long Label, long Cluster)>(synthetic.Count);
        foreach (var batch in synthetic.Chunk(2_000))
        {
            foreach (var (face, image) in await engine.Catalog.GetFacesWithImagesAsync(batch, ct))
            {
                if (SyntheticGallery.TryParseSourceUrl(image.Provenance.SourceUrl, out var label, out _) && identityOf.TryGetValue(face.Id, out var cluster))
                {
                    items.Add((label, cluster));
                }
            }
        }

        return ClusteringMetrics.Score(items);
    }

    private static async Task AddSyntheticAsync(LineupEngine engine, Settings settings, int faces, IProgress<string> progress, CancellationToken ct)
    {
        try
        {
            await SyntheticGallery.AddAsync(engine, new SyntheticGalleryOptions { Faces = faces, Seed = settings.Seed }, progress, ct);
        }
        catch (SyntheticGalleryException e)
        {
            throw new ArgumentException($"{e.Message} (--real FOLDER ingests them)", e);
        }
    }

    /// <summary>
    /// The exact kNN graph of a seeded sample (every pair's cosine, the k best kept per face) and the index's plain search
    /// rate for the same faces, both with the workers clustering uses.
    /// </summary>
    private static async Task<ClusteringBaseline> MeasureBaselineAsync(LineupEngine engine, Settings settings, IProgress<string> progress, CancellationToken ct)
    {
        var random = new Random(settings.Seed);
        var sample = new List<float[]>(settings.Sample);
        long seen = 0;
        await foreach (var stored in engine.Catalog.ReadEmbeddingsAsync(0, ct))
        {
            seen++;
            if (sample.Count < settings.Sample)
            {
                sample.Add(stored.Vector);
            }
            else if (random.NextInt64(seen) is var slot && slot < settings.Sample)
            {
                sample[(int)slot] = stored.Vector;
            }
        }

        var workers = Math.Max(1, engine.Options.Workers);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct };
        var k = engine.Network.Parameters.Neighbours;
        progress.Report($"baseline: exact {k}-NN graph of {sample.Count:N0} sampled faces ({workers} workers)…");
        var clock = Stopwatch.StartNew();
        var checksum = new double[sample.Count];
        Parallel.For(0, sample.Count, parallel, i =>
        {
            var best = new TopK(k);
            for (var j = 0; j < sample.Count; j++)
            {
                if (j != i)
                {
                    best.Offer(TensorPrimitives.Dot(sample[i], sample[j]));
                }
            }

            checksum[i] = best.Sum;
        });
        var exact = clock.Elapsed.TotalSeconds;

        progress.Report($"baseline: {sample.Count:N0} plain index searches (k = 64)…");
        var index = engine.Index;
        clock.Restart();
        Parallel.For(0, sample.Count, parallel, () => new VectorHit[64], (i, _, hits) =>
        {
            index.Search(sample[i], hits);
            return hits;
        }, _ => { });
        var searchRate = sample.Count / clock.Elapsed.TotalSeconds;
        GC.KeepAlive(checksum);
        return new ClusteringBaseline(sample.Count, k, exact, workers, searchRate);
    }

    private static void Print(ClusteringBenchResult r)
    {
        var table = new Table().AddColumns("measure", "full", "incremental");
        void Row(string name, string full, string incremental) => table.AddRow(name, full, incremental);
        static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        static string S(TimeSpan t) => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
        Row("faces (real + synthetic)", $"{N(r.GalleryFaces)} ({N(r.RealFaces)} + {N(r.SyntheticFaces)})", $"{N(r.Incremental.Faces)} (+{N(r.AddedFaces)})");
        Row("linked faces / faces queried", $"{N(r.Full.LinkedFaces)} / {N(r.Full.FacesQueried)}", $"{N(r.Incremental.LinkedFaces)} / {N(r.Incremental.FacesQueried)}");
        Row("edges", N(r.Full.Edges), N(r.Incremental.Edges));
        Row("identities", N(r.Full.Change.Identities), N(r.Incremental.Change.Identities));
        Row("faces moved / identities created / removed",
            $"{N(r.Full.Change.FacesMoved)} / {N(r.Full.Change.IdentitiesCreated)} / {N(r.Full.Change.IdentitiesRemoved)}",
            $"{N(r.Incremental.Change.FacesMoved)} / {N(r.Incremental.Change.IdentitiesCreated)} / {N(r.Incremental.Change.IdentitiesRemoved)}");
        Row("neighbours s", S(r.Full.Neighbours), S(r.Incremental.Neighbours));
        Row("clustering s", S(r.Full.Clustering), S(r.Incremental.Clustering));
        Row("writing s", S(r.Full.Writing), S(r.Incremental.Writing));
        Row("[bold]total s[/]", $"[bold]{S(r.Full.Elapsed)}[/]", $"[bold]{S(r.Incremental.Elapsed)}[/]");
        AnsiConsole.Write(table);

        var b = r.Baseline;
        var baselines = new Table().AddColumns("same-run baseline", "value", "ratio");
        baselines.AddRow(
            $"exact {b.Neighbours}-NN graph of {N(b.SampleFaces)} sampled faces ({b.Workers} workers)",
            $"{b.ExactKnnSeconds.ToString("0.00", CultureInfo.InvariantCulture)} s",
            $"full run = {r.FullPerExactKnn.ToString("0.0", CultureInfo.InvariantCulture)} × that");
        baselines.AddRow(
            $"plain index searches, k = 64 ({r.IndexKind}, {b.Workers} workers)",
            $"{b.IndexSearchesPerSecond.ToString("N0", CultureInfo.InvariantCulture)} /s",
            $"neighbour stage = {r.NeighboursPerIndexSearch.ToString("0.00", CultureInfo.InvariantCulture)} × one search per linked face");
        AnsiConsole.Write(baselines);
        if (r.SyntheticScore is { } q)
        {
            AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                $"Full run on the {N(q.Items)} synthetic faces ({N(q.Labels)} synthetic identities, {N(q.Clusters)} clusters): BCubed precision {q.BCubedPrecision:0.000}, " +
                $"recall {q.BCubedRecall:0.000}, F1 {q.BCubedF1:0.000}; pairwise precision {q.PairwisePrecision:0.000}, recall {q.PairwiseRecall:0.000}; {N(q.MergedClusters)} clusters merge synthetic identities."));
        }

        var verdict = r.WithinTarget ? "[green]within[/]" : "[red]over[/]";
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"{verdict} the target: {N(r.GalleryFaces)} faces clustered in {S(r.Full.Elapsed)} s (target {r.TargetSeconds:0} s)."));
    }

    /// <summary>The k largest values offered (a small min-heap), for the exact kNN baseline.</summary>
    private sealed class TopK(int k)
    {
        private readonly PriorityQueue<float, float> _heap = new(k + 1);

        public double Sum => _heap.UnorderedItems.Sum(i => (double)i.Element);

        public void Offer(float value)
        {
            if (_heap.Count < k)
            {
                _heap.Enqueue(value, value);
            }
            else if (value > _heap.Peek())
            {
                _heap.EnqueueDequeue(value, value);
            }
        }
    }
}
