using Lineup.Cli.Commands;
using Lineup.Core.Network;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Lineup.TestSupport;
using Xunit.Abstractions;

namespace Lineup.Cli.Tests;

/// <summary>
/// The network analysis acceptance on the shared labelled photos: clustering quality (as <c>lineup network eval</c>
/// scores it), co-appearance links with their evidence photo, incremental clustering equal to clustering from scratch,
/// and analyst corrections that survive a full re-clustering. The whole DEV set is ingested and clustered once per class
/// (<see cref="DevGallery"/>); tests that change the partition work on a copy.
/// </summary>
[Trait("Category", "Data")]
public sealed class NetworkAcceptanceTests(NetworkAcceptanceTests.DevGallery gallery, ITestOutputHelper output) : IClassFixture<NetworkAcceptanceTests.DevGallery>
{
    private static readonly NetworkQuery s_query = new(TestCases.Analyst, TestCases.Number);

    private static string Manifest => Path.Combine(TestPaths.FacesDirectory, "manifest.csv");

    [SkippableFact]
    public async Task Clusters_of_the_labelled_photos_reach_BCubed_F1_095_without_merging_two_identities_of_two_or_more_photos()
    {
        await using var engine = await LineupEngine.OpenAsync(await gallery.OptionsAsync());
        var report = await NetworkEvaluation.EvaluateAsync(engine, Manifest);

        foreach (var partition in new[] { report.Catalog, report.SingleLinkage })
        {
            foreach (var scoped in new[] { partition.AtLeastTwoPhotos, partition.AllLabelled })
            {
                var s = scoped.Score;
                output.WriteLine(
                    $"{partition.Linkage}, {scoped.Scope}: {s.Items} faces, {s.Labels} labels, {s.Clusters} clusters; pairwise P {s.PairwisePrecision:0.000} R {s.PairwiseRecall:0.000} " +
                    $"F1 {s.PairwiseF1:0.000}; BCubed P {s.BCubedPrecision:0.000} R {s.BCubedRecall:0.000} F1 {s.BCubedF1:0.000}; {scoped.Merges.Count} merging cluster(s)");
            }
        }

        foreach (var merge in report.Catalog.AllLabelled.Merges)
        {
            output.WriteLine($"  merged: {string.Join(" + ", merge.Labels.Zip(merge.Faces, (l, n) => $"{l} ({n})"))}");
        }

        // Every single-person photo but the few without a detected face (or kept as a near-duplicate) is scored.
        Assert.Equal(report.ManifestPhotos, report.LabelledFaces + report.PhotosWithoutFace);
        Assert.InRange(report.PhotosWithoutFace, 0, 20);
        Assert.Equal(199, report.IdentitiesWithTwoOrMore);

        var atLeastTwo = report.Catalog.AtLeastTwoPhotos;
        Assert.True(atLeastTwo.Score.BCubedF1 >= 0.95, $"BCubed F1 {atLeastTwo.Score.BCubedF1:0.0000} on identities with ≥ 2 photos");
        Assert.Empty(atLeastTwo.Merges);
        Assert.Equal(0, atLeastTwo.Score.MergedClusters);
    }

