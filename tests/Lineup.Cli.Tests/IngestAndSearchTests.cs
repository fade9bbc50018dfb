using Lineup.Core.Catalog;
using Lineup.Hosting;
using Lineup.Ingest;
using Lineup.Ingest.Sources;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary>The whole job through <see cref="LineupEngine"/>: real models, a real SQLite file, a real USearch index.</summary>
[Trait("Category", "Data")]
public sealed class IngestAndSearchTests
{
    // Two photos of each of five people for the gallery, and a third photo of each as the probe.
    private static readonly (string[] Gallery, string Probe)[] People =
    [
        (["deepface/images/Angelina_Jolie/img1.jpg", "deepface/images/Angelina_Jolie/img10.jpg"], "deepface/images/Angelina_Jolie/img11.jpg"),
        (["lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg", "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg"], "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0003.jpg"),
        (["lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0001.jpg", "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0002.jpg"], "lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0003.jpg"),
        (["lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg", "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0002.jpg"], "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0003.jpg"),
        (["lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0001.jpg", "lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0002.jpg"], "lfw_deepfunneled/images/Mahathir_Mohamad/Mahathir_Mohamad_0003.jpg"),
    ];

    [SkippableFact]
    public async Task Bad_files_are_reported_one_by_one_and_the_rest_of_the_batch_is_ingested()
    {
        using var dir = new TempDirectory("ingest-bad");
        var folder = Engines.Gallery(dir, "gallery",
            "deepface/images/Angelina_Jolie/img1.jpg",
            "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg");
        // WebP data with a .jpg name is a good photo: the format is sniffed from content.
        File.Copy(TestPaths.Face(FindWebpNamedJpg()), Path.Combine(folder, "webp-named.jpg"));
        await File.WriteAllBytesAsync(Path.Combine(folder, "empty.jpg"), []);
        var jpeg = await File.ReadAllBytesAsync(TestPaths.Face("lfw_deepfunneled/images/Carlos_Menem/Carlos_Menem_0001.jpg"));
        await File.WriteAllBytesAsync(Path.Combine(folder, "truncated.jpg"), jpeg[..(jpeg.Length * 3 / 10)]);
        await File.WriteAllTextAsync(Path.Combine(folder, "notes.jpg"), "this is a text file, not a photo\n");
        await File.WriteAllBytesAsync(Path.Combine(folder, "huge.png"), TestImages.PngHeaderClaiming(100_000, 100_000));
        File.CreateSymbolicLink(Path.Combine(folder, "unreadable.jpg"), dir.Combine("no-such-target.jpg"));

        var options = await Engines.OptionsAsync(dir);
        await using var engine = await LineupEngine.OpenAsync(options);
        var collection = await engine.Catalog.EnsureCollectionAsync("test", "unit test", "DE");
        var outcomes = new List<IngestOutcome>();
        var summary = (await engine.IngestAsync(new FolderSource(folder, options.Limits.MaxBytes), collection, new IngestObserver { Item = outcomes.Add })).Summary;

        var byName = outcomes.ToDictionary(o => o.Name);
        Assert.Equal(8, outcomes.Count);
        Assert.Equal(IngestStatus.Ingested, byName["deepface_images_Angelina_Jolie_img1.jpg"].Status);
        Assert.Equal(IngestStatus.Ingested, byName["lfw_deepfunneled_images_Tiger_Woods_Tiger_Woods_0001.jpg"].Status);
        Assert.Equal(IngestStatus.Ingested, byName["webp-named.jpg"].Status);
        foreach (var bad in new[] { "empty.jpg", "truncated.jpg", "notes.jpg", "huge.png", "unreadable.jpg" })
        {
            var outcome = byName[bad];
            Assert.True(outcome.Status is IngestStatus.Refused or IngestStatus.Failed, $"{bad}: {outcome.Status}");
            Assert.Contains(bad, outcome.Reason, StringComparison.Ordinal);
            Assert.Null(outcome.ImageId);
        }

        Assert.Contains("100,000", byName["huge.png"].Reason, StringComparison.Ordinal);
        Assert.Equal(IngestStatus.Refused, byName["notes.jpg"].Status);

        // Nothing half-written: only the three good photos are in the catalog, every face is indexed.
        var stats = await engine.Catalog.GetStatsAsync();
        Assert.Equal(3, stats.Images);
        Assert.Equal(summary.Faces, stats.Faces);
        Assert.Equal(stats.Faces, engine.Index.Count);

        // The same folder again: every good photo is a duplicate, nothing new is stored.
        var again = (await engine.IngestAsync(new FolderSource(folder, options.Limits.MaxBytes), collection)).Summary;
        Assert.Equal(3, again.Duplicates);
        Assert.Equal(3, (await engine.Catalog.GetStatsAsync()).Images);
    }

