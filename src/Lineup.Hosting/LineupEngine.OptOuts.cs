using System.Collections.Frozen;
using System.Diagnostics;
using System.Numerics.Tensors;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Ingest;

namespace Lineup.Hosting;

/// <summary>One photo of an opt-out request, as uploaded; <paramref name="Name"/> names it in messages.</summary>
public sealed record OptOutPhoto(string Name, byte[] Bytes);

/// <summary>What became of one photo of a request: the face taken from it (1-based, of how many), or why none was.</summary>
public sealed record OptOutPhotoResult(string Name, int? Face, int FacesInPhoto, string? Refusal);

/// <summary>
/// A recorded opt-out request: the record, what each photo gave, the receipt of the gallery faces erased (null when none
/// matched), the similarity threshold they were matched at and how many gallery faces were compared.
/// </summary>
public sealed record OptOutResult(
    OptOutRecord Request, IReadOnlyList<OptOutPhotoResult> Photos, ErasureReceipt? Receipt, float Threshold, long Compared, TimeSpan Elapsed, string? IndexReport);

/// <summary>
/// The opt-out registry's part of the engine. A request keeps the embedding of the most prominent face of each photo
/// (never the photo); recording it erases every gallery face matching one of them. From then on ingest does not store a
/// face that matches any embedding of the registry, and search withholds every candidate for a probe that matches one, and
/// drops any candidate that does. The registry is held in memory (a few KB a request) and compared with dot products (the
/// embeddings are unit length); it is reloaded when another process shares the catalog and records a request, which one
/// cheap query per search and per ingest detects.
/// </summary>
public sealed partial class LineupEngine
{
    /// <summary>
    /// The false-match rate per comparison the default opt-out threshold is calibrated at: ten times the search
    /// threshold's, because a miss here returns a person who asked not to be searched for. For the default pack that is
    /// cosine 0.239 (search: 0.328), where the calibration's true-match rate is 95.6 % (search: 92.1 %). Measured on the
    /// shared faces (1,468 photos, 56 people with 5 or more): one request photo matched 96.2 % of the person's other
    /// photos (93.2 % at 0.328), three matched 98.8 %, and 0.999 % of the 1.07 million pairs of different people's
    /// photos reached 0.239, so each request photo costs about 1 % of unrelated faces it is compared with.
    /// </summary>
    public const double DefaultOptOutFmr = 1e-2;

    private float? _optOutThreshold;
    private OptOutRegistry? _optOuts;

    /// <summary>The opt-out registry; the catalog implements it.</summary>
    public IOptOutStore OptOuts => Catalog as IOptOutStore ?? throw new InvalidOperationException("This catalog keeps no opt-out registry.");

    /// <summary>
    /// Cosine at or above which a face counts as the person of an opt-out request: <c>Lineup:Oversight:OptOutThreshold</c>,
    /// else the pack's calibrated similarity at <see cref="DefaultOptOutFmr"/>, never above the search threshold (a pack
    /// without a calibration gets the search threshold).
    /// </summary>
    public float OptOutThreshold => _optOutThreshold ??= Options.Oversight.OptOutThreshold
        ?? Math.Min(Threshold, _faces.Manifest.Calibration.Scores is { } scores ? (float)scores.SimilarityAtFmr(DefaultOptOutFmr) : Threshold);

    /// <summary>The calibrated false-match rate per comparison at <see cref="OptOutThreshold"/>; null without a calibration.</summary>
    public double? OptOutThresholdFmr => _faces.Manifest.Calibration.Scores?.Fmr(OptOutThreshold);

