using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Security;
using Lineup.Hosting;

namespace Lineup.Server.Api;

// What the API answers. Each record is built from the engine's own results, so the OpenAPI document describes
// exactly what is sent; no embedding and no original image ever appears in one.

public sealed record BoxDto(float X1, float Y1, float X2, float Y2)
{
    public static BoxDto From(BoxF b) => new(b.X1, b.Y1, b.X2, b.Y2);
}

public sealed record QualityDto(
    float Score, float InterEyePixels, float Sharpness, float Brightness, float Contrast, float Yaw, float Pitch, float Roll,
    float DetectorScore, float LandmarkFit)
{
    public static QualityDto? From(FaceQuality? quality) => quality is not { } q
        ? null
        : new(q.Score, q.InterEyePixels, q.Sharpness, q.Brightness, q.Contrast, q.Yaw, q.Pitch, q.Roll, q.DetectorScore, q.LandmarkFit);
}

/// <summary>A face found in a probe; <c>shortfalls</c> says in words what lowers its quality.</summary>
public sealed record ProbeFaceDto(
    int Number, BoxDto Box, float DetectorScore, float InterEyeDistance, QualityDto? Quality, bool BelowFloor, IReadOnlyList<string> Shortfalls)
{
    public static ProbeFaceDto From(ProbeFace f) => new(
        f.Number, BoxDto.From(f.Box), f.DetectorScore, f.InterEyeDistance, QualityDto.From(f.Quality), f.BelowFloor,
        f.Quality?.Shortfalls() ?? []);
}

public sealed record ProbeDto(int Width, int Height, string Format)
{
    public static ProbeDto From(ImageInfo info) => new(info.Width, info.Height, info.Format.ToString().ToLowerInvariant());
}

public sealed record ProbeFacesResponse(ProbeDto Probe, float QualityFloor, IReadOnlyList<ProbeFaceDto> Faces);

/// <summary>The faces of a search's stored probe; <c>searchedFace</c> is the 1-based number of the face searched (null when none was).</summary>
public sealed record SearchProbeFacesDto(long SearchId, ProbeDto Probe, IReadOnlyList<ProbeFaceDto> Faces, int? SearchedFace);

public sealed record CandidateDto(
    int Rank,
    long FaceId,
    long ImageId,
    float Similarity,
    bool AboveThreshold,
    double? EstimatedFmr,
    double? ExpectedFalseCandidates,
    float? Quality,
    string ThumbnailUrl,
    string ImageUrl,
    string? Collection,
    string? SourceDomain,
    DateTimeOffset? CapturedAt,
    int SeenAt);

public sealed record SearchResponse(
    long SearchId,
    ProbeDto Probe,
    IReadOnlyList<ProbeFaceDto> ProbeFaces,
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
    string Disclaimer,
    IReadOnlyList<CandidateDto> Candidates,
    string CaseNumber);

public sealed record VerifyResponse(float Similarity, float Threshold, double? EstimatedFmr, bool SamePerson, ProbeFaceDto FaceA, ProbeFaceDto FaceB, string Disclaimer);

public sealed record CollectionDto(long Id, string Name, string LawfulBasis, string? Jurisdiction, DateTimeOffset CreatedAt)
{
    public static CollectionDto From(Collection c) => new(c.Id, c.Name, c.LawfulBasis, c.Jurisdiction, c.CreatedAt);
}

public sealed record NewCollectionRequest(string Name, string LawfulBasis, string? Jurisdiction);

public sealed record ProvenanceDto(
    string? SourceUrl, string? PageUrl, DateTimeOffset? CapturedAt, DateTimeOffset? FetchedAt, string? OriginalPath, string? RecordId, string? Licence)
{
    public static ProvenanceDto From(Provenance p) => new(p.SourceUrl, p.PageUrl, p.CapturedAt, p.FetchedAt, p.OriginalPath, p.RecordId, p.Licence);
}

public sealed record FaceDto(long Id, long ImageId, BoxDto Box, float DetectorScore, QualityDto? Quality, string ThumbnailUrl);

public sealed record ImageFaceDto(long Id, BoxDto Box, float DetectorScore, float? Quality, string ThumbnailUrl);

public sealed record SightingDto(
    long Id, string? Collection, long? RunId, string? SourceUrl, string? PageUrl, DateTimeOffset? CapturedAt, DateTimeOffset? FetchedAt,
    string? OriginalPath, DateTimeOffset SeenAt);

public sealed record PictureSizeDto(int Width, int Height);

public sealed record ImageDetail(
    long Id,
    CollectionDto? Collection,
    string Sha256,
    string Format,
    int Width,
    int Height,
    DateTimeOffset AddedAt,
    long? NearDuplicateOf,
    ProvenanceDto Provenance,
    string? PreviewUrl,
    PictureSizeDto? Preview,
    IReadOnlyList<ImageFaceDto> Faces,
    IReadOnlyList<SightingDto> Sightings);

public sealed record StatsDto(
    long Collections, long Images, long Faces, long IndexedFaces, long SchemaVersion, string ModelId, float Threshold, double? ThresholdFmr);

