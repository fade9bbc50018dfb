using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lineup.Core.Catalog;
using Lineup.Core.Evaluation;
using Lineup.Core.Indexing;
using Lineup.Core.Network;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>A catalogued photo of the manifest's folder and its faces (path relative to that folder, '/' separated).</summary>
public sealed record GalleryPhoto(string Path, long ImageId, IReadOnlyList<FaceRecord> Faces);

/// <summary>One labelled face: the largest face of a manifest photo of one person.</summary>
public sealed record LabelledFace(long FaceId, long ImageId, string Path, string Label);

/// <summary>A cluster holding faces of two or more labelled identities: its key (an identity id, or for a baseline the smallest face id) and each label's face count.</summary>
public sealed record MergedCluster(long Cluster, IReadOnlyList<string> Labels, IReadOnlyList<int> Faces);

/// <summary>The scores of one partition over one set of labelled faces, and the clusters that merge labels.</summary>
public sealed record ScopedScore(string Scope, ClusteringScore Score, IReadOnlyList<MergedCluster> Merges);

/// <summary>One partition of the gallery (the catalog's, or a baseline's) scored on the labelled faces.</summary>
/// <param name="Clusters">Clusters over every gallery face, labelled or not.</param>
public sealed record PartitionScore(string Linkage, float MergeThreshold, int Clusters, ScopedScore AtLeastTwoPhotos, ScopedScore AllLabelled);

/// <summary>What <c>lineup network eval</c> reports.</summary>
/// <param name="ManifestPhotos">Rows of one person (not <c>group:*</c>, not <c>noface</c>).</param>
/// <param name="LabelledFaces">Those photos whose largest face is in the catalog (the items scored).</param>
/// <param name="PhotosWithoutFace">Rows of one person without a catalogued face: not ingested, no face found, or a
/// near-duplicate of another photo (whose faces it shares).</param>
/// <param name="Catalog">The catalog's identities (the clustering under evaluation).</param>
/// <param name="SingleLinkage">Single linkage over the same neighbour graph, threshold and locks: the baseline.</param>
public sealed record NetworkEvalReport(
    string Manifest,
    int ManifestPhotos,
    int LabelledFaces,
    int PhotosWithoutFace,
    int Identities,
    int IdentitiesWithTwoOrMore,
    int GalleryFaces,
    ClusteringState State,
    PartitionScore Catalog,
    PartitionScore SingleLinkage);

/// <summary>
/// The clustering evaluation of <c>lineup network eval</c> (and the acceptance tests): the gallery's faces matched to a
/// labelled manifest by original path, the catalog's identities scored with <see cref="ClusteringMetrics"/>, next to
/// single linkage over the same neighbour graph.
/// </summary>
public static class NetworkEvaluation
{
    /// <summary>Face ids per <see cref="ICatalog.GetFacesWithImagesAsync"/> call.</summary>
    private const int Batch = 2_000;

    /// <summary>
    /// Every catalogued photo under <paramref name="folder"/> with its faces, by path relative to the folder ('/'
    /// separated, as the manifest writes them). Photos elsewhere (another folder, an archive, synthetic) are left out.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, GalleryPhoto>> PhotosAsync(LineupEngine engine, string folder, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var root = Path.GetFullPath(folder);
        var faces = await engine.Network.Store.ListClusterableFacesAsync(ct).ConfigureAwait(false);
        var byImage = new Dictionary<long, (string Path, List<FaceRecord> Faces)>();
        for (var start = 0; start < faces.Count; start += Batch)
        {
            var ids = faces.Skip(start).Take(Batch).Select(f => f.FaceId).ToList();
            foreach (var (face, image) in await engine.Catalog.GetFacesWithImagesAsync(ids, ct).ConfigureAwait(false))
            {
                if (!byImage.TryGetValue(image.Id, out var photo))
                {
                    if (Relative(root, image.Provenance.OriginalPath) is not { } path)
                    {
                        continue;
                    }

                    byImage[image.Id] = photo = (path, []);
                }

                photo.Faces.Add(face);
            }
        }

