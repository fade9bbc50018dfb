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

    /// <summary>The case searched for; null when the search named none or an unknown one (then refused).</summary>
    public long? CaseId { get; init; }

    /// <summary>The case number as the user gave it (kept for refusals of unknown numbers too).</summary>
    public string? CaseNumber { get; init; }

    /// <summary>What the user attested the probe is (<see cref="Oversight.ProbeSources"/>), as given.</summary>
    public string? ProbeSource { get; init; }

    /// <summary>Why intake refused the search (<see cref="Oversight.SearchIntake.Code"/>); null when it was not refused there.</summary>
    public string? Refusal { get; init; }

    /// <summary>The gallery version that answered (bumped by every ingest batch and erasure).</summary>
    public long GalleryVersion { get; init; }

    /// <summary>Per-stage times in milliseconds, e.g. <c>analyze=85.1; index=0.9; catalog=2.3</c>.</summary>
    public string Timings { get; init; } = "";
}

/// <summary>One candidate of a recorded search: ids and scores only (no picture, no embedding).</summary>
public sealed record StoredCandidate(int Rank, long FaceId, long ImageId, float Similarity, double? EstimatedFmr, bool AboveThreshold);

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

    /// <summary>Intake refused the search (no or wrong case, expired authorisation or clearance, refused probe source):
    /// nothing of the probe was analysed (<see cref="SearchRecord.Refusal"/> says why).</summary>
    RefusedIntake,

    /// <summary>The probe's face matches an opt-out request: nothing is returned.</summary>
    WithheldOptOut,
}

/// <summary>The one spelling of outcomes, used by the catalog, the audit log, reports and the supervisor view.</summary>
public static class SearchOutcomes
{
    /// <summary>The stored spelling, e.g. <c>no_candidate_above_threshold</c>.</summary>
    public static string Code(SearchOutcome outcome) => outcome switch
    {
        SearchOutcome.Candidates => "candidates",
        SearchOutcome.NoCandidateAboveThreshold => "no_candidate_above_threshold",
        SearchOutcome.RefusedLowQuality => "refused_low_quality",
        SearchOutcome.NoFace => "no_face",
        SearchOutcome.RefusedIntake => "refused_intake",
        SearchOutcome.WithheldOptOut => "withheld_opt_out",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, null),
    };

    /// <summary>The outcome spelled <paramref name="code"/>, or null.</summary>
    public static SearchOutcome? Parse(string code) =>
        Enum.GetValues<SearchOutcome>().Cast<SearchOutcome?>().FirstOrDefault(o => Code(o!.Value) == code);
}

/// <summary>The catalog's record of searches.</summary>
public interface ISearchLog
{
    /// <summary>Appends a record in its own transaction and returns its id.</summary>
    Task<long> RecordSearchAsync(SearchRecord search, CancellationToken ct = default);

    /// <summary>
    /// Appends a record with the probe photo as uploaded (kept until its time-to-live; empty: none) and the candidate list,
    /// in one transaction with its audit event. Returns its id.
    /// </summary>
    Task<long> RecordSearchAsync(SearchRecord search, ReadOnlyMemory<byte> probe, IReadOnlyList<StoredCandidate> candidates, CancellationToken ct = default);

    /// <summary>The most recent searches, newest first.</summary>
    Task<IReadOnlyList<SearchRecord>> ListSearchesAsync(int limit = 100, CancellationToken ct = default);

    Task<SearchRecord?> GetSearchAsync(long id, CancellationToken ct = default);

    /// <summary>Every search recorded for the case, refused ones included, oldest first.</summary>
    Task<IReadOnlyList<SearchRecord>> ListCaseSearchesAsync(long caseId, CancellationToken ct = default);

    /// <summary>The candidate list of a search, by rank; empty when it had none or it has expired.</summary>
    Task<IReadOnlyList<StoredCandidate>> GetCandidatesAsync(long searchId, CancellationToken ct = default);

    /// <summary>The probe photo of a search as uploaded; null when none was kept or it has expired.</summary>
    Task<byte[]?> GetProbeAsync(long searchId, CancellationToken ct = default);

    /// <summary>The current gallery version (bumped by every ingest batch and erasure).</summary>
    Task<long> GalleryVersionAsync(CancellationToken ct = default);
}
