using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Storage;
using Lineup.Vision;
using Lineup.Vision.Models;

namespace Lineup.Hosting;

/// <summary>
/// The warnings every answer of Lineup carries. <see cref="InvestigativeLead"/> is the one canonical text: the API,
/// the UI and the reports show these words and no other.
/// </summary>
public static class Disclaimers
{
    public const string InvestigativeLead =
        "Investigative lead, not an identification. A candidate must be verified by trained reviewers before any action.";

    public const string Scores =
        "Similarities and estimated false-match rates are statistical estimates from the calibration named in this report; " +
        "they are not the probability that a candidate is the person in the probe.";

    public const string Confirmation =
        "A confirmed lead was confirmed independently by two reviewers, neither of them the analyst who searched; it is still a lead, not an identification.";

    public const string Retention =
        "Probe photos and candidate lists are kept only for their retention period: \"candidate list expired\" means the list was removed under that policy, not that the search found no candidate.";

    public const string Completeness =
        "This report lists every search recorded for the case, including refused searches and searches without candidates; the SHA-256 of this file is recorded in the tamper-evident audit log.";

    /// <summary>The disclaimers of a disclosure report, in the order they are printed.</summary>
    public static IReadOnlyList<string> Disclosure { get; } = [InvestigativeLead, Scores, Confirmation, Retention, Completeness];
}

/// <summary>The case as disclosed: what it is for, what authorises it, who may use it.</summary>
/// <param name="Status"><c>open</c> or <c>closed</c>.</param>
public sealed record DisclosureCase(
    long Id,
    string Number,
    string Offence,
    string Purpose,
    string AuthorisationReference,
    DateTimeOffset AuthorisedUntil,
    string Status,
    bool LegalHold,
    DateTimeOffset CreatedAt,
    string CreatedBy,
    DateTimeOffset? ClosedAt,
    IReadOnlyList<string> AssignedUsers);

/// <summary>The face model and the threshold candidates were held against, with the calibration behind the FMR estimates.</summary>
/// <param name="ThresholdFmr">The calibrated false-match rate per comparison at the threshold; null without a calibration.</param>
/// <param name="Calibration">What produced the threshold (the model pack's evaluation).</param>
/// <param name="CalibrationDataset">What the similarity → FMR map was fitted on; null without one.</param>
public sealed record DisclosureModel(
    string ModelId,
    float Threshold,
    double? ThresholdFmr,
    string Calibration,
    string? CalibrationDataset,
    DateTimeOffset? CalibrationDate)
{
    /// <summary>The running engine's model, threshold and calibration.</summary>
    public static DisclosureModel Of(LineupEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var manifest = (engine.Analyzer as FaceEngine)?.Manifest ?? ModelPackManifest.Default;
        return new DisclosureModel(
            engine.ModelId, engine.Threshold, engine.ThresholdFmr, manifest.Calibration.Source,
            manifest.Calibration.Scores?.Dataset, manifest.Calibration.Scores?.Date);
    }

    /// <summary>
    /// The model and threshold an engine opened with <paramref name="options"/> uses, without loading the models (the
    /// engine reads the same embedded manifest): for reports from the catalog alone.
    /// </summary>
    public static DisclosureModel Of(LineupOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var manifest = ModelPackManifest.Default;
        var threshold = options.Search.Threshold ?? manifest.Calibration.Threshold;
        return new DisclosureModel(
            manifest.Id, threshold, manifest.Calibration.Scores?.Fmr(threshold), manifest.Calibration.Source,
            manifest.Calibration.Scores?.Dataset, manifest.Calibration.Scores?.Date);
    }
}

/// <summary>A reviewer's decision on a candidate.</summary>
/// <param name="Decision"><c>confirm</c> or <c>reject</c>.</param>
public sealed record DisclosureDecision(string Reviewer, string Decision, string? Reason, DateTimeOffset At);