        return byImage.ToDictionary(p => p.Value.Path, p => new GalleryPhoto(p.Value.Path, p.Key, [.. p.Value.Faces.OrderBy(f => f.Id)]), StringComparer.Ordinal);
    }

    /// <summary>The manifest's single-person rows: path → identity (rows <c>group:*</c> and <c>noface</c> left out).</summary>
    public static IReadOnlyDictionary<string, string> ReadManifest(string manifestPath)
    {
        if (!File.Exists(manifestPath))
        {
            throw new FileNotFoundException($"--manifest: {manifestPath}: no such file.");
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var row in CsvReader.ReadFile(manifestPath))
        {
            if (!row.TryGetValue("path", out var path) || !row.TryGetValue("identity", out var identity))
            {
                throw new FormatException($"--manifest: {manifestPath} needs the columns path and identity.");
            }

            if (string.IsNullOrWhiteSpace(identity) || identity.StartsWith("group:", StringComparison.Ordinal) || identity == "noface")
            {
                continue;
            }

            labels[path.Replace('\\', '/')] = identity;
        }

        return labels;
    }

    /// <summary>The largest face of each catalogued single-person photo of the manifest, labelled with its identity.</summary>
    public static IReadOnlyList<LabelledFace> Label(IReadOnlyDictionary<string, string> manifest, IReadOnlyDictionary<string, GalleryPhoto> photos)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(photos);
        var labelled = new List<LabelledFace>();
        foreach (var (path, identity) in manifest.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            if (photos.TryGetValue(path, out var photo) && photo.Faces.Count > 0)
            {
                var largest = photo.Faces.OrderByDescending(f => f.Box.Area).ThenBy(f => f.Id).First();
                labelled.Add(new LabelledFace(largest.Id, photo.ImageId, path, identity));
            }
        }

        return labelled;
    }

    /// <summary>Scores the catalog's identities (it must have been clustered) and single linkage over the same graph.</summary>
    public static async Task<NetworkEvalReport> EvaluateAsync(LineupEngine engine, string manifestPath, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var manifest = ReadManifest(manifestPath);
        var store = engine.Network.Store;
        var state = await store.GetClusteringStateAsync(ct).ConfigureAwait(false)
            ?? throw new NetworkNotFoundException("The gallery was never clustered: run `lineup network cluster` first (or pass --cluster).");
        var photos = await PhotosAsync(engine, Path.GetDirectoryName(Path.GetFullPath(manifestPath))!, ct).ConfigureAwait(false);
        var labelled = Label(manifest, photos);

        var faces = (await store.ListClusterableFacesAsync(ct).ConfigureAwait(false)).Select(f => f.FaceId).ToList();
        var assignments = await store.ReadAssignmentsAsync(ct).ConfigureAwait(false);
        var identityOf = assignments.ToDictionary(a => a.FaceId, a => a.IdentityId);
        var unassigned = labelled.Count(l => !identityOf.ContainsKey(l.FaceId));
        if (unassigned > 0)
        {
            throw new NetworkNotFoundException($"{unassigned} labelled face(s) are in no identity: faces were added since the last clustering; run `lineup network cluster` (or pass --cluster).");
        }

        // The baseline clusters the graph the catalog's partition was computed from, with the same locks and threshold.
        var lists = await store.ReadNeighbourListsAsync(ct).ConfigureAwait(false);
        var locks = assignments.Where(a => a.Locked).ToDictionary(a => a.FaceId, a => a.IdentityId);
        var keys = IdentityClustering.Cluster(faces, Edges(lists), locks, state.Parameters.MergeThreshold, Linkage.Single);
        var single = new Dictionary<long, long>(faces.Count);
        for (var i = 0; i < faces.Count; i++)
        {
            single[faces[i]] = keys[i];
        }

        var photosPerLabel = labelled.GroupBy(l => l.Label).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        return new NetworkEvalReport(
            Path.GetFullPath(manifestPath),
            manifest.Count,
            labelled.Count,
            manifest.Count - labelled.Count,
            photosPerLabel.Count,
            photosPerLabel.Count(p => p.Value >= 2),
            faces.Count,
            state,
            Score("supported mean (catalog)", state.Parameters.MergeThreshold, identityOf, labelled, photosPerLabel),
            Score("single (baseline)", state.Parameters.MergeThreshold, single, labelled, photosPerLabel));
    }

    /// <summary>The undirected edges of the stored neighbour lists (one per pair, its larger cosine), as clustering reads them.</summary>
    public static IReadOnlyList<FaceEdge> Edges(IReadOnlyDictionary<long, VectorHit[]> lists)
    {
        ArgumentNullException.ThrowIfNull(lists);
        var edges = new Dictionary<(long, long), float>();
        foreach (var (face, list) in lists)
        {
            foreach (var hit in list)
            {
                var edge = FaceEdge.Of(face, hit.Key, hit.Similarity);
                if (!edges.TryGetValue((edge.A, edge.B), out var old) || edge.Similarity > old)
                {
                    edges[(edge.A, edge.B)] = edge.Similarity;
                }
            }
        }

        return [.. edges.Select(e => new FaceEdge(e.Key.Item1, e.Key.Item2, e.Value))];
    }

    /// <summary>Scores a partition (face → cluster) on the labelled faces, for every label and for labels of ≥ 2 photos.</summary>
    public static PartitionScore Score(
        string linkage, float threshold, IReadOnlyDictionary<long, long> clusterOf, IReadOnlyList<LabelledFace> labelled, IReadOnlyDictionary<string, int>? photosPerLabel = null)
    {
        ArgumentNullException.ThrowIfNull(clusterOf);
        ArgumentNullException.ThrowIfNull(labelled);
        photosPerLabel ??= labelled.GroupBy(l => l.Label).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        return new PartitionScore(
            linkage,
            threshold,
            clusterOf.Values.Distinct().Count(),
            Scoped("identities with ≥ 2 photos", labelled.Where(l => photosPerLabel[l.Label] >= 2).ToList()),
            Scoped("all labelled identities", labelled));

        ScopedScore Scoped(string scope, IReadOnlyList<LabelledFace> items)
        {
            var pairs = items.Select(l => (l.Label, clusterOf[l.FaceId])).ToList();
            var merges = items
                .GroupBy(l => clusterOf[l.FaceId])
                .Select(g => (Cluster: g.Key, Labels: g.GroupBy(l => l.Label).OrderByDescending(l => l.Count()).ThenBy(l => l.Key, StringComparer.Ordinal).ToList()))
                .Where(c => c.Labels.Count > 1)
                .OrderBy(c => c.Cluster)
                .Select(c => new MergedCluster(c.Cluster, [.. c.Labels.Select(l => l.Key)], [.. c.Labels.Select(l => l.Count())]))
                .ToList();
            return new ScopedScore(scope, ClusteringMetrics.Score(pairs), merges);
        }
    }

    private static string? Relative(string root, string? original)
    {
        if (string.IsNullOrEmpty(original) || !Path.IsPathRooted(original))
        {
            return null;
        }

        var relative = Path.GetRelativePath(root, original);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? null : relative.Replace('\\', '/');
    }
}

