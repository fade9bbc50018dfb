using System.Diagnostics;
using System.Security.Cryptography;
using Lineup.Core.Catalog;
using Lineup.Core.Imaging;
using Lineup.Core.Numerics;

namespace Lineup.Hosting;

/// <summary>A gallery face that matched the probe of a person erasure.</summary>
public readonly record struct PersonMatch(long FaceId, long ImageId, float Similarity);

/// <summary>
/// The gallery faces of the person in a probe photo: every face at or above <see cref="MinSimilarity"/>, most similar
/// first, found by an exact comparison with every catalogued embedding (an approximate index could miss one).
/// </summary>
public sealed record PersonMatches(int ProbeFace, int FacesInProbe, float MinSimilarity, long Compared, IReadOnlyList<PersonMatch> Matches);

/// <summary>What a person erasure found and erased; <see cref="Receipt"/> is null when no face matched.</summary>
public sealed record PersonErasure(PersonMatches Found, ErasureReceipt? Receipt, TimeSpan Elapsed);

/// <summary>An erasure and how long it took, the index rebuild included.</summary>
public sealed record EngineErasure(ErasureReceipt Receipt, TimeSpan Elapsed, string IndexReport);

/// <summary>
/// Erasure through the engine: the catalog erases (one transaction, audit receipt, compaction), then the index drops
/// the faces at once and is rebuilt from the catalog and saved, because USearch's remove only marks a node deleted and
/// the saved file would keep the vector's bytes (shown by <c>ErasureTests</c>). Erasures hold the ingest lock: an
/// ingest running meanwhile could store a near-duplicate pointing at an erased image, or save an index that still
/// holds an erased vector.
/// </summary>
public sealed partial class LineupEngine
{
    /// <summary>The catalog's erasure; the catalog implements it.</summary>
    public IErasure Erasure => Catalog as IErasure ?? throw new InvalidOperationException("This catalog cannot erase.");

    /// <summary>Erases an image, its near-duplicate copies, their faces, pictures and sightings (see <see cref="IErasure.EraseImageAsync"/>).</summary>
    public async Task<EngineErasure> EraseImageAsync(long imageId, string actor, CancellationToken ct = default) =>
        await WithExclusiveAsync(async () =>
        {
            var started = Stopwatch.GetTimestamp();
            var receipt = await Erasure.EraseImageAsync(imageId, actor, ct).ConfigureAwait(false);

            // The near-duplicate index may hold the erased images' hashes: a new photo close to one would be filed as a
            // copy of an image that no longer exists. It is reloaded from the catalog at the next ingest.
            _nearDuplicates = new NearDuplicateIndex();
            _hashesSeenUpTo = 0;
            var report = await DropFromIndexAsync(receipt.Faces).ConfigureAwait(false);
            return new EngineErasure(receipt, Stopwatch.GetElapsedTime(started), report);
        }, ct).ConfigureAwait(false);

    /// <summary>Erases faces; their images stay (see <see cref="IErasure.EraseFacesAsync"/>).</summary>
    public async Task<EngineErasure> EraseFacesAsync(IReadOnlyList<long> faceIds, string actor, CancellationToken ct = default) =>
        await WithExclusiveAsync(async () =>
        {
            var started = Stopwatch.GetTimestamp();
            var receipt = await Erasure.EraseFacesAsync(faceIds, actor, null, ct).ConfigureAwait(false);
            var report = await DropFromIndexAsync(receipt.Faces).ConfigureAwait(false);
            return new EngineErasure(receipt, Stopwatch.GetElapsedTime(started), report);
        }, ct).ConfigureAwait(false);