/// <summary>One candidate a search returned (ids and scores only: no picture, no embedding).</summary>
/// <param name="Status">Where the candidate stands under the two-person rule (<c>unreviewed</c>, <c>awaiting_second</c>,
/// <c>confirmed</c>, <c>rejected</c>, <c>disputed</c>); absent when this installation keeps no review decisions.</param>
/// <param name="Decisions">The reviewers' decisions, oldest first; absent as <paramref name="Status"/> is.</param>
public sealed record DisclosureCandidate(
    int Rank,
    long FaceId,
    long ImageId,
    float Similarity,
    double? EstimatedFmr,
    bool AboveThreshold,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<DisclosureDecision>? Decisions);

/// <summary>One search of the case as recorded, with its candidates.</summary>
/// <param name="CaseNumberGiven">The case number as the user typed it.</param>
/// <param name="ProbeSource">What the user attested the probe is (<see cref="ProbeSources"/>).</param>
/// <param name="Outcome">The stored outcome, e.g. <c>candidates</c>, <c>refused_intake</c> (<see cref="OversightActivity.Code(SearchOutcome)"/>).</param>
/// <param name="Refusal">The intake refusal code, e.g. <c>authorisation_expired</c>; null when intake accepted the search.</param>
/// <param name="CandidatesReturned">How many candidates the search returned (the list may since have expired).</param>
/// <param name="CandidateList"><c>kept</c>, <c>none</c> (the search returned none), <c>expired</c> (removed by retention),
/// <c>not_searched</c> (refused or no face: nothing was searched) or <c>withheld</c> (an opt-out matched the probe).</param>
/// <param name="CandidateListNote">The state of the list in words when it is not kept, e.g. "candidate list expired …".</param>
/// <param name="Candidates">The stored candidates by rank, with the reviewers' decisions.</param>
public sealed record DisclosureSearch(
    long Id,
    DateTimeOffset At,
    string User,
    string? CaseNumberGiven,
    string ProbeSha256,
    string? ProbeSource,
    int FacesInProbe,
    int? Face,
    float? Quality,
    float QualityFloor,
    string? QualityOverride,
    string Outcome,
    string? Refusal,
    string Parameters,
    string ModelId,
    long GallerySize,
    long GalleryVersion,
    int CandidatesReturned,
    int AboveThreshold,
    double DurationMs,
    string Timings,
    string CandidateList,
    string? CandidateListNote,
    IReadOnlyList<DisclosureCandidate> Candidates);

/// <summary>A produced report file: its bytes, their SHA-256 (recorded in the audit log) and the audit event's number.</summary>
public sealed record DisclosureExport(DisclosureFormat Format, byte[] Content, string Sha256, long AuditSeq, string FileName, string ContentType);

/// <summary>The file formats of a disclosure report.</summary>
public enum DisclosureFormat
{
    Json,
    Pdf,
}