/// <summary>
/// <c>lineup network eval</c>: the clustering evaluation on a gallery ingested from a labelled manifest's folder (the
/// shared DEV photos: <c>lineup ingest ../shared/data/faces ...</c>, then <c>lineup network cluster</c>).
/// </summary>
public static class NetworkEvalCommand
{
    public const string FileName = "network-eval.json";

    public static Command Build()
    {
        var manifest = new Option<string>("--manifest") { Description = "manifest.csv (path,identity) of the folder the gallery was ingested from", Required = true };
        var output = new Option<string?>("--out") { Description = $"Write {FileName} into this folder" };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var cluster = new Option<bool>("--cluster") { Description = "Cluster the faces added since the last clustering first" };
        var command = new Command(
            "eval",
            "Score the gallery's identities against the manifest's labels (the largest face of each single-person photo): pairwise and BCubed precision, " +
            "recall and F1, for identities with ≥ 2 photos and for all, the clusters that merge two labelled identities, and single linkage over the same " +
            "graph as the baseline")
        {
            manifest, output, json, cluster,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var path = parse.GetValue(manifest)!;
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"--manifest: {path}: no such file.");
            }

            var options = GlobalOptions.Resolve(parse);
            var progress = NetworkCommands.ErrorProgress(parse);
            await using var engine = await LineupEngine.OpenAsync(options, progress, ct);
            if (parse.GetValue(cluster))
            {
                await NetworkCommands.ClusterAsync(engine, full: false, progress, ct);
            }