    /// <summary>
    /// Records an opt-out request: the most prominent face of each photo is embedded (a photo without a face is passed
    /// over and named in the result; a request with no face at all is refused, <see cref="NoFaceException"/>, and nothing is
    /// recorded; a photo that cannot be decoded refuses the request, <see cref="Core.Imaging.ImageRejectedException"/>). Then,
    /// holding the ingest lock, every catalogued face at or above <see cref="OptOutThreshold"/> with any of them is found
    /// by an exact comparison and erased, with the previews of their images, in the transaction that records the request
    /// (erasure receipt and request event in the audit log, subject <c>optout:ID</c>), and the index drops them. Neither the photos nor the embeddings are logged
    /// or returned.
    /// </summary>
    /// <param name="reference">The request's reference (a ticket number), recorded and audited.</param>
    /// <param name="note">An optional note, recorded but not audited.</param>
    /// <param name="photos">1 to <see cref="NewOptOut.MaxEmbeddings"/> photos of the person.</param>
    /// <param name="by">Who records it (audit actor).</param>
    public async Task<OptOutResult> RecordOptOutAsync(
        string reference, string? note, IReadOnlyList<OptOutPhoto> photos, string by, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        ArgumentNullException.ThrowIfNull(photos);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        if (photos.Count is 0 or > NewOptOut.MaxEmbeddings)
        {
            throw new ArgumentException($"An opt-out request needs 1 to {NewOptOut.MaxEmbeddings} photos of the person, not {photos.Count}.");
        }

        var started = Stopwatch.GetTimestamp();
        var embeddings = new List<float[]>(photos.Count);
        var results = new List<OptOutPhotoResult>(photos.Count);
        foreach (var photo in photos)
        {
            ct.ThrowIfCancellationRequested();
            ArgumentNullException.ThrowIfNull(photo);
            var analysis = Analyze(photo.Bytes, photo.Name);
            var chosen = MostProminent(analysis);
            if (chosen < 0)
            {
                results.Add(new OptOutPhotoResult(photo.Name, null, 0, "no face was found"));
                progress?.Report($"{photo.Name}: no face was found; the photo is not used");
                continue;
            }

            embeddings.Add(analysis.Faces[chosen].Embedding);
            results.Add(new OptOutPhotoResult(photo.Name, chosen + 1, analysis.Faces.Count, null));
            progress?.Report(analysis.Faces.Count == 1
                ? $"{photo.Name}: one face"
                : $"{photo.Name}: face {chosen + 1} of {analysis.Faces.Count}, the most prominent");
        }

        if (embeddings.Count == 0)
        {
            throw new NoFaceException(
                $"No face was found in {string.Join(", ", photos.Select(p => p.Name))}: the opt-out request was not recorded. Send photos that show the person's face.");
        }

        var threshold = OptOutThreshold;
        var request = new NewOptOut(reference, note, embeddings);
        return await WithExclusiveAsync(async () =>
        {
            // Found under the lock, so no face of the person can be ingested between the comparison and the erasure.
            progress?.Report("comparing with every gallery face");
            var screen = new OptOutRegistry(embeddings.Select(e => new OptOutEmbedding(0, e)).ToList(), threshold, _faces.Dimensions, 0);
            var matches = new List<long>();
            long compared = 0;
            await foreach (var stored in Catalog.ReadEmbeddingsAsync(0, ct).ConfigureAwait(false))
            {
                compared++;
                if (screen.Refuses(stored.Vector))
                {
                    matches.Add(stored.FaceId);
                }
            }

            progress?.Report(matches.Count == 0
                ? $"no gallery face matches (of {compared:N0}); recording the request"
                : $"{matches.Count:N0} gallery face(s) of {compared:N0} match; recording the request and erasing them");
            var registration = await OptOuts.AddOptOutAsync(request, matches, by, ct).ConfigureAwait(false);

            // Committed: in force for searches at once, before the index is rebuilt (the live index drops the faces first).
            await CurrentOptOutsAsync(CancellationToken.None).ConfigureAwait(false);
            string? indexReport = null;
            if (registration.Receipt is { Faces.Count: > 0 } receipt)
            {
                progress?.Report("rebuilding the index without the erased faces");
                indexReport = await DropFromIndexAsync(receipt.Faces).ConfigureAwait(false);
            }

            return new OptOutResult(registration.Request, results, registration.Receipt, threshold, compared, Stopwatch.GetElapsedTime(started), indexReport);
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Whether the embedding matches a recorded opt-out request.</summary>
    private async ValueTask<bool> IsOptedOutAsync(float[] embedding, CancellationToken ct) =>
        (await CurrentOptOutsAsync(ct).ConfigureAwait(false)).Refuses(embedding);

    /// <summary>
    /// Those of <paramref name="faceIds"/> (search candidates) that match the registry. Every such face was erased when its
    /// request was recorded and is refused at ingest, so this finds one only when the faces reached the catalog by another
    /// way (a threshold configured lower since, a restored backup): defence in depth, at no cost while the registry is empty.
    /// </summary>
    private async ValueTask<IReadOnlySet<long>> OptedOutFacesAsync(IReadOnlyList<long> faceIds, CancellationToken ct)
    {
        // The search asked IsOptedOutAsync a moment ago, which read the registry: no second query per search.
        var registry = Volatile.Read(ref _optOuts) ?? await CurrentOptOutsAsync(ct).ConfigureAwait(false);
        if (registry.IsEmpty || faceIds.Count == 0)
        {
            return FrozenSet<long>.Empty;
        }

        var matched = new HashSet<long>();
        foreach (var face in await Catalog.GetEmbeddingsAsync(faceIds, ct).ConfigureAwait(false))
        {
            if (registry.Refuses(face.Vector))
            {
                matched.Add(face.FaceId);
            }
        }

        return matched;
    }

    /// <summary>The screen an ingest applies before it writes a face; null while the registry is empty.</summary>
    private async Task<IFaceScreen?> IngestScreenAsync(CancellationToken ct)
    {
        var registry = await CurrentOptOutsAsync(ct).ConfigureAwait(false);
        return registry.IsEmpty ? null : registry;
    }

    /// <summary>
    /// The registry as recorded now: the one in memory while no request was recorded since it was read (by this process or
    /// another), else read afresh. A reload racing another keeps the newer.
    /// </summary>
    private async ValueTask<OptOutRegistry> CurrentOptOutsAsync(CancellationToken ct)
    {
        if (Catalog is not IOptOutStore store)
        {
            return OptOutRegistry.Empty;
        }

        var current = Volatile.Read(ref _optOuts);
        var version = await store.OptOutVersionAsync(ct).ConfigureAwait(false);
        if (current is not null && current.Version == version)
        {
            return current;
        }

        var embeddings = await store.ReadOptOutEmbeddingsAsync(ct).ConfigureAwait(false);

        // Every request keeps at least one embedding, so the newest request read is the version this registry holds.
        var fresh = new OptOutRegistry(embeddings, OptOutThreshold, _faces.Dimensions, embeddings.Count == 0 ? 0 : embeddings.Max(e => e.OptOutId));
        while (true)
        {
            var seen = Volatile.Read(ref _optOuts);
            if (seen is not null && seen.Version >= fresh.Version)
            {
                return seen;
            }

            if (Interlocked.CompareExchange(ref _optOuts, fresh, seen) == seen)
            {
                return fresh;
            }
        }
    }

    /// <summary>
    /// The registry's embeddings in one contiguous block, matched by dot product at a fixed threshold. Immutable: a new
    /// request replaces the whole registry. A face of another length (the catalog's model changed since the requests were
    /// recorded) is an error rather than a silent miss: the photos are not kept, so such requests must be recorded again.
    /// </summary>
    private sealed class OptOutRegistry : IFaceScreen
    {
        private readonly float[] _vectors;
        private readonly int _dimensions;
        private readonly float _threshold;

        public OptOutRegistry(IReadOnlyList<OptOutEmbedding> embeddings, float threshold, int dimensions, long version)
        {
            _dimensions = dimensions;
            _threshold = threshold;
            Version = version;
            Count = embeddings.Count;
            _vectors = new float[Count * dimensions];
            for (var i = 0; i < embeddings.Count; i++)
            {
                if (embeddings[i].Vector.Length != dimensions)
                {
                    throw new CatalogException(
                        $"Opt-out request {embeddings[i].OptOutId} holds an embedding of {embeddings[i].Vector.Length} dimensions; this model's have {dimensions}. " +
                        "The model changed since the request was recorded: record the request again with photos of the person.");
                }

                embeddings[i].Vector.CopyTo(_vectors, i * dimensions);
            }
        }

        public static OptOutRegistry Empty { get; } = new([], 1f, 0, 0);

        /// <summary>The newest request it holds (0: none).</summary>
        public long Version { get; }

        public int Count { get; }

        public bool IsEmpty => Count == 0;

        public bool Refuses(ReadOnlySpan<float> embedding)
        {
            if (Count == 0)
            {
                return false;
            }

            if (embedding.Length != _dimensions)
            {
                throw new ArgumentException($"The face has {embedding.Length} dimensions; the opt-out registry's have {_dimensions}.", nameof(embedding));
            }

            var vectors = _vectors.AsSpan();
            for (var offset = 0; offset < vectors.Length; offset += _dimensions)
            {
                if (TensorPrimitives.Dot(vectors.Slice(offset, _dimensions), embedding) >= _threshold)
                {
                    return true;
                }
            }

            return false;
        }
    }
}
