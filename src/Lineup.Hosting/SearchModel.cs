using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;

namespace Lineup.Hosting;

/// <summary>A face found in a probe photo (no embedding leaves the engine).</summary>
/// <param name="Quality">The face's quality score and its components.</param>
/// <param name="BelowFloor">True when the quality score is under the configured probe floor.</param>
public sealed record ProbeFace(int Number, BoxF Box, float DetectorScore, float InterEyeDistance, FaceQuality? Quality, bool BelowFloor);

/// <summary>A 1:N search as asked.</summary>
/// <param name="Photo">The probe photo's encoded bytes.</param>
/// <param name="Name">Names the probe in messages (a file name, an upload name); never stored.</param>
public sealed record SearchRequest(byte[] Photo, string Name = "the probe photo")
{
    /// <summary>Candidates to return (1–1000).</summary>
    public int Top { get; init; } = 10;

    /// <summary>1-based probe face to search, in the order of <see cref="SearchResult.ProbeFaces"/>; null: the most prominent.</summary>
    public int? Face { get; init; }

    /// <summary>Restricts the gallery searched; applied inside the index search.</summary>
    public SearchFilter Filter { get; init; } = SearchFilter.None;

    /// <summary>The reason for searching a probe face under the quality floor; recorded with the search. Null: no override.</summary>
    public string? QualityOverride { get; init; }

    /// <summary>Who searches: a catalog user, assigned to the case, with current clearances.</summary>
    public string By { get; init; } = Environment.UserName;

    /// <summary>The case the search is for; every search needs an open, authorised case the user is assigned to.</summary>
    public string? CaseNumber { get; init; }

    /// <summary>What the user attests the probe is (<see cref="Core.Oversight.ProbeSources"/>).</summary>
    public string? ProbeSource { get; init; }
}

/// <summary>One gallery face returned for a probe, with where its photo came from.</summary>
/// <param name="EstimatedFmr">The calibrated probability that one comparison with a different person scores this high;
/// null when the model pack has no calibration.</param>
/// <param name="ExpectedFalseCandidates">FMR × the number of faces searched: how many candidates of different people are
/// expected at or above this similarity by chance alone.</param>
/// <param name="Sightings">Every place the photo (or a near-duplicate copy of it) was seen: "also seen at".</param>
public sealed record Candidate(
    int Rank,
    long FaceId,
    float Similarity,
    bool AboveThreshold,
    double? EstimatedFmr,
    double? ExpectedFalseCandidates,
    FaceRecord Face,
    ImageRecord Image,
    IReadOnlyList<Sighting> Sightings);

/// <summary>The answer to a 1:N search: what was found in the probe and the ranked gallery candidates.</summary>
/// <param name="SearchId">The catalog's record of this search.</param>
/// <param name="FaceChoice">How the searched face was chosen, in words.</param>
/// <param name="QualityOverride">The recorded reason when a probe under the floor was searched anyway.</param>
/// <param name="ThresholdFmr">The calibrated FMR per comparison at <paramref name="Threshold"/>.</param>
/// <param name="GallerySize">Faces in the gallery.</param>
/// <param name="SearchedFaces">Faces that passed the filter (the gallery size when there is none): the N of FMR × N.</param>
/// <param name="Outcome">Candidates above the threshold, or none: "no candidate above the threshold" is an answer.</param>
/// <param name="Calibration">What the score calibration was fitted on; null without one.</param>
public sealed record SearchResult(
    long SearchId,
    ImageInfo Probe,
    IReadOnlyList<ProbeFace> ProbeFaces,
    int SearchedFace,
    string FaceChoice,
    float QualityFloor,
    string? QualityOverride,
    float Threshold,
    double? ThresholdFmr,
    long GallerySize,
    long SearchedFaces,
    string Filter,
    SearchOutcome Outcome,
    string? Calibration,
    IReadOnlyList<Candidate> Candidates);

/// <summary>The answer to a 1:1 comparison of the most prominent face of each photo.</summary>
/// <param name="EstimatedFmr">The calibrated false-match rate at this similarity; null without a calibration.</param>
public sealed record VerifyResult(float Similarity, float Threshold, double? EstimatedFmr, ProbeFace FaceA, ProbeFace FaceB)
{
    public bool SamePerson => Similarity >= Threshold;
}

/// <summary>The probe photo has no face (or not the one asked for).</summary>
public sealed class NoFaceException(string message) : Exception(message);

/// <summary>
/// The probe face's quality is under the configured floor and no override reason was given. The refusal is recorded
/// (<see cref="SearchId"/>); the face and its quality components say why.
/// </summary>
public sealed class ProbeQualityException(string message, long searchId, ProbeFace face, float floor) : Exception(message)
{
    public long SearchId { get; } = searchId;

    public ProbeFace Face { get; } = face;

    public float Floor { get; } = floor;
}