            var report = await NetworkEvaluation.EvaluateAsync(engine, path, ct);

            var text = JsonSerializer.Serialize(report, SearchCommands.Json);
            if (parse.GetValue(output) is { Length: > 0 } folder)
            {
                Directory.CreateDirectory(folder);
                await File.WriteAllTextAsync(Path.Combine(folder, FileName), text, ct);
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(text);
            }
            else
            {
                Print(report);
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    public static void Print(NetworkEvalReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var p = report.State.Parameters;
        AnsiConsole.MarkupLineInterpolated(
            $"{report.LabelledFaces:N0} labelled faces ({report.Identities:N0} identities, {report.IdentitiesWithTwoOrMore:N0} with ≥ 2 photos) of {report.ManifestPhotos:N0} single-person photos in the manifest ({report.PhotosWithoutFace:N0} without a catalogued face); gallery {report.GalleryFaces:N0} faces.");
        AnsiConsole.MarkupLineInterpolated(
            $"[grey]Clustered {report.State.ClusteredAt:yyyy-MM-dd HH:mm} UTC: {p.Neighbours} neighbours at cosine ≥ {p.EdgeThreshold:0.00}, merge threshold {p.MergeThreshold:0.00}, support {p.Support:0.##}, quality floor {p.QualityFloor:0.#}.[/]");
        // One column per (linkage, scope): the table stays narrow enough for an 80-column terminal.
        var columns = new[] { report.Catalog, report.SingleLinkage }
            .SelectMany(p => new[] { (p.Linkage, Scoped: p.AtLeastTwoPhotos, Short: "≥ 2 photos"), (p.Linkage, Scoped: p.AllLabelled, Short: "all") })
            .ToList();
        var table = new Table().AddColumns(["", .. columns.Select(c => Markup.Escape($"{c.Linkage.Split(' ')[0]}, {c.Short}"))]);
        void Row(string name, Func<ClusteringScore, string> value) => table.AddRow([name, .. columns.Select(c => value(c.Scoped.Score))]);
        Row("faces", s => N(s.Items));
        Row("labels", s => N(s.Labels));
        Row("clusters", s => N(s.Clusters));
        Row("pairwise precision", s => F(s.PairwisePrecision));
        Row("pairwise recall", s => F(s.PairwiseRecall));
        Row("pairwise F1", s => F(s.PairwiseF1));
        Row("BCubed precision", s => F(s.BCubedPrecision));
        Row("BCubed recall", s => F(s.BCubedRecall));
        Row("[bold]BCubed F1[/]", s => $"[bold]{F(s.BCubedF1)}[/]");
        Row("clusters merging labels", s => N(s.MergedClusters));
        AnsiConsole.Write(table);
        foreach (var (partition, cluster) in new[] { (report.Catalog, "identity"), (report.SingleLinkage, "cluster of face") })
        {
            var merges = partition.AllLabelled.Merges;
            AnsiConsole.MarkupLineInterpolated($"{partition.Linkage}: {merges.Count} cluster(s) merging labelled identities ({partition.AtLeastTwoPhotos.Merges.Count} among identities with ≥ 2 photos){(merges.Count > 0 ? ":" : ".")}");
            foreach (var merge in merges.Take(40))
            {
                AnsiConsole.MarkupLineInterpolated($"  {cluster} {merge.Cluster}: {string.Join(" + ", merge.Labels.Zip(merge.Faces, (l, n) => $"{l} ({n})"))}");
            }

            if (merges.Count > 40)
            {
                AnsiConsole.MarkupLineInterpolated($"  … and {merges.Count - 40} more (see the JSON report)");
            }
        }

        static string F(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);

        static string N(int value) => value.ToString("N0", CultureInfo.InvariantCulture);
    }
}