    /// <summary>
    /// The gallery faces of the probe's most prominent face at or above <paramref name="minSimilarity"/> (default: the
    /// model's threshold). Compares with every catalogued embedding: an erasure must be complete, and an approximate
    /// index search can miss a face. Nothing is recorded: this is what <c>lineup erase person</c> lists before erasing.
    /// </summary>
    public async Task<PersonMatches> FindPersonAsync(byte[] probe, float? minSimilarity = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(probe);
        var min = minSimilarity ?? Threshold;
        if (!float.IsFinite(min) || min is < -1f or > 1f)
        {
            throw new ArgumentException($"The minimum similarity must be from -1 to 1, not {min}.");
        }

        var analysis = Analyze(probe, "the probe photo");
        var chosen = MostProminent(analysis);
        if (chosen < 0)
        {
            throw new NoFaceException("the probe photo: no face was found.");
        }

        var query = analysis.Faces[chosen].Embedding;
        var found = new List<(long FaceId, float Similarity)>();
        long compared = 0;
        await foreach (var stored in Catalog.ReadEmbeddingsAsync(0, ct).ConfigureAwait(false))
        {
            compared++;
            var similarity = VectorMath.CosineOfUnit(query, stored.Vector);
            if (similarity >= min)
            {
                found.Add((stored.FaceId, similarity));
            }
        }

        var images = (await Catalog.GetFacesWithImagesAsync(found.Select(f => f.FaceId).ToList(), ct).ConfigureAwait(false))
            .ToDictionary(r => r.Face.Id, r => r.Image.Id);
        var matches = found
            .Where(f => images.ContainsKey(f.FaceId))
            .Select(f => new PersonMatch(f.FaceId, images[f.FaceId], f.Similarity))
            .OrderByDescending(m => m.Similarity)
            .ThenBy(m => m.FaceId)
            .ToList();
        return new PersonMatches(chosen + 1, analysis.Faces.Count, min, compared, matches);
    }

    /// <summary>
    /// Erasure of a person found by a probe: every gallery face of <see cref="FindPersonAsync"/> is erased (their images
    /// stay), with one audit receipt whose subject names the probe by the first 16 hex digits of its SHA-256.
    /// </summary>
    public async Task<PersonErasure> ErasePersonAsync(byte[] probe, string actor, float? minSimilarity = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        return await WithExclusiveAsync(async () =>
        {
            var started = Stopwatch.GetTimestamp();

            // Found under the lock, so no face of the person can be ingested between the search and the erasure.
            var found = await FindPersonAsync(probe, minSimilarity, ct).ConfigureAwait(false);
            if (found.Matches.Count == 0)
            {
                return new PersonErasure(found, null, Stopwatch.GetElapsedTime(started));
            }

            var subject = "person:probe-" + Convert.ToHexStringLower(SHA256.HashData(probe))[..16];
            var receipt = await Erasure.EraseFacesAsync(found.Matches.Select(m => m.FaceId).ToList(), actor, subject, ct).ConfigureAwait(false);
            await DropFromIndexAsync(receipt.Faces).ConfigureAwait(false);
            return new PersonErasure(found, receipt, Stopwatch.GetElapsedTime(started));
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Removes erased faces from the live index at once (a search meanwhile cannot return them), then replaces the index
    /// with one rebuilt from the catalog and saved: the removed vectors' bytes stay in a USearch index until it is
    /// rebuilt. The inverted file is only saved (see below). Not cancellable: the catalog has already erased.
    /// </summary>
    private async Task<string> DropFromIndexAsync(IReadOnlyList<long> faceIds)
    {
        var current = _index!;
        foreach (var id in faceIds)
        {
            current.Index.Remove(id);
        }

        if (Options.Index.Kind == "exact" || faceIds.Count == 0)
        {
            return "removed from the in-memory index";
        }

        if (Options.Index.Kind == "ivf")
        {
            // The inverted file moves another vector's code over a removed one and saves only live entries, so saving it
            // is enough: the file written holds no erased face.
            await current.SaveAsync(Catalog, CancellationToken.None).ConfigureAwait(false);
            return $"removed from the inverted-file index and saved it ({current.Index.Count:N0} faces)";
        }

        // Built beside the live one, then swapped in: searches keep using the old index (without the erased faces)
        // until the new one is ready. A search that took the old index just before the swap can still meet its disposal.
        var fresh = await IndexHandle.RebuildAsync(Options, Catalog, _faces.Dimensions, null, CancellationToken.None).ConfigureAwait(false);
        _index = fresh;
        current.Dispose();
        return fresh.Report;
    }

    /// <summary>Runs <paramref name="work"/> holding the ingest lock (in this process and across processes).</summary>
    private async Task<T> WithExclusiveAsync<T>(Func<Task<T>> work, CancellationToken ct)
    {
        await _ingestGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var exclusive = IngestLock.Acquire(Options.FullDataDirectory);
            return await work().ConfigureAwait(false);
        }
        finally
        {
            _ingestGate.Release();
        }
    }
}
