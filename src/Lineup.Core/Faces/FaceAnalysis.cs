using Lineup.Core.Catalog;

namespace Lineup.Core.Faces;

/// <summary>One face found in an image: where it is, its alignment points and its unit embedding.</summary>
/// <param name="Box">Square face box in original image pixels.</param>
public sealed record AnalyzedFace(BoxF Box, float DetectorScore, Landmarks5 Landmarks, float[] Embedding)
{
    /// <summary>The face's quality (<see cref="FaceQualityAssessor"/>); null where it was not assessed.</summary>
    public FaceQuality? Quality { get; init; }

    /// <summary>
    /// A small upright JPEG around the face (its box enlarged and made square, clipped to the image) for the gallery;
    /// null unless the analyzer was asked for pictures (ingest, never probes).
    /// </summary>
    public Picture? Thumbnail { get; init; }
}
