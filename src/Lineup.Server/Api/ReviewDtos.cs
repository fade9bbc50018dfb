using Lineup.Core.Catalog;
using Lineup.Core.Oversight;

namespace Lineup.Server.Api;

// What the review endpoints answer. A reviewer is shown no other reviewer's decision and no status (the second reviewer
// must decide without knowing the first one's answer): every record below that can carry them says when it does.

/// <summary>The caller's review queue.</summary>
/// <param name="Blocked">Why the caller cannot decide anything now (an expired clearance, no reviewer role); null when they can.</param>
public sealed record ReviewQueueDto(IReadOnlyList<ReviewItemDto> Items, ReviewBlockDto? Blocked);

/// <param name="Code">A <see cref="ReviewRefusals"/> code: <c>not_a_reviewer</c> or <c>clearance</c>.</param>
public sealed record ReviewBlockDto(string Code, string Message);

/// <summary>A candidate waiting for the caller's decision: ids, scores and where to see the two faces.</summary>
public sealed record ReviewItemDto(
    long SearchId,
    int Rank,
    long CaseId,
    string CaseNumber,
    string Offence,
    DateTimeOffset SearchedAt,
    string? ProbeSource,
    long FaceId,
    long ImageId,
    float Similarity,
    double? EstimatedFmr,
    string ThumbnailUrl,
    string ImageUrl,
    string ProbeUrl,
    string DecisionUrl)
{
    public static ReviewItemDto From(ReviewItem item) => new(
        item.Search.Id, item.Candidate.Rank, item.Case.Id, item.Case.Number, item.Case.Offence, item.Search.At, item.Search.ProbeSource,
        item.Candidate.FaceId, item.Candidate.ImageId, item.Candidate.Similarity, item.Candidate.EstimatedFmr,
        GalleryApi.ThumbnailUrl(item.Candidate.FaceId), GalleryApi.ImageUrl(item.Candidate.ImageId), ReviewApi.ProbeUrl(item.Search.Id),
        ReviewApi.DecisionUrl(item.Search.Id, item.Candidate.Rank));
}

/// <summary>A reviewer's decision on a candidate: <c>confirm</c>, or <c>reject</c> with a reason.</summary>
/// <param name="Decision">confirm or reject.</param>
/// <param name="Reason">What the reviewer noted; required for a rejection (kept in the catalog, not in the audit log).</param>
public sealed record DecisionRequest(ReviewDecision? Decision, string? Reason);

public sealed record DecisionDto(long Id, long SearchId, int Rank, string User, ReviewDecision Decision, string? Reason, DateTimeOffset At)
{
    public static DecisionDto From(CandidateDecision d) => new(d.Id, d.SearchId, d.Rank, d.User, d.Decision, d.Reason, d.At);
}

/// <summary>The candidates of a search with their review as the caller may see it.</summary>
public sealed record SearchCandidatesDto(
    long SearchId, long CaseId, string CaseNumber, DateTimeOffset SearchedAt, string SearchedBy, string? ProbeSource, string ProbeUrl,
    IReadOnlyList<CandidateReviewDto> Candidates, string Disclaimer);

/// <summary>One candidate and its review.</summary>
/// <param name="Status">Where it stands under the two-person rule; null when the caller is not shown it (a reviewer never
/// is; the user who searched is shown it only once it is confirmed, rejected or disputed).</param>
/// <param name="Decisions">The decisions the caller is shown: every one for supervisors and auditors, else the caller's own.</param>
public sealed record CandidateReviewDto(
    int Rank, long FaceId, long ImageId, float Similarity, double? EstimatedFmr, bool AboveThreshold, string ThumbnailUrl, string ImageUrl,
    LeadStatus? Status, IReadOnlyList<DecisionDto> Decisions, bool MayDecide);

/// <summary>
/// A confirmed lead as released to the case file: the case, the search (its probe by SHA-256 only), the candidate with its
/// scores, where the gallery photo came from, every decision with its reviewer and time, and the disclaimer.
/// </summary>
/// <param name="Image">The candidate's gallery image; null when it has been erased since the search.</param>
/// <param name="AuditSeq">The export's event in the audit log.</param>
public sealed record LeadPackageDto(
    string Format,
    string CaseNumber,
    string Offence,
    string AuthorisationReference,
    long SearchId,
    DateTimeOffset SearchedAt,
    string SearchedBy,
    string ProbeSha256,
    string? ProbeSource,
    string ModelId,
    long GalleryVersion,
    string Parameters,
    LeadCandidateDto Candidate,
    LeadImageDto? Image,
    IReadOnlyList<DecisionDto> Decisions,
    LeadStatus Status,
    string Disclaimer,
    string ExportedBy,
    DateTimeOffset ExportedAt,
    long AuditSeq)
{
    /// <summary>The package's format name and version, for whoever reads it later.</summary>
    public const string FormatName = "lineup-lead/1";

    public static LeadPackageDto From(LeadExport export, ImageRecord? image, Collection? collection, string exportedBy)
    {
        ArgumentNullException.ThrowIfNull(export);
        var (search, found, candidate) = (export.Search, export.Case, export.Candidate);
        return new LeadPackageDto(
            FormatName, found.Number, found.Offence, found.AuthorisationReference, search.Id, search.At, search.By, search.ProbeSha256, search.ProbeSource,
            search.ModelId, search.GalleryVersion, search.Parameters,
            new LeadCandidateDto(candidate.Rank, candidate.FaceId, candidate.ImageId, candidate.Similarity, candidate.EstimatedFmr, candidate.AboveThreshold),
            image is null
                ? null
                : new LeadImageDto(image.Id, image.Sha256Hex, image.Format, image.Width, image.Height, image.AddedAt, collection?.Name, collection?.LawfulBasis,
                    collection?.Jurisdiction, ProvenanceDto.From(image.Provenance)),
            export.Decisions.Select(DecisionDto.From).ToList(), export.Status, SearchApi.Disclaimer, exportedBy, export.At, export.AuditSeq);
    }
}

public sealed record LeadCandidateDto(int Rank, long FaceId, long ImageId, float Similarity, double? EstimatedFmr, bool AboveThreshold);

/// <summary>The gallery image of a lead: its identity (SHA-256), its collection's lawful basis and its provenance.</summary>
public sealed record LeadImageDto(
    long Id, string Sha256, string Format, int Width, int Height, DateTimeOffset AddedAt, string? Collection, string? LawfulBasis, string? Jurisdiction,
    ProvenanceDto Provenance);