    [SkippableFact]
    public async Task A_group_photo_links_the_identities_of_the_people_in_it_with_that_photo_as_evidence()
    {
        await using var engine = await LineupEngine.OpenAsync(await gallery.OptionsAsync());
        var photos = await NetworkEvaluation.PhotosAsync(engine, TestPaths.FacesDirectory);
        var labelled = NetworkEvaluation.Label(NetworkEvaluation.ReadManifest(Manifest), photos);
        var identityOf = (await engine.Network.Store.ReadAssignmentsAsync()).ToDictionary(a => a.FaceId, a => a.IdentityId);

        // Obama and Biden: the identities their single-person photos cluster into, linked by the photo of both.
        var obama = IdentityOf(labelled, identityOf, "Barack_Obama");
        var biden = IdentityOf(labelled, identityOf, "Joseph_Biden");
        var both = photos["face_recognition/groups/obama_and_biden.jpg"];
        await AssertLinkedAsync(engine, both, identityOf, obama, biden);

        // The Big Bang Theory cast photo bbt1.jpg: Sheldon, Leonard, Raj and Howard, each pair linked by it.
        string[] cast = ["BBT_Sheldon", "BBT_Leonard", "BBT_Raj", "BBT_Howard"];
        var characters = cast.ToDictionary(c => c, c => IdentityOf(labelled, identityOf, c));
        Assert.Equal(cast.Length, characters.Values.Distinct().Count());
        var bbt1 = photos["bbt_faceapi/groups/bbt1.jpg"];
        foreach (var (a, i) in cast.Select((c, i) => (c, i)))
        {
            foreach (var b in cast.Skip(i + 1))
            {
                await AssertLinkedAsync(engine, bbt1, identityOf, characters[a], characters[b]);
            }
        }

        var (associates, _) = await engine.Network.AssociatesAsync(s_query, characters["BBT_Sheldon"], 1);
        Assert.Superset(characters.Values.Where(id => id != characters["BBT_Sheldon"]).ToHashSet(), associates.Select(a => a.IdentityId).ToHashSet());

        // Report which BBT characters each cast photo links (their identities being those of their single photos).
        var everyCharacter = labelled.Where(l => l.Label.StartsWith("BBT_", StringComparison.Ordinal)).Select(l => l.Label).Distinct().Order(StringComparer.Ordinal)
            .ToDictionary(c => IdentityOf(labelled, identityOf, c), c => c);
        foreach (var photo in photos.Values.Where(p => p.Path.StartsWith("bbt_faceapi/groups/", StringComparison.Ordinal)).OrderBy(p => p.Path, StringComparer.Ordinal))
        {
            var present = photo.Faces.Select(f => identityOf[f.Id]).Where(everyCharacter.ContainsKey).Select(id => everyCharacter[id]).Distinct().Order(StringComparer.Ordinal);
            output.WriteLine($"{photo.Path}: {photo.Faces.Count} faces; characters linked: {string.Join(", ", present)}");
        }
    }

    [SkippableTheory]
    [InlineData("usearch")]
    [InlineData("exact")]
    public async Task Clustering_a_batch_incrementally_gives_the_same_partition_as_clustering_everything_from_scratch(string index)
    {
        TestPaths.RequireFaces();
        using var dir = new TempDirectory("network-incremental");

        // About 300 photos of identities with two or more (every fourth in path order), dealt alternately into two batches,
        // so that most identities have faces in both and the second batch joins identities the first one formed.
        var rows = Engines.Identities
            .Where(p => !p.Value.StartsWith("group:", StringComparison.Ordinal) && p.Value != "noface")
            .GroupBy(p => p.Value).Where(g => g.Count() >= 2).SelectMany(g => g)
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .Where((_, i) => i % 4 == 0)
            .Select(p => p.Key)
            .ToList();
        Assert.InRange(rows.Count, 280, 320);
        var first = Engines.Gallery(dir, "first", [.. rows.Where((_, i) => i % 2 == 0)]);
        var second = Engines.Gallery(dir, "second", [.. rows.Where((_, i) => i % 2 == 1)]);

        var options = await Engines.OptionsAsync(dir, index);
        await using var engine = await LineupEngine.OpenAsync(options);
        var collection = await engine.Catalog.EnsureCollectionAsync("incremental", "integration test", "ZZ");
        await engine.IngestAsync(new FolderSource(first, options.Limits.MaxBytes), collection);
        var initial = await engine.Network.ClusterAsync(full: false, "tests");
        Assert.True(initial.Full, "the first clustering of a gallery is a full one");
        var lastOfFirst = (await engine.Catalog.GetStatsAsync()).MaxFaceId;

        await engine.IngestAsync(new FolderSource(second, options.Limits.MaxBytes), collection);
        var incremental = await engine.Network.ClusterAsync(full: false, "tests");
        Assert.False(incremental.Full);
        Assert.InRange(incremental.FacesQueried, 1, incremental.LinkedFaces - initial.LinkedFaces);
        var afterIncremental = Canonical(await engine.Network.Store.ReadAssignmentsAsync());

        var scratch = await engine.Network.ClusterAsync(full: true, "tests");
        Assert.True(scratch.Full);
        Assert.Equal(incremental.FacesQueried + initial.FacesQueried, scratch.FacesQueried);
        var afterScratch = Canonical(await engine.Network.Store.ReadAssignmentsAsync());

        output.WriteLine(
            $"{index}: {afterScratch.Count} faces ({lastOfFirst} in the first batch), {afterScratch.Values.Distinct().Count()} identities; incremental queried {incremental.FacesQueried} faces, " +
            $"{incremental.Edges} edges; from scratch {scratch.Edges} edges; the incremental run moved {incremental.Change.FacesMoved} faces");

        // A meaningful partition: identities with faces of both batches, and not everything in one.
        var groups = afterScratch.GroupBy(p => p.Value).ToList();
        Assert.Contains(groups, g => g.Any(p => p.Key <= lastOfFirst) && g.Any(p => p.Key > lastOfFirst));
        Assert.InRange(groups.Count, 50, afterScratch.Count - 50);
        Assert.Equal(scratch.Edges, incremental.Edges);
        Assert.Equal(afterScratch, afterIncremental);
    }

