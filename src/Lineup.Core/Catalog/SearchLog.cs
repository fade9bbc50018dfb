namespace Lineup.Core.Catalog;

/// <summary>
/// What one 1:N search was asked and what it answered, kept in the catalog so that an operator can say which
/// probes were searched, how good they were, whether a quality refusal was overridden and why. No image and no
/// embedding is kept: the probe is known by the SHA-256 of its bytes only.
/// </summary>
/// <param name="By">Who searched (the operating-system user for the CLI, the signed-in user for the server).</param>
/// <param name="ProbeSha256">Hex SHA-256 of the probe photo's bytes.</param>
/// <param name="FacesInProbe">Faces found in the probe.</param>
/// <param name="Face">The searched face, 1-based; null when the search was refused before choosing one.</param>
/// <param name="Quality">The searched face's 0–100 quality score.</param>
/// <param name="QualityFloor">The configured floor the score was held against.</param>
/// <param name="QualityOverride">The reason given for searching a probe under the floor; null when not overridden.</param>
/// <param name="Outcome">How the search ended (<see cref="SearchOutcome"/>).</param>
/// <param name="Parameters">Top-k, filters and threshold, as the engine applied them (text, for people).</param>
public sealed record SearchRecord(
    DateTimeOffset At,
    string By,
    string ProbeSha256,
    int FacesInProbe,
    int? Face,
    float? Quality,
    float QualityFloor,
    string? QualityOverride,
    SearchOutcome Outcome,
    string Parameters,
    string ModelId,
    long GallerySize,
    int Candidates,
    int AboveThreshold,
    double DurationMs)
{
    /// <summary>The catalog's id for the record; 0 before it is written.</summary>
    public long Id { get; init; }
}

/// <summary>How a recorded search ended.</summary>
public enum SearchOutcome
{
    /// <summary>At least one candidate at or above the threshold.</summary>
    Candidates,

    /// <summary>The gallery was searched and no candidate reached the threshold: a first-class answer.</summary>
    NoCandidateAboveThreshold,

    /// <summary>The probe's face was under the quality floor and no override was given: nothing was searched.</summary>
    RefusedLowQuality,

    /// <summary>The probe had no face (or not the one asked for): nothing was searched.</summary>
    NoFace,
}

/// <summary>The catalog's record of searches.</summary>
public interface ISearchLog
{
    /// <summary>Appends a record in its own transaction and returns its id.</summary>
    Task<long> RecordSearchAsync(SearchRecord search, CancellationToken ct = default);

    /// <summary>The most recent searches, newest first.</summary>
    Task<IReadOnlyList<SearchRecord>> ListSearchesAsync(int limit = 100, CancellationToken ct = default);
}
