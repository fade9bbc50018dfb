using Lineup.Core.Faces;

namespace Lineup.Core.Catalog;

/// <summary>A named set of gallery images that share a lawful basis for processing.</summary>
public sealed record Collection(long Id, string Name, string LawfulBasis, string? Jurisdiction, DateTimeOffset CreatedAt);

/// <summary>
/// Where an image came from. Every field is optional, but kept whenever the source knows it. One
/// provenance becomes one or more sightings of the image (one per page that embeds it).
/// </summary>
/// <param name="SourceUrl">The URL the image bytes were fetched from (WARC-Target-URI, a manifest's source_url).</param>
/// <param name="PageUrl">A page that embeds the image (the first one known).</param>
/// <param name="CapturedAt">When the photo was taken or published, where the source says so.</param>
/// <param name="FetchedAt">When the bytes were fetched (WARC-Date).</param>
/// <param name="OriginalPath">Where the operator's copy lies: a file path, <c>archive!member</c>, <c>file.warc.gz@offset</c>.</param>
/// <param name="RecordId">The WARC-Record-ID (or another source's own record id).</param>
/// <param name="Licence">A licence or lawful-basis note for this one image (manifests).</param>
/// <param name="OtherPageUrls">Further pages that embed the same image URL, beyond <paramref name="PageUrl"/>.</param>
public sealed record Provenance(
    string? SourceUrl = null,
    string? PageUrl = null,
    DateTimeOffset? CapturedAt = null,
    DateTimeOffset? FetchedAt = null,
    string? OriginalPath = null,
    string? RecordId = null,
    string? Licence = null,
    IReadOnlyList<string>? OtherPageUrls = null);

/// <summary>An image about to be written, with its faces.</summary>
public sealed record NewImage(
    long CollectionId,
    byte[] Sha256,
    long ByteLength,
    string Format,
    int Width,
    int Height,
    Provenance Provenance,
    IReadOnlyList<AnalyzedFace> Faces)
{
    /// <summary>64-bit perceptual hash of the decoded image (<c>PerceptualHash</c>), kept to find re-encoded copies.</summary>
    public ulong? PerceptualHash { get; init; }

    /// <summary>Set when this image is a re-encoded or resized copy of a catalogued one: it is stored (with its
    /// own provenance) but without faces, which stay with the original.</summary>
    public long? NearDuplicateOf { get; init; }

    /// <summary>The downscaled JPEG the UI shows instead of the original; written in the image's transaction. Faces
    /// carry their own thumbnails (<see cref="AnalyzedFace.Thumbnail"/>).</summary>
    public Picture? Preview { get; init; }
}

public sealed record ImageRecord(
    long Id,
    long CollectionId,
    string Sha256Hex,
    long ByteLength,
    string Format,
    int Width,
    int Height,
    Provenance Provenance,
    DateTimeOffset AddedAt,
    long? NearDuplicateOf = null);

public sealed record FaceRecord(long Id, long ImageId, BoxF Box, Landmarks5 Landmarks, float DetectorScore, string ModelId)
{
    /// <summary>The face's quality when it was catalogued; null for faces stored before quality was assessed.</summary>
    public FaceQuality? Quality { get; init; }
}

/// <summary>The outcome of writing one <see cref="NewImage"/>.</summary>
/// <param name="AlreadyPresent">True when the same bytes were already catalogued; nothing was added.</param>
public sealed record StoredImage(long ImageId, bool AlreadyPresent, IReadOnlyList<long> FaceIds);

/// <summary>A face embedding as stored in the catalog, decoded to float32.</summary>
public readonly record struct StoredEmbedding(long FaceId, float[] Vector);

/// <summary>One place an image was seen: the same bytes (or a near-duplicate copy) at a URL, on a page, in a file.</summary>
public sealed record Sighting(long Id, long ImageId, long CollectionId, long? RunId, Provenance Provenance, DateTimeOffset SeenAt);

/// <summary>A catalogued image's perceptual hash and shape, for near-duplicate lookups.</summary>
public readonly record struct ImageHash(long ImageId, ulong Hash, int Width, int Height);

public sealed record CatalogStats(long Collections, long Images, long Faces, long MaxFaceId, long SchemaVersion);

/// <summary>Thrown when a catalog operation names something that does not exist or conflicts with what does.</summary>
public sealed class CatalogException(string message, Exception? inner = null) : Exception(message, inner);