/// <summary>
/// The disclosure report of a case (issue 6, item 6): the case, its authorisation and users, the model and threshold,
/// every search recorded for it in order, refused ones and those without candidates included, each with its
/// parameters, gallery version, timings, candidates with scores and the reviewers' decisions, and the disclaimers.
/// Rendered as deterministic JSON (<see cref="ToJson"/>) or as PDF (<see cref="DisclosurePdf"/>); producing either
/// (<see cref="ExportAsync"/>) appends an <see cref="AuditActions.Export"/> event with the file's SHA-256.
/// </summary>
/// <param name="ReviewDecisionsIncluded">Whether this installation keeps review decisions (then every candidate has a status).</param>
public sealed record DisclosureReport(
    string Format,
    DateTimeOffset GeneratedAt,
    string GeneratedBy,
    DisclosureCase Case,
    DisclosureModel Model,
    bool ReviewDecisionsIncluded,
    IReadOnlyList<DisclosureSearch> Searches,
    IReadOnlyList<string> Disclaimers)
{
    /// <summary>The <see cref="Format"/> of reports this version writes.</summary>
    public const string CurrentFormat = "lineup-disclosure-report/1";

    /// <summary>
    /// camelCase, indented, properties in declaration order, numbers in .NET's shortest round-trip form: the same report
    /// always serialises to the same bytes. Non-ASCII text is written as itself (the file is read by people and never
    /// embedded in HTML).
    /// </summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The report of <paramref name="case"/> as the engine's catalog holds it now, generated by <paramref name="generatedBy"/>.</summary>
    public static Task<DisclosureReport> BuildAsync(LineupEngine engine, CaseRecord @case, string generatedBy, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        return BuildAsync(engine.Catalog, DisclosureModel.Of(engine), @case, generatedBy, engine.Options.Clock.GetUtcNow(), ct);
    }

    /// <summary>
    /// The report of <paramref name="case"/> from <paramref name="catalog"/>. The searches are those recorded for the case
    /// and those that named its number while no such case existed (<see cref="ISearchActivityLog.ListSearchesNamingCaseAsync"/>):
    /// exactly the searches whose audit events name the case. Decisions are included when the catalog keeps them
    /// (<see cref="IReviewStore"/>).
    /// </summary>
    public static async Task<DisclosureReport> BuildAsync(
        ICatalog catalog, DisclosureModel model, CaseRecord @case, string generatedBy, DateTimeOffset generatedAt, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(@case);
        ArgumentException.ThrowIfNullOrWhiteSpace(generatedBy);
        var log = catalog as ISearchLog ?? throw new InvalidOperationException("This catalog keeps no search record.");
        var activity = catalog as ISearchActivityLog;
        var searches = activity is not null
            ? await activity.ListSearchesNamingCaseAsync(@case.Id, @case.Number, ct).ConfigureAwait(false)
            : await log.ListCaseSearchesAsync(@case.Id, ct).ConfigureAwait(false);
        var lists = activity is not null
            ? await activity.GetCandidatesOfAsync([.. searches.Where(s => s.Candidates > 0).Select(s => s.Id)], ct: ct).ConfigureAwait(false)
            : null;
        var reviews = catalog as IReviewStore;
        var disclosed = new List<DisclosureSearch>(searches.Count);
        foreach (var search in searches)
        {
            IReadOnlyList<StoredCandidate> candidates = search.Candidates == 0
                ? []
                : lists is not null
                    ? lists.GetValueOrDefault(search.Id) ?? []
                    : await log.GetCandidatesAsync(search.Id, ct).ConfigureAwait(false);
            var decisions = reviews is not null && candidates.Count > 0
                ? await reviews.GetDecisionsAsync(search.Id, ct).ConfigureAwait(false)
                : [];
            disclosed.Add(Disclose(search, candidates, reviews is null ? null : decisions));
        }

        return new DisclosureReport(
            CurrentFormat, generatedAt, generatedBy, Disclose(@case), model, reviews is not null, disclosed, Hosting.Disclaimers.Disclosure);
    }

    /// <summary>The report as UTF-8 JSON (<see cref="JsonOptions"/>), ending with a newline.</summary>
    public byte[] ToJson() => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(this, JsonOptions) + "\n");

    /// <summary>A report read back from <see cref="ToJson"/>.</summary>
    public static DisclosureReport FromJson(ReadOnlySpan<byte> json) =>
        JsonSerializer.Deserialize<DisclosureReport>(json, JsonOptions) ?? throw new FormatException("The disclosure report is empty.");

    /// <summary>
    /// Produces the report as <paramref name="format"/> and appends the <see cref="AuditActions.Export"/> event
    /// (subject <c>report:{case number}</c>; details: format, SHA-256 of the bytes, number of searches) by
    /// <see cref="GeneratedBy"/>. The event is appended before the bytes are handed out: no report leaves unlogged.
    /// </summary>
    public async Task<DisclosureExport> ExportAsync(IAuditLog audit, DisclosureFormat format, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(audit);
        var content = format switch
        {
            DisclosureFormat.Json => ToJson(),
            DisclosureFormat.Pdf => DisclosurePdf.Render(this),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
        };
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(content));
        var name = format == DisclosureFormat.Json ? "json" : "pdf";
        var logged = await audit.AppendAsync(
            new NewAuditEvent(
                GeneratedBy, AuditActions.Export, Subject(Case.Number),
                AuditDetails.Empty.With("format", name).With("sha256", sha256).With("searches", Searches.Count)),
            ct).ConfigureAwait(false);
        return new DisclosureExport(
            format, content, sha256, logged.Seq, FileName(format), format == DisclosureFormat.Json ? "application/json" : "application/pdf");
    }

    /// <summary>The audit subject of a case's reports: <c>report:{number}</c>.</summary>
    public static string Subject(string caseNumber) => $"report:{caseNumber}";

    /// <summary>A file name for the report: the case number (safe characters only) and the generation time, e.g. <c>disclosure-C-17-20260101T120000Z.pdf</c>.</summary>
    public string FileName(DisclosureFormat format)
    {
        var safe = new string([.. Case.Number.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')]);
        var time = GeneratedAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        return $"disclosure-{safe}-{time}.{(format == DisclosureFormat.Json ? "json" : "pdf")}";
    }

    private static DisclosureCase Disclose(CaseRecord c) =>
        new(c.Id, c.Number, c.Offence, c.Purpose, c.AuthorisationReference, c.AuthorisedUntil, c.Status == CaseStatus.Open ? "open" : "closed",
            c.LegalHold, c.CreatedAt, c.CreatedBy, c.ClosedAt, c.AssignedUsers);

    private static DisclosureSearch Disclose(SearchRecord s, IReadOnlyList<StoredCandidate> candidates, IReadOnlyList<CandidateDecision>? decisions)
    {
        var (state, note) = s.Outcome switch
        {
            SearchOutcome.RefusedIntake or SearchOutcome.RefusedLowQuality or SearchOutcome.NoFace =>
                ("not_searched", "not searched: the search was refused or the probe had no face, so no candidate list exists"),
            SearchOutcome.WithheldOptOut => ("withheld", "withheld: the probe matches an opt-out request, so nothing was returned"),
            _ when s.Candidates == 0 => ("none", "no candidates: the gallery returned none"),
            _ when candidates.Count == 0 => ("expired",
                $"candidate list expired: the {s.Candidates} candidate(s) this search returned were removed under the retention policy"),
            _ => ("kept", null),
        };
        var byRank = decisions?.ToLookup(d => d.Rank);
        var ranks = candidates
            .Select(c =>
            {
                var mine = byRank?[c.Rank].OrderBy(d => d.At).ThenBy(d => d.Id).ToList();
                return new DisclosureCandidate(
                    c.Rank, c.FaceId, c.ImageId, c.Similarity, c.EstimatedFmr, c.AboveThreshold,
                    mine is null ? null : StatusCode(LeadRules.Status(mine)),
                    mine?.Select(d => new DisclosureDecision(d.User, d.Decision == ReviewDecision.Confirm ? "confirm" : "reject", d.Reason, d.At)).ToList());
            })
            .ToList();
        return new DisclosureSearch(
            s.Id, s.At, s.By, s.CaseNumber, s.ProbeSha256, s.ProbeSource, s.FacesInProbe, s.Face, s.Quality, s.QualityFloor, s.QualityOverride,
            OversightActivity.Code(s.Outcome), s.Refusal, s.Parameters, s.ModelId, s.GallerySize, s.GalleryVersion, s.Candidates, s.AboveThreshold,
            s.DurationMs, s.Timings, state, note, ranks);
    }

    /// <summary>The stored spelling of a lead status, e.g. <c>awaiting_second</c>.</summary>
    public static string StatusCode(LeadStatus status) => status switch
    {
        LeadStatus.Unreviewed => "unreviewed",
        LeadStatus.AwaitingSecond => "awaiting_second",
        LeadStatus.Confirmed => "confirmed",
        LeadStatus.Rejected => "rejected",
        LeadStatus.Disputed => "disputed",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };
}