    [SkippableFact]
    public async Task Search_returns_the_right_identity_at_rank_1_and_a_rebuilt_index_answers_the_same()
    {
        using var dir = new TempDirectory("search");
        var folder = GalleryWithDistractors(dir);

        var options = await Engines.OptionsAsync(dir);
        var before = new List<long[]>();
        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            var collection = await engine.Catalog.EnsureCollectionAsync("test", "unit test", null);
            var summary = (await engine.IngestAsync(new FolderSource(folder, options.Limits.MaxBytes), collection)).Summary;
            Assert.Equal(0, summary.Failed + summary.Refused);

            await TestCases.PrepareAsync(engine);
            foreach (var (gallery, probe) in People)
            {
                var result = await engine.SearchAsync(TestCases.Request(await File.ReadAllBytesAsync(TestPaths.Face(probe))) with { Top = 10 });
                var top = result.Candidates[0];
                var expected = Engines.Identities[probe];
                var found = Engines.Identities[RelativeShared(top.Image.Provenance.OriginalPath!)];
                Assert.Equal(expected, found);
                Assert.True(top.AboveThreshold, $"{probe}: top similarity {top.Similarity} under the threshold {result.Threshold}");
                before.Add(result.Candidates.Select(c => c.FaceId).ToArray());
            }

            await engine.RebuildIndexAsync(null, default);
            var i = 0;
            foreach (var (_, probe) in People)
            {
                var result = await engine.SearchAsync(TestCases.Request(await File.ReadAllBytesAsync(TestPaths.Face(probe))) with { Top = 10 });
                Assert.Equal(before[i++], result.Candidates.Select(c => c.FaceId).ToArray());
            }
        }

        // Reopening maps the saved index (its writable copy loading behind) and answers the same; an ingest then goes
        // into the loaded copy, which is saved, so the next start maps it again with the new face.
        long faces;
        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            Assert.StartsWith("index mapped:", engine.IndexReport, StringComparison.Ordinal);
            var result = await engine.SearchAsync(TestCases.Request(await File.ReadAllBytesAsync(TestPaths.Face(People[0].Probe))) with { Top = 10 });
            Assert.Equal(before[0], result.Candidates.Select(c => c.FaceId).ToArray());