public sealed record SearchRecordDto(
    long Id, DateTimeOffset At, string By, string ProbeSha256, int FacesInProbe, int? Face, float? Quality, float QualityFloor,
    string? QualityOverride, SearchOutcome Outcome, string Parameters, long GallerySize, int Candidates, int AboveThreshold, double DurationMs,
    long? CaseId, string? CaseNumber, string? ProbeSource, string? Refusal, long GalleryVersion, string ModelId, string Timings)
{
    public static SearchRecordDto From(SearchRecord r) => new(
        r.Id, r.At, r.By, r.ProbeSha256, r.FacesInProbe, r.Face, r.Quality, r.QualityFloor, r.QualityOverride, r.Outcome, r.Parameters,
        r.GallerySize, r.Candidates, r.AboveThreshold, r.DurationMs, r.CaseId, r.CaseNumber, r.ProbeSource, r.Refusal, r.GalleryVersion,
        r.ModelId, r.Timings);
}

/// <summary>A case as the API shows it; <c>searchable</c> is whether it accepts searches now (open and authorised).</summary>
public sealed record CaseDto(
    long Id, string Number, string Offence, string Purpose, string AuthorisationReference, DateTimeOffset AuthorisedUntil, string Status,
    bool LegalHold, DateTimeOffset CreatedAt, string CreatedBy, DateTimeOffset? ClosedAt, IReadOnlyList<string> AssignedUsers, bool Searchable)
{
    public static CaseDto From(Lineup.Core.Oversight.CaseRecord c, DateTimeOffset now) => new(
        c.Id, c.Number, c.Offence, c.Purpose, c.AuthorisationReference, c.AuthorisedUntil, c.Status == Lineup.Core.Oversight.CaseStatus.Open ? "open" : "closed",
        c.LegalHold, c.CreatedAt, c.CreatedBy, c.ClosedAt, c.AssignedUsers,
        c.Status == Lineup.Core.Oversight.CaseStatus.Open && c.IsAuthorisedAt(now));
}

public sealed record NewCaseRequest(string Number, string Offence, string Purpose, string AuthorisationReference, DateTimeOffset AuthorisedUntil);

public sealed record AssignmentRequest(string User);

public sealed record ReauthoriseRequest(string Reference, DateTimeOffset Until);

public sealed record LegalHoldRequest(bool Hold, string Reason);

public sealed record ClearanceRequest(DateTimeOffset? NdaUntil, DateTimeOffset? TrainingUntil);

/// <summary>A probe source a search may attest (or that is always refused), with what it means.</summary>
public sealed record ProbeSourceDto(string Name, string Description, bool Accepted);

/// <summary>What intake accepts: the offences cases may be opened for and the probe sources.</summary>
public sealed record IntakeRulesDto(IReadOnlyList<string> Offences, IReadOnlyList<ProbeSourceDto> ProbeSources);

public sealed record SignInRequest(string UserName, string Password);

public sealed record MeDto(string Name, string? DisplayName, IReadOnlyList<string> Roles, IReadOnlyList<string> Permissions)
{
    public static MeDto From(UserAccount user) => new(
        user.Name, user.DisplayName, user.Roles.Order().Select(Lineup.Core.Security.Roles.Name).ToList(),
        Lineup.Server.Security.Permissions.Of(user.Roles).Order(StringComparer.Ordinal).ToList());
}

public sealed record AntiforgeryDto(string HeaderName, string Token);

public sealed record UserDto(
    long Id, string Name, string? DisplayName, IReadOnlyList<string> Roles, DateTimeOffset CreatedAt, bool Disabled, DateTimeOffset? NdaUntil,
    DateTimeOffset? TrainingUntil)
{
    public static UserDto From(UserAccount u) => new(
        u.Id, u.Name, u.DisplayName, u.Roles.Order().Select(Lineup.Core.Security.Roles.Name).ToList(), u.CreatedAt, u.IsDisabled, u.NdaUntil, u.TrainingUntil);
}

/// <summary>
/// A user a supervisor may assign to a case; <c>cleared</c> is whether their confidentiality agreement and training are
/// current now (an uncleared user may be assigned but can neither search nor confirm until renewed).
/// </summary>
public sealed record AssignableUserDto(
    string Name, string? DisplayName, IReadOnlyList<string> Roles, DateTimeOffset? NdaUntil, DateTimeOffset? TrainingUntil, bool Cleared)
{
    public static AssignableUserDto From(UserAccount u, DateTimeOffset now) => new(
        u.Name, u.DisplayName, u.Roles.Order().Select(Lineup.Core.Security.Roles.Name).ToList(), u.NdaUntil, u.TrainingUntil,
        Lineup.Core.Oversight.SearchIntake.CheckUser(u, u.Name, now) is null);
}

public sealed record NewUserRequest(string Name, string? DisplayName, IReadOnlyList<string> Roles, string Password);

public sealed record NewApiKeyRequest(string Name);

public sealed record ApiKeyDto(long Id, string Name, string Prefix, DateTimeOffset CreatedAt, string? Key);

public sealed record IngestPathRequest(string Path, string Collection, string LawfulBasis, string? Jurisdiction);

public sealed record HealthDto(string Status, IReadOnlyDictionary<string, string> Checks);
