using Lineup.Core.Catalog;
using Lineup.Core.Imaging;

namespace Lineup.Core.Faces;

/// <summary>Wall time of each pipeline stage for one photo, in milliseconds.</summary>
public readonly record struct StageTimings(double DecodeMs, double DetectMs, double LandmarksMs, double AlignMs, double EmbedMs)
{
    /// <summary>Making the preview and the face thumbnails (0 when none were asked for).</summary>
    public double PicturesMs { get; init; }

    public double TotalMs => DecodeMs + DetectMs + LandmarksMs + AlignMs + EmbedMs + PicturesMs;
}

/// <summary>Everything the pipeline learned from one encoded photo.</summary>
/// <param name="Scale">Decoded buffer pixels per original pixel; face coordinates are already in original pixels.</param>
public sealed record PhotoAnalysis(ImageInfo Info, float Scale, IReadOnlyList<AnalyzedFace> Faces, StageTimings Timings)
{
    /// <summary>64-bit perceptual hash of the decoded image (<see cref="Imaging.PerceptualHash"/>), when the analyzer computes one.</summary>
    public ulong? PerceptualHash { get; init; }

    /// <summary>
    /// The whole upright image as a JPEG whose longest side is at most <see cref="PictureOptions.PreviewSide"/>; null
    /// unless pictures were asked for. Face boxes stay in original pixels.
    /// </summary>
    public Picture? Preview { get; init; }
}

/// <summary>
/// Encoded photo in, faces with embeddings out: decode (bounded), detect, landmark, align, embed.
/// Implementations are safe to call from several workers at once.
/// </summary>
public interface IPhotoAnalyzer
{
    /// <summary>Identifies the embedding model; embeddings of different models are never compared.</summary>
    string ModelId { get; }

    int Dimensions { get; }

    /// <summary>
    /// Analyses a probe: no pictures are made. Throws <see cref="ImageRejectedException"/> for inputs that cannot be used.
    /// </summary>
    PhotoAnalysis Analyze(ReadOnlySpan<byte> encoded, DecodeLimits limits) => Analyze(encoded, limits, withPictures: false);

    /// <summary>
    /// Throws <see cref="ImageRejectedException"/> for inputs that cannot be used. With <paramref name="withPictures"/>
    /// (gallery ingest), the result also carries <see cref="PhotoAnalysis.Preview"/> and each face's
    /// <see cref="AnalyzedFace.Thumbnail"/>, made from the pixels already decoded, unless the analyzer's pictures are
    /// turned off.
    /// </summary>
    PhotoAnalysis Analyze(ReadOnlySpan<byte> encoded, DecodeLimits limits, bool withPictures);
}
