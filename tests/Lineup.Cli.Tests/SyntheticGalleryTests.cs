using System.Numerics.Tensors;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Indexing;
using Lineup.Hosting;
using Lineup.Index;
using Lineup.Ingest.Sources;
using Lineup.TestSupport;
using Xunit.Abstractions;

namespace Lineup.Cli.Tests;

/// <summary>
/// <see cref="SyntheticGallery"/> on a small real gallery (every fifth labelled DEV photo, about 300 faces, ingested
/// once per class and copied per test): counts, unit vectors, determinism, realism against the real faces, the
/// collection, and the catalog as the source of truth for a rebuilt index.
/// </summary>
[Trait("Category", "Data")]
public sealed class SyntheticGalleryTests(SyntheticGalleryTests.RealGallery gallery, ITestOutputHelper output) : IClassFixture<SyntheticGalleryTests.RealGallery>
{
    private const int Added = 2_000;

    [SkippableFact]
    public async Task Synthetic_identities_are_added_to_catalog_and_index_and_look_like_real_faces_to_the_rest_of_the_gallery()
    {
        using var dir = new TempDirectory("synthetic");
        var options = await gallery.CopyAsync(dir);
        await using var engine = await LineupEngine.OpenAsync(options);
        var before = await engine.Catalog.GetStatsAsync();
        var indexedBefore = engine.Index.Count;
        Assert.Equal(before.Faces, indexedBefore);

        var result = await SyntheticGallery.AddAsync(engine, new SyntheticGalleryOptions { Faces = Added, Seed = 1 });

        var after = await engine.Catalog.GetStatsAsync();
        Assert.Equal(Added, result.FacesAdded);
        Assert.Equal(before.Faces + Added, after.Faces);
        Assert.Equal(before.Images + Added, after.Images);
        Assert.Equal(indexedBefore + Added, engine.Index.Count);
        Assert.Equal(before.Faces, result.RealFaces);

        // The collection says what they are, and every synthetic face is in it (and no real one).
        var collection = await engine.Catalog.FindCollectionAsync(SyntheticGallery.CollectionName);
        Assert.NotNull(collection);
        Assert.Equal(SyntheticGallery.LawfulBasis, collection.LawfulBasis);
        Assert.Equal("ZZ", collection.Jurisdiction);
        var synthetic = await Resolve(engine, SyntheticGallery.CollectionName);
        Assert.Equal(Added, synthetic.Count);
        var faces = await ReadAsync(engine);
        var real = faces.Where(f => !synthetic.Contains(f.FaceId)).ToList();
        var made = faces.Where(f => synthetic.Contains(f.FaceId)).ToList();
        Assert.Equal(before.Faces, real.Count);
        Assert.All(real, f => Assert.True(f.FaceId <= before.MaxFaceId));

        // Unit length (stored as int8 with a scale, EmbeddingCodec: |v| within a few thousandths of 1).
        Assert.All(made, f => Assert.InRange(TensorPrimitives.Norm(f.Vector), 0.995f, 1.005f));

        // Each face's image carries its identity in the source URL, one face per image, in the synthetic collection.
        var records = await engine.Catalog.GetFacesWithImagesAsync(made.Select(f => f.FaceId).ToList());
        Assert.Equal(Added, records.Count);
        var identityOf = new Dictionary<long, long>();
        foreach (var (face, image) in records)
        {
            Assert.Equal(collection.Id, image.CollectionId);
            Assert.True(SyntheticGallery.TryParseSourceUrl(image.Provenance.SourceUrl, out var identity, out _), image.Provenance.SourceUrl);
            Assert.Equal(112, image.Width);
            identityOf[face.Id] = identity;
        }

        var sizes = identityOf.Values.GroupBy(i => i).Select(g => g.Count()).ToList();
        Assert.InRange(sizes.Max(), 2, 5);
        Assert.InRange(sizes.Average(), 2.5, 3.5);
        Assert.Equal(sizes.Count, result.Identities);

        // Realism, seen from real faces the fit never saw (probe photos outside the gallery): a synthetic face is one more
        // stranger. Against as many synthetic faces as there are real gallery faces, a probe's nearest synthetic face is as
        // close as its nearest real stranger (another labelled identity), and its cosines spread alike. (Gallery faces
        // themselves sit a little closer to the synthetic faces: the Gaussian is built from their half of the sample; with
        // 166 basis rows here the cosines' spread grows from 0.097 to 0.118, with the 904 of the DEV set to 0.102.)
        var labels = real.Select(f => gallery.LabelOf(f.FaceId)).ToList();
        var strangersOfSameSize = made.Take(real.Count).ToList();
        var realNearest = new List<double>();
        var realStrangers = new List<double>();
        var madeNearest = new List<double>();
        var madeStrangers = new List<double>();
        foreach (var (label, vector) in gallery.Probes)
        {
            var best = double.NegativeInfinity;
            for (var j = 0; j < real.Count; j++)
            {
                if (labels[j] != label)
                {
                    var cosine = TensorPrimitives.Dot(vector, real[j].Vector);
                    best = Math.Max(best, cosine);
                    realStrangers.Add(cosine);
                }
            }

            realNearest.Add(best);
            best = double.NegativeInfinity;
            foreach (var f in strangersOfSameSize)
            {
                var cosine = TensorPrimitives.Dot(vector, f.Vector);
                best = Math.Max(best, cosine);
                madeStrangers.Add(cosine);
            }

            madeNearest.Add(best);
        }

        // Within one identity, faces are alike (median above the search threshold); across identities they are not.
        var genuine = new List<double>();
        var crossIdentity = new List<double>();
        for (var i = 0; i < made.Count; i++)
        {
            for (var j = i + 1; j < made.Count; j++)
            {
                var cosine = TensorPrimitives.Dot(made[i].Vector, made[j].Vector);
                (identityOf[made[i].FaceId] == identityOf[made[j].FaceId] ? genuine : crossIdentity).Add(cosine);
            }
        }

        output.WriteLine($"real faces {real.Count}, fit: KS {result.Fit.KsDistance:0.000}, {result.Fit.PseudoIdentities} pseudo-identities, held-out mean real {result.Fit.RealMean:0.000} synthetic {result.Fit.SyntheticMean:0.000}, synthetic strangers {result.Fit.SyntheticToSyntheticMean:0.000}");
        output.WriteLine($"{gallery.Probes.Count} probes, nearest stranger among {real.Count}: real median {Median(realNearest):0.000} (q10 {Q(realNearest, 0.1):0.000}, q90 {Q(realNearest, 0.9):0.000}); synthetic median {Median(madeNearest):0.000} (q10 {Q(madeNearest, 0.1):0.000}, q90 {Q(madeNearest, 0.9):0.000})");
        output.WriteLine($"probe to strangers: real mean {realStrangers.Average():0.000} sd {Sd(realStrangers):0.000} q99 {Q(realStrangers, 0.99):0.000}; synthetic mean {madeStrangers.Average():0.000} sd {Sd(madeStrangers):0.000} q99 {Q(madeStrangers, 0.99):0.000}");
        output.WriteLine($"synthetic genuine pairs {genuine.Count}: median {Median(genuine):0.000} q25 {Q(genuine, 0.25):0.000} q75 {Q(genuine, 0.75):0.000}; cross-identity median {Median(crossIdentity):0.000} q99 {Q(crossIdentity, 0.99):0.000}; threshold {engine.Threshold:0.000}");

        Assert.InRange(Median(madeNearest) - Median(realNearest), -0.05, 0.05);
        Assert.InRange(madeStrangers.Average() - realStrangers.Average(), -0.03, 0.03);
        Assert.InRange(Sd(madeStrangers) / Sd(realStrangers), 0.8, 1.25);
        Assert.True(gallery.Probes.Count >= 100, $"only {gallery.Probes.Count} probes");
        Assert.True(genuine.Count > 1_000, $"only {genuine.Count} same-identity pairs");
        Assert.True(Median(genuine) > engine.Threshold, $"median same-identity cosine {Median(genuine):0.000} is not above the threshold {engine.Threshold:0.000}");
        Assert.InRange(Median(genuine), SyntheticGallery.DefaultWithinIdentityCosine - 0.06, SyntheticGallery.DefaultWithinIdentityCosine + 0.06);
        Assert.InRange(Q(genuine, 0.75) - Q(genuine, 0.25), 0.1, 0.35);
        Assert.True(Median(crossIdentity) < 0.1, $"median cross-identity cosine {Median(crossIdentity):0.000}");
        Assert.True(Q(crossIdentity, 0.99) < engine.Threshold, $"99th percentile cross-identity cosine {Q(crossIdentity, 0.99):0.000}");

        // Searchable, and a filter on the real collection leaves them out.
        var probe = made[^1];
        var hits = new VectorHit[5];
        Assert.True(engine.Index.Search(probe.Vector, hits) > 0);
        Assert.Equal(probe.FaceId, hits[0].Key);
        var realOnly = await Resolve(engine, RealGallery.Collection);
        var found = engine.Index.Search(probe.Vector, hits, realOnly);
        Assert.Equal(5, found);
        Assert.All(hits[..found], h => Assert.False(synthetic.Contains(h.Key), $"face {h.Key} is synthetic"));

        // The catalog is the source of truth: an index rebuilt from it holds every synthetic face.
        await engine.RebuildIndexAsync(null, CancellationToken.None);
        Assert.Equal(after.Faces, engine.Index.Count);
        Assert.All(made, f => Assert.True(engine.Index.Contains(f.FaceId)));
        Assert.True(engine.Index.Search(probe.Vector, hits) > 0);
        Assert.Equal(probe.FaceId, hits[0].Key);
    }

