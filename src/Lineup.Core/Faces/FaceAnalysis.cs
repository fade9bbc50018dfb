namespace Lineup.Core.Faces;

/// <summary>One face found in an image: where it is, its alignment points and its unit embedding.</summary>
/// <param name="Box">Square face box in original image pixels.</param>
public sealed record AnalyzedFace(BoxF Box, float DetectorScore, Landmarks5 Landmarks, float[] Embedding);