    [SkippableFact]
    public async Task Merges_splits_moves_and_names_survive_a_full_re_clustering()
    {
        using var dir = new TempDirectory("network-corrections");
        await using var engine = await LineupEngine.OpenAsync(await gallery.CopyAsync(dir));
        var photos = await NetworkEvaluation.PhotosAsync(engine, TestPaths.FacesDirectory);
        var labelled = NetworkEvaluation.Label(NetworkEvaluation.ReadManifest(Manifest), photos);
        var before = (await engine.Network.Store.ReadAssignmentsAsync()).ToDictionary(a => a.FaceId, a => a.IdentityId);
        long[] FacesOf(long identity) => [.. before.Where(p => p.Value == identity).Select(p => p.Key).Order()];

        var hanks = IdentityOf(labelled, before, "Tom_Hanks");
        var woods = IdentityOf(labelled, before, "Tiger_Woods");
        var obama = IdentityOf(labelled, before, "Barack_Obama");
        var biden = IdentityOf(labelled, before, "Joseph_Biden");
        var howard = IdentityOf(labelled, before, "BBT_Howard");
        var sheldon = IdentityOf(labelled, before, "BBT_Sheldon");
        Assert.Equal(6, new[] { hanks, woods, obama, biden, howard, sheldon }.Distinct().Count());

        // Against the evidence on purpose: two people merged, two genuine Obama faces split off, a Biden face moved to Howard.
        var merged = FacesOf(hanks).Concat(FacesOf(woods)).ToHashSet();
        Assert.Equal(hanks, (await engine.Network.MergeAsync(s_query, hanks, woods, "tests: merge")).Id);
        var splitOff = labelled.Where(l => l.Label == "Barack_Obama" && before[l.FaceId] == obama).Select(l => l.FaceId).Order().TakeLast(2).ToList();
        var stayed = FacesOf(obama).Except(splitOff).ToList();
        var created = await engine.Network.SplitAsync(s_query, obama, splitOff, "tests: split");
        var moved = labelled.First(l => l.Label == "Joseph_Biden" && before[l.FaceId] == biden).FaceId;
        Assert.Equal(howard, (await engine.Network.MoveFaceAsync(s_query, moved, howard, "tests: move")).Id);
        var named = await engine.Network.NameAsync(s_query, sheldon, "Sheldon Cooper");
        Assert.Equal("Sheldon Cooper", named.Name);

        var run = await engine.Network.ClusterAsync(full: true, "tests");
        Assert.True(run.Full);
        var after = (await engine.Network.Store.ReadAssignmentsAsync()).ToDictionary(a => a.FaceId, a => a.IdentityId);

        Assert.All(merged, f => Assert.Equal(hanks, after[f]));
        Assert.Null(await engine.Network.Store.GetIdentityAsync(woods));
        Assert.All(splitOff, f => Assert.Equal(created.Id, after[f]));
        Assert.All(stayed, f => Assert.Equal(obama, after[f]));
        Assert.Equal(howard, after[moved]);
        Assert.All(FacesOf(howard), f => Assert.Equal(howard, after[f]));
        Assert.All(FacesOf(sheldon), f => Assert.Equal(sheldon, after[f]));
        var sheldonAfter = await engine.Network.Store.GetIdentityAsync(sheldon);
        Assert.NotNull(sheldonAfter);
        Assert.Equal(("Sheldon Cooper", true), (sheldonAfter.Name, sheldonAfter.Locked));
        Assert.Equal(
            [CorrectionKind.Merge, CorrectionKind.Split, CorrectionKind.Move, CorrectionKind.Name],
            (await engine.Network.Store.ListCorrectionsAsync()).Select(c => c.Kind));
        output.WriteLine($"full re-clustering after 4 corrections: {run.Change.Identities} identities, {run.Change.FacesMoved} faces moved");
    }