    [SkippableFact]
    public async Task Catalog_compact_stores_every_embedding_in_the_models_basis_and_rebuilds_the_index_to_match()
    {
        using var dir = new TempDirectory("compact");
        var options = await gallery.CopyAsync(dir);
        string[] common = ["--data", options.DataDirectory, "--models", TestPaths.ModelCache, "--quiet"];

        // About 300 real faces: too few to fit a 512-d basis (it takes 2,048). Nothing changes.
        var tooFew = await CliProcess.RunAsync([.. common, "catalog", "compact"]);
        Assert.Equal(ExitCodes.Ok, tooFew.ExitCode);
        Assert.Contains("No embedding basis: fitting one takes at least 2,048 faces", tooFew.Stdout, StringComparison.Ordinal);

        var added = await CliProcess.RunAsync([.. common, "bench", "gallery", "--faces", "2000"]);
        Assert.True(added.ExitCode == ExitCodes.Ok, added.Stderr);
        var before = new Dictionary<long, float[]>();
        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            await foreach (var e in engine.Catalog.ReadEmbeddingsAsync())
            {
                before[e.FaceId] = e.Vector;
            }

            Assert.Null(await ((IEmbeddingBases)engine.Catalog).GetEmbeddingBasisAsync()); // the schedule fits at 20,000 faces
        }

