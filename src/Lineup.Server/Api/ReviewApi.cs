using System.Globalization;
using System.Security.Claims;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lineup.Server.Api;

/// <summary>
/// The two-person confirmation of candidates: the reviewer's queue, the stored probe, a search's candidates with their
/// review as the caller may see it, decisions, and the export of confirmed leads. The rules themselves (who may decide,
/// one decision each, two confirmations) live in the catalog's write transaction (<see cref="IReviewStore"/>); this
/// class checks need-to-know, decides what each caller is shown (<see cref="ReviewVisibility"/>) and maps refusals.
/// </summary>
public static class ReviewApi
{
    public static string ProbeUrl(long searchId) => string.Create(CultureInfo.InvariantCulture, $"/api/searches/{searchId}/probe");

    public static string DecisionUrl(long searchId, int rank) => string.Create(CultureInfo.InvariantCulture, $"/api/searches/{searchId}/candidates/{rank}/decision");

    public static RouteGroupBuilder MapReviewApi(this IEndpointRouteBuilder routes)
    {
        var review = routes.MapGroup("/api").WithTags("Review").RequireAuthorization(Permissions.Review);

        review.MapGet("/reviews", QueueAsync)
            .WithName("ReviewQueue")
            .WithSummary("The caller's review queue: candidates above the threshold in their cases, of searches they did not run, that they have not decided");

        review.MapPost("/searches/{id:long}/candidates/{rank:int}/decision", DecideAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithName("DecideCandidate")
            .WithSummary("Confirm or reject a candidate (once per reviewer; a rejection needs a reason); the answer is the caller's own decision, never the status");

        // Analysts (who ran the search) and reviewers both read these; need-to-know is checked per search.
        var read = routes.MapGroup("/api").WithTags("Review").RequireAuthorization(Permissions.CasesRead);

        read.MapGet("/searches/{id:long}/probe", ProbeAsync)
            .Produces(StatusCodes.Status200OK, contentType: "image/jpeg")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("GetSearchProbe")
            .WithSummary("The probe photo of a search as uploaded, until it expires; for users assigned to its case and supervisors; every view is audited");

        read.MapGet("/searches/{id:long}/probe/faces", ProbeFacesAsync)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("GetSearchProbeFaces")
            .WithSummary("The faces found in a search's stored probe and which one was searched, so reviewers see whom the candidates are for; audited like the probe");

        read.MapGet("/searches/{id:long}/candidates", CandidatesAsync)
            .WithName("ListSearchCandidates")
            .WithSummary("The candidates of a search with their review as the caller may see it (reviewers see only their own decisions)");

        var export = routes.MapGroup("/api").WithTags("Review").RequireAuthorization(Permissions.Export);

        export.MapPost("/searches/{id:long}/candidates/{rank:int}/export", ExportAsync)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithName("ExportLead")
            .WithSummary("The lead package of a candidate two reviewers confirmed independently; anything else is refused (and audited)");

        return review;
    }

    /// <summary>Whether the caller sees a case's searches and their review: assigned to it, or reading every case.</summary>
    public static bool MaySeeCase(string userName, Func<string, bool> has, CaseRecord found)
    {
        ArgumentNullException.ThrowIfNull(has);
        ArgumentNullException.ThrowIfNull(found);
        return has(Permissions.CasesManage) || has(Permissions.Oversight) || found.IsAssigned(userName);
    }

    /// <summary>
    /// Whether the caller sees a search's probe photo: assigned to its case (the analyst who searched, its reviewers), or
    /// overseeing. Not every case manager: administrators run cases without a need to see the faces in them.
    /// </summary>
    public static bool MaySeeProbe(string userName, Func<string, bool> has, CaseRecord found)
    {
        ArgumentNullException.ThrowIfNull(has);
        ArgumentNullException.ThrowIfNull(found);
        return has(Permissions.Oversight) || found.IsAssigned(userName);
    }

    /// <summary>Who the caller is to a search's review, from their permissions (<see cref="ReviewVisibility"/>).</summary>
    public static ReviewViewer Viewer(string userName, Func<string, bool> has, SearchRecord search, CaseRecord found)
    {
        ArgumentNullException.ThrowIfNull(has);
        ArgumentNullException.ThrowIfNull(search);
        ArgumentNullException.ThrowIfNull(found);
        return new ReviewViewer(
            userName,
            SeesAll: has(Permissions.Oversight) || has(Permissions.CasesManage) || has(Permissions.SearchesRead),
            IsReviewer: has(Permissions.Review),
            IsSearcher: string.Equals(search.By, userName, StringComparison.OrdinalIgnoreCase),
            IsAssigned: found.IsAssigned(userName));
    }

    /// <summary>A search's candidates as <paramref name="viewer"/> is shown them.</summary>
    public static List<CandidateReviewDto> CandidateViews(
        ReviewViewer viewer, CaseRecord found, IReadOnlyList<StoredCandidate> candidates, IReadOnlyList<CandidateDecision> decisions)
    {
        ArgumentNullException.ThrowIfNull(viewer);
        ArgumentNullException.ThrowIfNull(found);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(decisions);
        var byRank = decisions.ToLookup(d => d.Rank);
        return candidates.Select(c =>
        {
            var view = ReviewVisibility.For(viewer, byRank[c.Rank]);
            var decided = byRank[c.Rank].Any(d => string.Equals(d.User, viewer.UserName, StringComparison.OrdinalIgnoreCase));
            var mayDecide = viewer.IsReviewer && !viewer.IsSearcher && viewer.IsAssigned && !decided && found.Status == CaseStatus.Open;
            return new CandidateReviewDto(
                c.Rank, c.FaceId, c.ImageId, c.Similarity, c.EstimatedFmr, c.AboveThreshold, GalleryApi.ThumbnailUrl(c.FaceId), GalleryApi.ImageUrl(c.ImageId),
                view.Status, view.Decisions.Select(DecisionDto.From).ToList(), mayDecide);
        }).ToList();
    }

    /// <summary>The image type of stored probe bytes from their magic numbers (the upload's declared type is not kept).</summary>
    public static string ProbeContentType(ReadOnlySpan<byte> bytes) => bytes switch
    {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, (byte)'P', (byte)'N', (byte)'G', ..] => "image/png",
        [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => "image/webp",
        [(byte)'G', (byte)'I', (byte)'F', (byte)'8', ..] => "image/gif",
        [(byte)'B', (byte)'M', ..] => "image/bmp",
        _ => "application/octet-stream",
    };

    /// <summary>The HTTP status of a refusal: 403 when it is about who the caller is, 404 for a missing candidate, 400 for a missing reason, else 409.</summary>
    public static int StatusOf(string code) => code switch
    {
        ReviewRefusals.NotAReviewer or ReviewRefusals.Clearance or ReviewRefusals.NotAssigned or ReviewRefusals.OwnSearch => StatusCodes.Status403Forbidden,
        ReviewRefusals.NoSuchCandidate => StatusCodes.Status404NotFound,
        ReviewRefusals.ReasonRequired => StatusCodes.Status400BadRequest,
        _ => StatusCodes.Status409Conflict,
    };

    internal static IReviewStore Reviews(LineupEngine engine) =>
        engine.Catalog as IReviewStore ?? throw new InvalidOperationException("This catalog keeps no reviews.");

    private static async Task<Results<Ok<ReviewQueueDto>, ProblemHttpResult>> QueueAsync(
        ClaimsPrincipal user, LineupEngine engine, CancellationToken ct, int? limit)
    {
        if (limit is < 1 or > 1000)
        {
            return Problems.BadRequest("limit must be between 1 and 1000.");
        }

        var name = LineupPrincipal.Name(user);
        var account = await engine.Users.FindUserAsync(name, ct).ConfigureAwait(false);
        // An expired clearance empties the queue; saying why spares the reviewer a support call.
        if (ReviewRules.CheckReviewer(account, name, engine.Options.Clock.GetUtcNow()) is { } blocked)
        {
            return TypedResults.Ok(new ReviewQueueDto([], new ReviewBlockDto(blocked.Code, blocked.Message)));
        }

        var items = await Reviews(engine).ReviewQueueAsync(name, limit ?? 100, ct).ConfigureAwait(false);
        return TypedResults.Ok(new ReviewQueueDto(items.Select(ReviewItemDto.From).ToList(), null));
    }

    private static async Task<Results<Ok<DecisionDto>, ProblemHttpResult>> DecideAsync(
        long id, int rank, DecisionRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        if (request.Decision is not { } decision || !Enum.IsDefined(decision))
        {
            return Problems.BadRequest("decision must be \"confirm\" or \"reject\".");
        }

        try
        {
            var recorded = await Reviews(engine)
                .DecideAsync(id, rank, LineupPrincipal.Name(user), decision, request.Reason, engine.Options.Clock.GetUtcNow(), ct)
                .ConfigureAwait(false);
            return TypedResults.Ok(DecisionDto.From(recorded));
        }
        catch (ReviewRefusedException e)
        {
            return Refused("Decision refused", e, null);
        }
    }

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> ProbeAsync(
        long id, ClaimsPrincipal user, HttpContext context, LineupEngine engine, CancellationToken ct)
    {
        var (probe, problem) = await VisibleProbeAsync(id, user, engine, ct).ConfigureAwait(false);
        if (probe is not { } p)
        {
            return problem!;
        }

        await engine.Audit.AppendAsync(new NewAuditEvent(LineupPrincipal.Name(user), AuditActions.View, $"probe:{id}",
            AuditDetails.Empty.With("case", Truncate(p.Case.Number)).With("bytes", p.Bytes.Length)), ct).ConfigureAwait(false);
        // A face photo of an investigation: no cache (browser, proxy) keeps a copy past the retention the catalog enforces.
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.File(p.Bytes, ProbeContentType(p.Bytes));
    }

    private static async Task<Results<Ok<SearchProbeFacesDto>, ProblemHttpResult>> ProbeFacesAsync(
        long id, ClaimsPrincipal user, HttpContext context, LineupEngine engine, CancellationToken ct)
    {
        var (probe, problem) = await VisibleProbeAsync(id, user, engine, ct).ConfigureAwait(false);
        if (probe is not { } p)
        {
            return problem!;
        }

        // Detection is CPU-bound (hundreds of ms on a large photo): off the request thread, like the search page's describe.
        var name = string.Create(CultureInfo.InvariantCulture, $"probe of search {id}");
        var (info, faces, _) = await Task.Run(() => engine.DescribeProbe(p.Bytes, name), ct).ConfigureAwait(false);
        await engine.Audit.AppendAsync(new NewAuditEvent(LineupPrincipal.Name(user), AuditActions.View, $"probe:{id}",
            AuditDetails.Empty.With("case", Truncate(p.Case.Number)).With("part", "faces").With("faces", faces.Count)), ct).ConfigureAwait(false);
        // Face boxes locate a person in an investigation's photo: no cache keeps them past the probe's retention either.
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.Ok(new SearchProbeFacesDto(
            p.Search.Id, ProbeDto.From(info), faces.Select(ProbeFaceDto.From).ToList(), p.Search.Face));
    }

    /// <summary>
    /// The stored probe of a search the caller may see (<see cref="MaySeeProbe"/>), or the 404 to answer: a search that
    /// does not exist, is not visible, or whose probe expired reads the same to callers outside the case.
    /// </summary>
    private static async Task<(VisibleProbe? Probe, ProblemHttpResult? Problem)> VisibleProbeAsync(
        long id, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        var name = LineupPrincipal.Name(user);
        var (search, found) = await SearchAndCaseAsync(id, engine, ct).ConfigureAwait(false);
        if (search is null || found is null || !MaySeeProbe(name, p => LineupPrincipal.Has(user, p), found))
        {
            return (null, Problems.NotFound($"There is no search {id} you may see."));
        }

        var bytes = await engine.SearchLog.GetProbeAsync(id, ct).ConfigureAwait(false);
        return bytes is null
            ? (null, Problems.NotFound($"The probe photo of search {id} is no longer kept (it expired or was never stored)."))
            : (new VisibleProbe(search, found, bytes), null);
    }

    private static async Task<Results<Ok<SearchCandidatesDto>, ProblemHttpResult>> CandidatesAsync(
        long id, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        var name = LineupPrincipal.Name(user);
        bool Has(string p) => LineupPrincipal.Has(user, p);
        var (search, found) = await SearchAndCaseAsync(id, engine, ct).ConfigureAwait(false);
        if (search is null || found is null || !MaySeeCase(name, Has, found))
        {
            return Problems.NotFound($"There is no search {id} you may see.");
        }

        var candidates = await engine.SearchLog.GetCandidatesAsync(id, ct).ConfigureAwait(false);
        var decisions = await Reviews(engine).GetDecisionsAsync(id, ct).ConfigureAwait(false);
        await engine.Audit.AppendAsync(new NewAuditEvent(name, AuditActions.View, $"candidates:{id}",
            AuditDetails.Empty.With("case", Truncate(found.Number)).With("candidates", candidates.Count)), ct).ConfigureAwait(false);
        return TypedResults.Ok(new SearchCandidatesDto(
            search.Id, found.Id, found.Number, search.At, search.By, search.ProbeSource, ProbeUrl(search.Id),
            CandidateViews(Viewer(name, Has, search, found), found, candidates, decisions), SearchApi.Disclaimer));
    }

    private static async Task<Results<Ok<LeadPackageDto>, ProblemHttpResult>> ExportAsync(
        long id, int rank, ClaimsPrincipal user, HttpContext context, LineupEngine engine, CancellationToken ct)
    {
        var name = LineupPrincipal.Name(user);
        bool Has(string p) => LineupPrincipal.Has(user, p);
        var (search, found) = await SearchAndCaseAsync(id, engine, ct).ConfigureAwait(false);
        if (search is null || found is null)
        {
            return Problems.NotFound($"There is no search {id} you may see.");
        }

        if (!MaySeeCase(name, Has, found))
        {
            // Refusals are audited: someone outside the case tried to take a lead out of it.
            await engine.Audit.AppendAsync(new NewAuditEvent(name, AuditActions.Export, string.Create(CultureInfo.InvariantCulture, $"candidate:{id}/{rank}"),
                AuditDetails.Empty.With("outcome", "refused").With("refusal", ReviewRefusals.NotAssigned)), ct).ConfigureAwait(false);
            return Problems.NotFound($"There is no search {id} you may see.");
        }

        LeadExport export;
        try
        {
            export = await Reviews(engine).ExportLeadAsync(id, rank, name, ct).ConfigureAwait(false);
        }
        catch (ReviewRefusedException e)
        {
            // The exporter learns the status, unless they are one of its reviewers who has not decided yet (independence).
            var viewer = Viewer(name, Has, search, found);
            var decisions = (await Reviews(engine).GetDecisionsAsync(id, ct).ConfigureAwait(false)).Where(d => d.Rank == rank);
            var hidden = viewer.IsReviewer && !viewer.IsSearcher && ReviewVisibility.For(viewer, decisions).Status is null;
            return Refused("Export refused", e, hidden ? null : e.Status);
        }

        var image = await engine.Catalog.GetImageAsync(export.Candidate.ImageId, ct).ConfigureAwait(false);
        var collection = image is null
            ? null
            : (await engine.Catalog.ListCollectionsAsync(ct).ConfigureAwait(false)).FirstOrDefault(c => c.Id == image.CollectionId);
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.Ok(LeadPackageDto.From(export, image, collection, name));
    }

    private static async Task<(SearchRecord? Search, CaseRecord? Case)> SearchAndCaseAsync(long id, LineupEngine engine, CancellationToken ct)
    {
        var search = await engine.SearchLog.GetSearchAsync(id, ct).ConfigureAwait(false);
        return search?.CaseId is { } caseId ? (search, await engine.Cases.GetCaseAsync(caseId, ct).ConfigureAwait(false)) : (search, null);
    }

    private readonly record struct VisibleProbe(SearchRecord Search, CaseRecord Case, byte[] Bytes);

    private static ProblemHttpResult Refused(string title, ReviewRefusedException e, LeadStatus? status)
    {
        var extensions = new Dictionary<string, object?> { ["code"] = e.Code };
        if (status is { } s)
        {
            extensions["leadStatus"] = StatusName(s);
        }

        return Problems.Of(StatusOf(e.Code), title, e.Message, extensions);
    }

    /// <summary>The status as the API's JSON spells enums (camelCase), for a problem's extension (<c>leadStatus</c>: <c>status</c> is the HTTP status).</summary>
    private static string StatusName(LeadStatus status) => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(status.ToString());

    private static string Truncate(string text) => text.Length <= AuditDetails.MaxTextLength ? text : text[..AuditDetails.MaxTextLength];
}
