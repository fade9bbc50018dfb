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
    IReadOnlyList<AnalyzedFace> Faces);

public sealed record ImageRecord(
    long Id,
    long CollectionId,
    string Sha256Hex,
    long ByteLength,
    string Format,
    int Width,
    int Height,
    Provenance Provenance,
    DateTimeOffset AddedAt);

public sealed record FaceRecord(long Id, long ImageId, BoxF Box, Landmarks5 Landmarks, float DetectorScore, string ModelId);

/// <summary>The outcome of writing one <see cref="NewImage"/>.</summary>
/// <param name="AlreadyPresent">True when the same bytes were already catalogued; nothing was added.</param>
public sealed record StoredImage(long ImageId, bool AlreadyPresent, IReadOnlyList<long> FaceIds);

/// <summary>A face embedding as stored in the catalog, decoded to float32.</summary>
public readonly record struct StoredEmbedding(long FaceId, float[] Vector);

public sealed record CatalogStats(long Collections, long Images, long Faces, long MaxFaceId, long SchemaVersion);

/// <summary>Thrown when a catalog operation names something that does not exist or conflicts with what does.</summary>
public sealed class CatalogException(string message, Exception? inner = null) : Exception(message, inner);