        var compact = await CliProcess.RunAsync([.. common, "catalog", "compact"]);
        Assert.True(compact.ExitCode == ExitCodes.Ok, compact.Stderr);
        output.WriteLine(compact.Stdout);
        Assert.Matches(@"Embedding basis 1 \(model [^)]+\): \d+ of 512 directions, fitted on 2,\d{3} faces", compact.Stdout);
        var counts = System.Text.RegularExpressions.Regex.Match(compact.Stdout, @"Re-encoded ([\d,]+) of ([\d,]+) embeddings .*; ([\d,]+) lie outside");
        Assert.True(counts.Success, compact.Stdout);
        var (reencoded, read, outside) = (Count(counts.Groups[1]), Count(counts.Groups[2]), Count(counts.Groups[3]));
        Assert.Equal(before.Count, read);
        Assert.Equal(read, reencoded + outside);
        Assert.True(outside <= read / 100, $"{outside} of {read} faces outside the basis");
        var sizes = System.Text.RegularExpressions.Regex.Match(compact.Stdout, @"Catalog file: ([\d,]+) bytes before, ([\d,]+) after");
        Assert.True(Count(sizes.Groups[2]) < Count(sizes.Groups[1]), compact.Stdout);

        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            var basis = (await ((IEmbeddingBases)engine.Catalog).GetEmbeddingBasisAsync())!;
            Assert.InRange(basis.Components, 100, 400);
            var after = await engine.Catalog.ReadEmbeddingsAsync().ToListAsync();
            Assert.Equal(before.Keys.Order(), after.Select(e => e.FaceId));

