using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;

namespace Lineup.Hosting;

/// <summary>A face found in a probe photo (no embedding leaves the engine).</summary>
public sealed record ProbeFace(int Number, BoxF Box, float DetectorScore, float InterEyeDistance);

/// <summary>One gallery face returned for a probe, with where its photo came from.</summary>
/// <param name="Sightings">Every place the photo (or a near-duplicate copy of it) was seen: "also seen at".</param>
public sealed record Candidate(
    int Rank, long FaceId, float Similarity, bool AboveThreshold, FaceRecord Face, ImageRecord Image, IReadOnlyList<Sighting> Sightings);

/// <summary>The answer to a 1:N search: what was found in the probe and the ranked gallery candidates.</summary>
public sealed record SearchResult(
    ImageInfo Probe,
    IReadOnlyList<ProbeFace> ProbeFaces,
    int SearchedFace,
    float Threshold,
    long GallerySize,
    IReadOnlyList<Candidate> Candidates);

/// <summary>The answer to a 1:1 comparison of the most prominent face of each photo.</summary>
public sealed record VerifyResult(float Similarity, float Threshold, ProbeFace FaceA, ProbeFace FaceB)
{
    public bool SamePerson => Similarity >= Threshold;
}

/// <summary>The probe photo has no face (or not the one asked for).</summary>
public sealed class NoFaceException(string message) : Exception(message);