    /// <summary>The identity most of a label's photos are in (it must hold more than half of them).</summary>
    private static long IdentityOf(IReadOnlyList<LabelledFace> labelled, IReadOnlyDictionary<long, long> identityOf, string label)
    {
        var faces = labelled.Where(l => l.Label == label).ToList();
        Assert.NotEmpty(faces);
        var top = faces.GroupBy(l => identityOf[l.FaceId]).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First();
        Assert.True(top.Count() * 2 > faces.Count, $"{label}: only {top.Count()} of {faces.Count} photos in one identity");
        return top.Key;
    }

    private async Task AssertLinkedAsync(LineupEngine engine, GalleryPhoto photo, IReadOnlyDictionary<long, long> identityOf, long a, long b)
    {
        var inPhoto = photo.Faces.Select(f => identityOf[f.Id]).ToHashSet();
        Assert.Contains(a, inPhoto);
        Assert.Contains(b, inPhoto);
        var (edge, _, _) = await engine.Network.EdgeAsync(s_query, a, b);
        Assert.NotNull(edge);
        var evidence = Assert.Single(edge.Evidence, e => e.Kind == CoAppearanceKind.Photo && e.ImageId == photo.ImageId);
        Assert.Equal(photo.ImageId, evidence.OtherImageId);
        var (lo, hi) = a < b ? (a, b) : (b, a);
        Assert.Equal((lo, hi), (identityOf[evidence.FaceId], identityOf[evidence.OtherFaceId]));
        output.WriteLine($"{photo.Path}: identities {lo} and {hi} linked ({edge.Photos} photo(s), {edge.Pages} page(s))");
    }

    /// <summary>A partition as face → the smallest face id of its identity (identity ids left out).</summary>
    private static Dictionary<long, long> Canonical(IReadOnlyList<FaceAssignment> assignments) =>
        assignments.GroupBy(a => a.IdentityId)
            .SelectMany(g => g.Select(a => (a.FaceId, Key: g.Min(x => x.FaceId))))
            .ToDictionary(p => p.FaceId, p => p.Key);

    /// <summary>
    /// The whole DEV set (every photo of the shared folder) ingested with the default index, clustered, with the test
    /// analyst and case: once per class, on first use (a missing data set skips the test before anything is ingested).
    /// </summary>
    public sealed class DevGallery : IDisposable
    {
        private readonly TempDirectory _dir = new("network-dev");
        private readonly SemaphoreSlim _gate = new(1, 1);
        private bool _ready;

        /// <summary>The shared gallery's options: for reading (queries add only audit events).</summary>
        public async Task<LineupOptions> OptionsAsync()
        {
            await EnsureAsync();
            return await Engines.OptionsAsync(_dir);
        }

        /// <summary>A copy of the gallery's data directory under <paramref name="dir"/>, to change.</summary>
        public async Task<LineupOptions> CopyAsync(TempDirectory dir)
        {
            await EnsureAsync();
            var options = await Engines.OptionsAsync(dir);
            Copy(_dir.Combine("data"), options.DataDirectory);
            return options;
        }

        public void Dispose()
        {
            _gate.Dispose();
            _dir.Dispose();
        }

        private async Task EnsureAsync()
        {
            TestPaths.RequireFaces();
            await _gate.WaitAsync();
            try
            {
                if (_ready)
                {
                    return;
                }

                var options = await Engines.OptionsAsync(_dir);
                await using var engine = await LineupEngine.OpenAsync(options);
                var collection = await engine.Catalog.EnsureCollectionAsync("dev", "integration test", "ZZ");
                await engine.IngestAsync(new FolderSource(TestPaths.FacesDirectory, options.Limits.MaxBytes), collection);
                await TestCases.PrepareAsync(engine);
                await engine.Network.ClusterAsync(full: false, "tests");
                _ready = true;
            }
            finally
            {
                _gate.Release();
            }
        }

        private static void Copy(string from, string to)
        {
            Directory.CreateDirectory(to);
            foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(to, Path.GetRelativePath(from, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }
        }
    }
}
