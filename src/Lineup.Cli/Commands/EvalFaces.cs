using System.Collections.Concurrent;
using System.Numerics.Tensors;
using Lineup.Core.Evaluation;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;

namespace Lineup.Cli.Commands;

/// <summary>The face an evaluation uses for one photo: its most prominent face, or none.</summary>
public sealed record EvalFace(string Path, float[] Embedding, FaceQuality? Quality, BoxF Box, Landmarks5 Landmarks)
{
    public float QualityScore => Quality?.Score ?? 0;
}

/// <summary>
/// The open-set 1:N split of a labelled photo set (NIST FRVT 1:N style). For each identity with two or more
/// photos the first photo with a face (ordinal path order) is enrolled and the others are mated probes; the photos
/// of single-photo identities alternate between the gallery (distractors) and the non-mated probes. Every mated
/// probe is also searched once more with its identity left out of the gallery, as a further non-mated search:
/// that keeps FPIR measurable at 1 % and below on a set with few single-photo identities.
/// </summary>
public sealed class OpenSetSplit
{
    private OpenSetSplit(
        IReadOnlyList<(string Identity, EvalFace Face)> gallery,
        IReadOnlyList<(string Path, string Identity)> mated,
        IReadOnlyList<string> nonMated)
    {
        Gallery = gallery;
        Mated = mated;
        NonMated = nonMated;
        var matrix = new float[gallery.Count * (gallery.Count == 0 ? 0 : gallery[0].Face.Embedding.Length)];
        for (var i = 0; i < gallery.Count; i++)
        {
            gallery[i].Face.Embedding.CopyTo(matrix, i * gallery[i].Face.Embedding.Length);
        }

        GalleryMatrix = matrix;
    }

    public IReadOnlyList<(string Identity, EvalFace Face)> Gallery { get; }

    /// <summary>Gallery embeddings laid end to end, in <see cref="Gallery"/> order.</summary>
    public float[] GalleryMatrix { get; }

    public IReadOnlyList<(string Path, string Identity)> Mated { get; }

    public IReadOnlyList<string> NonMated { get; }

    public static OpenSetSplit Create(IReadOnlyList<(string Path, string Identity)> labelled, IReadOnlyDictionary<string, EvalFace?> faces)
    {
        var gallery = new List<(string, EvalFace)>();
        var mated = new List<(string, string)>();
        var nonMated = new List<string>();
        var singletons = new List<(string Path, string Identity)>();
        foreach (var group in labelled.GroupBy(l => l.Identity).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var photos = group.OrderBy(p => p.Path, StringComparer.Ordinal).ToList();
            if (photos.Count == 1)
            {
                singletons.Add(photos[0]);
                continue;
            }

            var enrolled = photos.FirstOrDefault(p => faces[p.Path] is not null);
            if (enrolled.Path is null)
            {
                // No photo of this identity has a face: nothing can be enrolled, and each photo is a failed mated search.
                mated.AddRange(photos.Select(p => (p.Path, p.Identity)));
                continue;
            }

            gallery.Add((group.Key, faces[enrolled.Path]!));
            mated.AddRange(photos.Where(p => p.Path != enrolled.Path).Select(p => (p.Path, p.Identity)));
        }

        for (var i = 0; i < singletons.Count; i++)
        {
            if (i % 2 == 0 && faces[singletons[i].Path] is { } face)
            {
                gallery.Add((singletons[i].Identity, face));
            }
            else
            {
                nonMated.Add(singletons[i].Path);
            }
        }

        return new OpenSetSplit(gallery, mated, nonMated);
    }

    /// <summary>Cosine of <paramref name="probe"/> to every gallery face.</summary>
    public float[] Scores(ReadOnlySpan<float> probe)
    {
        var dims = probe.Length;
        var scores = new float[Gallery.Count];
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = TensorPrimitives.Dot(probe, GalleryMatrix.AsSpan(i * dims, dims));
        }

        return scores;
    }

    /// <summary>
    /// The mate's rank and score for a probe of <paramref name="identity"/> (a probe without a face misses), and the
    /// top score among the other identities' gallery faces (the leave-mate-out non-mated search).
    /// </summary>
    public (MatedSearch Mated, float TopOther) Search(float[]? probe, string identity)
    {
        if (probe is null)
        {
            return (MatedSearch.Miss, float.NegativeInfinity);
        }

        var scores = Scores(probe);
        var mate = -1;
        var topOther = float.NegativeInfinity;
        for (var i = 0; i < scores.Length; i++)
        {
            if (Gallery[i].Identity == identity)
            {
                mate = i;
            }
            else
            {
                topOther = Math.Max(topOther, scores[i]);
            }
        }

        if (mate < 0)
        {
            return (MatedSearch.Miss, topOther);
        }

        var rank = 1 + scores.Count(s => s > scores[mate]);
        return (new MatedSearch(rank, scores[mate]), topOther);
    }

    /// <summary>The top gallery score of a non-mated probe (−∞ without a face: it cannot raise a false positive).</summary>
    public float TopScore(float[]? probe) => probe is null || Gallery.Count == 0 ? float.NegativeInfinity : Scores(probe).Max();
}

/// <summary>Analyses the photos of an evaluation once, in parallel, keeping each photo's most prominent face.</summary>
public static class EvalAnalysis
{
    public static async Task<IReadOnlyDictionary<string, EvalFace?>> AnalyseAsync(
        IPhotoAnalyzer analyzer, string root, IReadOnlyList<string> photos, DecodeLimits limits, int workers, IProgress<string> progress,
        CancellationToken ct)
    {
        var faces = new ConcurrentDictionary<string, EvalFace?>(StringComparer.Ordinal);
        var done = 0;
        await Parallel.ForEachAsync(photos, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct }, async (photo, c) =>
        {
            var bytes = await File.ReadAllBytesAsync(System.IO.Path.Combine(root, photo), c);
            faces[photo] = MostProminent(analyzer, photo, bytes, limits);
            if (Interlocked.Increment(ref done) % 250 == 0)
            {
                progress.Report($"  {done}/{photos.Count} photos analysed");
            }
        });
        return faces;
    }

    /// <summary>The most prominent face of encoded bytes, or null when there is none or the image is refused.</summary>
    public static EvalFace? MostProminent(IPhotoAnalyzer analyzer, string path, ReadOnlySpan<byte> bytes, DecodeLimits limits)
    {
        try
        {
            var analysis = analyzer.Analyze(bytes, limits);
            return FaceSelection.MostProminent(analysis.Faces, analysis.Info.Width, analysis.Info.Height) is { } face
                ? new EvalFace(path, face.Embedding, face.Quality, face.Box, face.Landmarks)
                : null;
        }
        catch (ImageRejectedException)
        {
            return null;
        }
    }
}