            var more = Engines.Gallery(dir, "more", [People[1].Probe]);
            var collection = await engine.Catalog.EnsureCollectionAsync("test", "unit test", null);
            Assert.Equal(1, (await engine.IngestAsync(new FolderSource(more, options.Limits.MaxBytes), collection)).Summary.Ingested);
            faces = (await engine.Catalog.GetStatsAsync()).Faces;
        }

        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            Assert.StartsWith($"index mapped: {faces:N0} faces", engine.IndexReport, StringComparison.Ordinal);
            var result = await engine.SearchAsync(TestCases.Request(await File.ReadAllBytesAsync(TestPaths.Face(People[1].Probe))) with { Top = 1 });
            Assert.True(result.Candidates[0].Similarity > 0.99f, "the probe ingested after the mapped start is found as itself");
        }

        // Turned off, the index is loaded before the first answer.
        options.Index.MapAtStart = false;
        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            Assert.StartsWith($"index loaded: {faces:N0} faces", engine.IndexReport, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task The_inverted_file_index_finds_each_person_is_saved_caught_up_and_keeps_no_erased_face()
    {
        using var dir = new TempDirectory("ivf");
        var folder = GalleryWithDistractors(dir);
        var options = await Engines.OptionsAsync(dir);

        // A graph index left in the directory by an earlier engine is removed when the inverted file takes over.
        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            var collection = await engine.Catalog.EnsureCollectionAsync("test", "unit test", null);
            await engine.IngestAsync(new FolderSource(folder, options.Limits.MaxBytes), collection);
        }

        Assert.True(File.Exists(Path.Combine(options.IndexDirectory, "faces.usearch")));
        options.Index.Kind = "ivf";
        Assert.Equal(4, options.EffectiveRerank);
        long faces;
        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            Assert.StartsWith("index rebuilt (no saved index)", engine.IndexReport, StringComparison.Ordinal);
            Assert.Contains("inverted file: 1 lists", engine.IndexReport, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(options.IndexDirectory, "faces.usearch")));
            Assert.False(File.Exists(Path.Combine(options.IndexDirectory, "faces.meta.json")));
            Assert.True(File.Exists(Path.Combine(options.IndexDirectory, "faces.ivf")));

            await TestCases.PrepareAsync(engine);
            foreach (var (_, probe) in People)
            {
                var result = await engine.SearchAsync(TestCases.Request(await File.ReadAllBytesAsync(TestPaths.Face(probe))) with { Top = 5 });
                var top = result.Candidates[0];
                Assert.Equal(Engines.Identities[probe], Engines.Identities[RelativeShared(top.Image.Provenance.OriginalPath!)]);
                Assert.True(top.AboveThreshold, $"{probe}: top similarity {top.Similarity} under the threshold {result.Threshold}");
            }

            var more = Engines.Gallery(dir, "more", [People[1].Probe]);
            var collection = await engine.Catalog.EnsureCollectionAsync("test", "unit test", null);
            Assert.Equal(1, (await engine.IngestAsync(new FolderSource(more, options.Limits.MaxBytes), collection)).Summary.Ingested);
            faces = (await engine.Catalog.GetStatsAsync()).Faces;
        }

        // The ingest was saved: the next start loads the file as it is. Erasing a face saves the index without it.
        byte[] erased;
        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            Assert.StartsWith($"index loaded: {faces:N0} faces", engine.IndexReport, StringComparison.Ordinal);
            Assert.Equal(faces, engine.Index.Count);
            await TestCases.PrepareAsync(engine);
            var result = await engine.SearchAsync(TestCases.Request(await File.ReadAllBytesAsync(TestPaths.Face(People[1].Probe))) with { Top = 1 });
            var face = result.Candidates[0];
            Assert.True(face.Similarity > 0.99f, "the probe ingested in the last session is found as itself");
            erased = await File.ReadAllBytesAsync(Path.Combine(options.IndexDirectory, "faces.ivf"));
            var erasure = await engine.EraseFacesAsync([face.FaceId], "tester");
            Assert.StartsWith("removed from the inverted-file index and saved it", erasure.IndexReport, StringComparison.Ordinal);
            Assert.Equal(faces - 1, engine.Index.Count);
        }

        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            Assert.StartsWith($"index loaded: {faces - 1:N0} faces", engine.IndexReport, StringComparison.Ordinal);
        }

        Assert.True(new FileInfo(Path.Combine(options.IndexDirectory, "faces.ivf")).Length < erased.Length, "the saved file lost the erased face's entry");
    }

    /// <summary>The people's gallery photos plus 20 other people (Glint crops) as distractors.</summary>
    private static string GalleryWithDistractors(TempDirectory dir)
    {
        var folder = Engines.Gallery(dir, "gallery", People.SelectMany(p => p.Gallery).ToArray());
        foreach (var other in Engines.Identities.Where(i => i.Key.StartsWith("glint_celebs/", StringComparison.Ordinal)).Where((_, i) => i % 9 == 0).Take(20))
        {
            File.Copy(TestPaths.Face(other.Key), Path.Combine(folder, other.Key.Replace('/', '_')));
        }

        return folder;
    }

    [SkippableFact]
    public async Task With_rerank_an_int8_index_reports_the_catalogs_exact_scores_in_order()
    {
        using var dir = new TempDirectory("rerank");
        var folder = GalleryWithDistractors(dir);

        var options = await Engines.OptionsAsync(dir);
        options.Index.Quantization = "i8";
        await using var engine = await LineupEngine.OpenAsync(options);
        var collection = await engine.Catalog.EnsureCollectionAsync("test", "unit test", null);
        await engine.IngestAsync(new FolderSource(folder, options.Limits.MaxBytes), collection);
        await TestCases.PrepareAsync(engine);

        var worstWithout = 0.0;
        foreach (var (_, probe) in People)
        {
            var photo = await File.ReadAllBytesAsync(TestPaths.Face(probe));
            var probeVector = engine.Analyzer.Analyze(photo, options.Limits).Faces[0].Embedding;
            var exact = (await engine.Catalog.ReadEmbeddingsAsync().ToListAsync())
                .Select(e => (e.FaceId, Score: System.Numerics.Tensors.TensorPrimitives.Dot(probeVector, e.Vector)))
                .OrderByDescending(e => e.Score).ThenBy(e => e.FaceId).Take(5).ToList();

            // Unset, an int8 index re-ranks × 4.
            options.Search.Rerank = null;
            var reranked = await engine.SearchAsync(TestCases.Request(photo) with { Top = 5, Face = 1 });
            Assert.Equal(exact.Select(e => e.FaceId), reranked.Candidates.Select(c => c.FaceId));
            Assert.Contains("; rerank=4", (await engine.SearchLog.GetSearchAsync(reranked.SearchId))!.Parameters, StringComparison.Ordinal);
            foreach (var (candidate, truth) in reranked.Candidates.Zip(exact))
            {
                Assert.Equal(truth.Score, candidate.Similarity, 5);
            }

            // Without the re-rank the same int8 index reports its own quantised scores, which are off by more.
            options.Search.Rerank = 1;
            var raw = await engine.SearchAsync(TestCases.Request(photo) with { Top = 5, Face = 1 });
            var byId = exact.ToDictionary(e => e.FaceId, e => e.Score);
            worstWithout = Math.Max(worstWithout, raw.Candidates.Where(c => byId.ContainsKey(c.FaceId)).Max(c => Math.Abs(c.Similarity - byId[c.FaceId])));
        }

        Assert.True(worstWithout > 1e-4, $"the int8 index's own scores differ from the catalog's by at most {worstWithout}: the re-rank test would not show anything");
    }

    [SkippableFact]
    public async Task Verify_puts_same_person_pairs_above_and_different_people_below_the_threshold()
    {
        using var dir = new TempDirectory("verify");
        await using var engine = await LineupEngine.OpenForAnalysisAsync(await Engines.OptionsAsync(dir));
        foreach (var (gallery, probe) in People)
        {
            var same = engine.Verify(await File.ReadAllBytesAsync(TestPaths.Face(gallery[0])), await File.ReadAllBytesAsync(TestPaths.Face(probe)));
            Assert.True(same.SamePerson, $"{gallery[0]} vs {probe}: {same.Similarity}");
        }

        for (var i = 0; i < People.Length; i++)
        {
            var a = People[i].Probe;
            var b = People[(i + 1) % People.Length].Probe;
            var different = engine.Verify(await File.ReadAllBytesAsync(TestPaths.Face(a)), await File.ReadAllBytesAsync(TestPaths.Face(b)));
            Assert.False(different.SamePerson, $"{a} vs {b}: {different.Similarity}");
        }
    }

    private static string RelativeShared(string copied)
    {
        var name = Path.GetFileName(copied);
        return Engines.Identities.Keys.Single(k => k.Replace('/', '_') == name);
    }

    private static string FindWebpNamedJpg() =>
        Engines.Identities.Keys.First(k => k.StartsWith("deepface/images/", StringComparison.Ordinal) && k.EndsWith("/img47.jpg", StringComparison.Ordinal));
}