            // Each vector moved by the basis's precision only; and the rebuilt index holds exactly the stored vectors: a
            // face's own vector finds it first, scoring its stored vector's squared length.
            Assert.All(after, e => Assert.True(TensorPrimitives.CosineSimilarity(before[e.FaceId], e.Vector) > 0.999f, $"face {e.FaceId}"));
            var hits = new VectorHit[1];
            foreach (var e in after.Where((_, i) => i % 97 == 0))
            {
                Assert.Equal(1, engine.Index.Search(e.Vector, hits));
                Assert.Equal(e.FaceId, hits[0].Key);
            }

            // Audited, with what it did and never a vector.
            var events = await engine.Audit.ReadEventsAsync(1, 10_000);
            var audited = Assert.Single(events, a => a.Subject == $"embedding-basis:{basis.Id}");
            Assert.Contains("\"reencoded\":" + reencoded.ToString(System.Globalization.CultureInfo.InvariantCulture), audited.Details.ToCanonicalJson(), StringComparison.Ordinal);
        }

        var stats = await CliProcess.RunAsync([.. common, "stats", "--json"]);
        using var json = System.Text.Json.JsonDocument.Parse(stats.Stdout);
        Assert.Equal(512, json.RootElement.GetProperty("embeddingBasis").GetProperty("dimensions").GetInt32());

        // Again: nothing left to re-encode, and the file is not rewritten.
        var again = await CliProcess.RunAsync([.. common, "catalog", "compact"]);
        Assert.True(again.ExitCode == ExitCodes.Ok, again.Stderr);
        Assert.Contains($"Re-encoded 0 of {read:N0} embeddings", again.Stdout, StringComparison.Ordinal);

        static long Count(System.Text.RegularExpressions.Group g) => long.Parse(g.Value, System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture);
    }

    [SkippableFact]
    public async Task The_same_seed_gives_the_same_faces_in_one_call_or_two_and_another_seed_other_faces()
    {
        using var dir = new TempDirectory("synthetic-seed");
        var once = await AddAsync(dir, "once", (Added, 1));
        var twice = await AddAsync(dir, "twice", (1_200, 1), (Added - 1_200, 1));
        var other = await AddAsync(dir, "other", (Added, 2));

        Assert.Equal(Added, once.Count);
        Assert.Equal(once.Select(f => f.Url), twice.Select(f => f.Url));
        for (var i = 0; i < once.Count; i++)
        {
            Assert.Equal(once[i].Vector, twice[i].Vector);
        }

        var same = once.Zip(other).Count(p => p.First.Vector.AsSpan().SequenceEqual(p.Second.Vector));
        Assert.Equal(0, same);
        Assert.True(once.Zip(other).Average(p => TensorPrimitives.Dot(p.First.Vector, p.Second.Vector)) < 0.2, "another seed must give unrelated vectors");
    }

    [SkippableFact]
    public async Task The_index_benchmark_scores_against_exact_search_and_writes_nothing_to_the_catalog()
    {
        using var dir = new TempDirectory("bench-index");
        var options = await gallery.CopyAsync(dir);
        await using var engine = await LineupEngine.OpenAsync(options);
        var before = await engine.Catalog.GetStatsAsync();
        var generator = await SyntheticGallery.FitAsync(engine.Catalog, engine.Index.Dimensions, new SyntheticGalleryOptions { Seed = 3 });
        const int Faces = 3_000;

        // ef 16 barely explores; ef 3,000 (the whole gallery) makes the graph search exhaustive, so its top 10 must be the
        // exact top 10 (float16 rounding aside): a wrong ground truth or recall count could not reach it.
        var result = await IndexBenchmark.RunAsync(generator, new IndexBenchmarkOptions
        {
            Faces = Faces,
            Queries = 200,
            ExactQueries = 5,
            Quantizations = [VectorQuantization.F16, VectorQuantization.I8],
            ExpansionSearch = [16, Faces],
            Threads = 2,
            BatchSize = 1_000,
        }, coldStart: null);

        Assert.Equal(Faces, result.Faces);
        Assert.Equal(generator.RealSample.Count, result.RealFaces);
        Assert.Equal(Faces - result.RealFaces, result.SyntheticFaces);
        Assert.Equal(2, result.Builds.Count);
        var f16 = result.Builds.Single(b => b.Quantization == VectorQuantization.F16);
        var exhaustive = f16.Searches.Single(s => s.ExpansionSearch == Faces);
        var narrow = f16.Searches.Single(s => s.ExpansionSearch == 16);
        output.WriteLine($"f16 recall@10: ef 16 {narrow.RecallAt10:0.000}, ef {Faces} {exhaustive.RecallAt10:0.000}; exact {result.ExactMeanMs:0.00} ms");
        Assert.InRange(exhaustive.RecallAt10, 0.98, 1.0);
        Assert.InRange(exhaustive.RecallMated, 0.98, 1.0);
        Assert.InRange(exhaustive.NearestFound, 0.99, 1.0);
        Assert.True(narrow.RecallAt10 <= exhaustive.RecallAt10, "a narrower search cannot find more of the exact top 10");

        // Probes of gallery identities find their identity's other faces: the exact top 10 of a mated probe is mostly
        // that person, so its best similarity is well above a non-mated probe's (strangers only).
        foreach (var build in result.Builds)
        {
            Assert.True(build.VectorsPerSecond > 0 && build.BuildSeconds > 0);
            Assert.True(build.MemoryBytes > Faces * 256L, $"{build.Quantization}: {build.MemoryBytes} bytes for {Faces} 512-d vectors");
            Assert.Empty(build.ColdStarts);
            Assert.All(build.Searches, s =>
            {
                Assert.InRange(s.RecallAt10, 0.0, 1.0);
                Assert.True(s.P99Ms >= s.P50Ms && s.P50Ms > 0);
                Assert.True(s.SpeedupOverExact > 0 && s.QueriesPerSecond > 0 && s.ConcurrentQueriesPerSecond > 0);
            });
        }

        Assert.True(result.ExactMeanMs > 0);
        var after = await engine.Catalog.GetStatsAsync();
        Assert.Equal(before.Faces, after.Faces);
        Assert.Equal(before.Images, after.Images);
        Assert.Null(await engine.Catalog.FindCollectionAsync(SyntheticGallery.CollectionName));
    }

    [SkippableFact]
    public async Task The_inverted_file_is_measured_on_a_float16_gallery_and_scanning_every_list_finds_the_exact_top_10()
    {
        using var dir = new TempDirectory("bench-ivf");
        var options = await gallery.CopyAsync(dir);
        await using var engine = await LineupEngine.OpenAsync(options);
        var generator = await SyntheticGallery.FitAsync(engine.Catalog, engine.Index.Dimensions, new SyntheticGalleryOptions { Seed = 4 });
        const int Faces = 20_000;

        // A float16 gallery (what 10M faces need here), the inverted file trained at 20,000 faces (141 lists), searched at
        // 8 lists and at all of them: all lists is an exact scan of the codes, so with the re-rank the top 10 is exact.
        var result = await IndexBenchmark.RunAsync(generator, new IndexBenchmarkOptions
        {
            Faces = Faces,
            Queries = 100,
            ExactQueries = 3,
            Engines = ["ivf"],
            Probes = [8, 141],
            Rerank = [4],
            ScanThreads = [1, 2],
            HalfPrecisionGallery = true,
            BatchSize = 4_000,
        }, coldStart: null);

        Assert.Equal("float16", result.GalleryPrecision);
        var build = Assert.Single(result.Builds);
        Assert.Equal(("ivf", 141), (build.Engine, build.Lists));
        Assert.InRange(build.CodeDimensions, 32, 512);
        Assert.Equal(4, build.Searches.Count);
        var all = build.Searches.Where(s => s.ExpansionSearch == 141).ToList();
        var few = build.Searches.Where(s => s.ExpansionSearch == 8).ToList();
        output.WriteLine($"{build.CodeDimensions} components; recall@10 at 8 lists {few[0].RecallAt10:0.000}, at 141 {all[0].RecallAt10:0.000}");
        Assert.All(all, s => Assert.InRange(s.RecallAt10, 0.98, 1.0));
        Assert.All(few, s => Assert.True(s.RecallAt10 < all[0].RecallAt10, "8 of 141 lists cannot find more than all"));
        Assert.Equal([1, 2], all.Select(s => s.ScanThreads).Order());

        // One and two scan threads return the same hits: the same recall to the last probe.
        Assert.Equal(all[0].RecallAt10, all[1].RecallAt10);
    }

    [SkippableFact]
    public async Task Synthetic_probes_of_gallery_identities_resemble_their_faces_and_others_do_not()
    {
        using var dir = new TempDirectory("bench-probes");
        var options = await gallery.CopyAsync(dir);
        await using var engine = await LineupEngine.OpenAsync(options);
        var generator = await SyntheticGallery.FitAsync(engine.Catalog, engine.Index.Dimensions, new SyntheticGalleryOptions { Seed = 5 });
        var d = generator.Dimensions;
        var faces = new float[500 * d];
        var identities = generator.Faces(0, 500, faces);
        var again = new float[500 * d];
        generator.Faces(0, 500, again);
        Assert.Equal(faces, again);

        var probeOf = identities.Distinct().Take(50).ToArray();
        var probes = new float[probeOf.Length * d];
        generator.Probes(probeOf, 0, probes);
        var genuine = new List<double>();
        var impostor = new List<double>();
        for (var p = 0; p < probeOf.Length; p++)
        {
            var probe = probes.AsSpan(p * d, d);
            Assert.Equal(1.0, TensorPrimitives.Norm(probe), 3);
            for (var f = 0; f < identities.Length; f++)
            {
                var cosine = TensorPrimitives.Dot(probe, faces.AsSpan(f * d, d));
                Assert.False(cosine > 0.9999, "a probe is a new face, never a copy of a gallery face");
                (identities[f] == probeOf[p] ? genuine : impostor).Add(cosine);
            }
        }

        output.WriteLine($"probe to own identity: median {Median(genuine):0.000}; to others: median {Median(impostor):0.000}, 99th {Q(impostor, 0.99):0.000}");
        Assert.InRange(Median(genuine), SyntheticGallery.DefaultWithinIdentityCosine - 0.08, SyntheticGallery.DefaultWithinIdentityCosine + 0.08);
        Assert.InRange(Median(impostor), -0.1, 0.1);
    }

    [SkippableFact]
    public async Task Lineup_bench_index_reports_every_measure_with_a_cold_start_in_a_new_process()
    {
        using var dir = new TempDirectory("bench-index-cli");
        var options = await gallery.CopyAsync(dir);
        var json = dir.Combine("bench.json");

        var result = await CliProcess.RunAsync(
            ["--data", options.DataDirectory, "--models", options.ModelsDirectory!, "bench", "index", "--faces", "2500", "--queries", "60",
             "--exact-queries", "5", "--quantization", "i8", "--ef", "32,64", "--catalog-sample", "3000", "--json", json],
            timeout: TimeSpan.FromMinutes(5));

        Assert.True(result.ExitCode == ExitCodes.Ok, result.Stderr);
        Assert.Contains("recall@10", result.Stdout, StringComparison.Ordinal);
        using var report = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = report.RootElement;
        Assert.Equal(2500, root.GetProperty("faces").GetInt32());
        var build = BenchIndexCommandTests.Build(root, "I8");
        Assert.Equal(2, build.GetProperty("searches").GetArrayLength());
        Assert.True(build.GetProperty("fileBytes").GetInt64() > 2500 * 512L, "the saved int8 index holds at least its vectors");
        var colds = build.GetProperty("coldStarts").EnumerateArray().ToList();
        Assert.Equal(["view", "load"], colds.Select(c => c.GetProperty("mode").GetString()));
        Assert.All(colds, c => Assert.True(c.GetProperty("processStartToAnswerMs").GetDouble() > c.GetProperty("openMs").GetDouble()));

        // Resident memory of the process holding the index (a .NET process: tens of megabytes at this size).
        Assert.All(colds, c => Assert.InRange(c.GetProperty("residentBytes").GetInt64(), 10_000_000, 4_000_000_000));
        Assert.Contains("resident B/face", result.Stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(options.DataDirectory, "bench-tmp")), "the saved index files and the catalog sample are removed");

        // A synthetic face's catalog row carries its int8 embedding (517 bytes) and more, but no pictures.
        var catalog = root.GetProperty("catalog");
        Assert.Equal(3000, catalog.GetProperty("faces").GetInt32());
        Assert.InRange(catalog.GetProperty("bytesPerFace").GetDouble(), 600, 4_000);
        Assert.Contains("bytes per face", result.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_gallery_without_enough_real_faces_is_refused_and_left_unchanged()
    {
        using var dir = new TempDirectory("synthetic-empty");
        var options = await Engines.OptionsAsync(dir);
        await using var engine = await LineupEngine.OpenAsync(options);

        var refused = await Assert.ThrowsAsync<SyntheticGalleryException>(() =>
            SyntheticGallery.AddAsync(engine, new SyntheticGalleryOptions { Faces = 10 }));

        Assert.Contains("0 real face", refused.Message, StringComparison.Ordinal);
        Assert.Contains(SyntheticGallery.MinimumRealFaces.ToString(System.Globalization.CultureInfo.InvariantCulture), refused.Message, StringComparison.Ordinal);
        Assert.Null(await engine.Catalog.FindCollectionAsync(SyntheticGallery.CollectionName));
        Assert.Equal(0, (await engine.Catalog.GetStatsAsync()).Faces);
        Assert.Equal(0, engine.Index.Count);
    }

    private async Task<List<(string Url, float[] Vector)>> AddAsync(TempDirectory dir, string name, params (int Faces, int Seed)[] calls)
    {
        var options = await gallery.CopyAsync(dir, name);
        await using var engine = await LineupEngine.OpenAsync(options);
        foreach (var (faces, seed) in calls)
        {
            await SyntheticGallery.AddAsync(engine, new SyntheticGalleryOptions { Faces = faces, Seed = seed });
        }

        var synthetic = await Resolve(engine, SyntheticGallery.CollectionName);
        var made = (await ReadAsync(engine)).Where(f => synthetic.Contains(f.FaceId)).ToList();
        var images = (await engine.Catalog.GetFacesWithImagesAsync(made.Select(f => f.FaceId).ToList())).ToDictionary(r => r.Face.Id, r => r.Image);
        return made.Select(f => (images[f.FaceId].Provenance.SourceUrl!, f.Vector)).ToList();
    }

    private static async Task<FaceKeySet> Resolve(LineupEngine engine, string collection) =>
        await ((ISearchFilterCatalog)engine.Catalog).ResolveAsync(new SearchFilter([collection]).Normalize());

    private static async Task<List<StoredEmbedding>> ReadAsync(LineupEngine engine)
    {
        var faces = new List<StoredEmbedding>();
        await foreach (var face in engine.Catalog.ReadEmbeddingsAsync())
        {
            faces.Add(face);
        }

        return faces;
    }

    private static double Median(List<double> values) => Q(values, 0.5);

    private static double Q(List<double> values, double level)
    {
        var sorted = values.Order().ToList();
        return sorted[(int)Math.Floor(level * (sorted.Count - 1))];
    }

    private static double Sd(List<double> values)
    {
        var mean = values.Average();
        return Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
    }

    /// <summary>Every fifth labelled single-person DEV photo, ingested once into a template data directory.</summary>
    public sealed class RealGallery : IDisposable
    {
        public const string Collection = "dev-sample";

        private readonly TempDirectory _dir = new("synthetic-template");
        private readonly SemaphoreSlim _gate = new(1, 1);
        private Dictionary<long, string>? _labels;
        private bool _ingested;

        /// <summary>The most prominent face of every tenth labelled photo from the third on: never in the gallery.</summary>
        public IReadOnlyList<(string Label, float[] Vector)> Probes { get; private set; } = [];

        /// <summary>The identity of a real face (its photo's manifest identity).</summary>
        public string LabelOf(long faceId) => _labels![faceId];

        /// <summary>A copy of the template data directory (catalog and index) under <paramref name="dir"/>.</summary>
        public async Task<LineupOptions> CopyAsync(TempDirectory dir, string name = "data")
        {
            TestPaths.RequireFaces();
            await EnsureAsync();
            var options = await Engines.OptionsAsync(dir);
            options.DataDirectory = dir.Combine(name);
            Copy(_dir.Combine("data"), options.DataDirectory);
            return options;
        }

        private async Task EnsureAsync()
        {
            await _gate.WaitAsync();
            try
            {
                if (_ingested)
                {
                    return;
                }

                var all = Engines.Identities
                    .Where(p => !p.Value.StartsWith("group:", StringComparison.Ordinal) && p.Value != "noface")
                    .OrderBy(p => p.Key, StringComparer.Ordinal)
                    .ToList();
                var labelled = all.Where((_, i) => i % 5 == 0).ToList();
                var folder = Engines.Gallery(_dir, "photos", [.. labelled.Select(p => p.Key)]);
                var identityOfFile = labelled.ToDictionary(p => p.Key.Replace('/', '_'), p => p.Value, StringComparer.Ordinal);
                var options = await Engines.OptionsAsync(_dir);
                await using var engine = await LineupEngine.OpenAsync(options);
                var collection = await engine.Catalog.EnsureCollectionAsync(Collection, "test data", "ZZ");
                await engine.IngestAsync(new FolderSource(folder, options.Limits.MaxBytes), collection);

                var labels = new Dictionary<long, string>();
                var ids = new List<long>();
                await foreach (var face in engine.Catalog.ReadEmbeddingsAsync())
                {
                    ids.Add(face.FaceId);
                }

                foreach (var (face, image) in await engine.Catalog.GetFacesWithImagesAsync(ids))
                {
                    labels[face.Id] = identityOfFile[Path.GetFileName(image.Provenance.OriginalPath!)];
                }

                var probes = new List<(string, float[])>();
                foreach (var (path, label) in all.Where((_, i) => i % 10 == 2))
                {
                    var analysis = engine.Analyzer.Analyze(await File.ReadAllBytesAsync(TestPaths.Face(path)), options.Limits);
                    if (FaceSelection.MostProminent(analysis.Faces, analysis.Info.Width, analysis.Info.Height) is { } face)
                    {
                        probes.Add((label, face.Embedding));
                    }
                }

                Probes = probes;
                _labels = labels;
                _ingested = true;
            }
            finally
            {
                _gate.Release();
            }
        }

        private static void Copy(string from, string to)
        {
            Directory.CreateDirectory(to);
            foreach (var file in Directory.EnumerateFiles(from))
            {
                File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
            }

            foreach (var sub in Directory.EnumerateDirectories(from))
            {
                Copy(sub, Path.Combine(to, Path.GetFileName(sub)));
            }
        }

        public void Dispose()
        {
            _dir.Dispose();
            _gate.Dispose();
        }
    }
}
