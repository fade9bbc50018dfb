using Lineup.Core.Catalog;
using Lineup.Hosting;
using Lineup.Server.Security;
using Microsoft.Extensions.Options;

namespace Lineup.Server.Api;

/// <summary>1:N search, probe face detection and 1:1 verification: multipart uploads of photos, answered in JSON.</summary>
public static class SearchApi
{
    public const string Disclaimer = Disclaimers.InvestigativeLead;

    public static RouteGroupBuilder MapSearchApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api").WithTags("Search").RequireAuthorization(Permissions.Search).RequireRateLimiting(RateLimits.Search);

        group.MapPost("/search/faces", DetectAsync)
            .Accepts<ProbeForm>("multipart/form-data")
            .Produces<ProbeFacesResponse>()
            .WithName("DetectProbeFaces")
            .WithSummary("The faces in a probe photo with their quality against the floor; nothing is searched or recorded");

        group.MapPost("/search", SearchAsync)
            .Accepts<SearchForm>("multipart/form-data")
            .Produces<SearchResponse>()
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .WithName("Search")
            .WithSummary("1:N search of one probe face for a case against the gallery; every search, refused or not, is recorded and audited");

        group.MapPost("/verify", VerifyAsync)
            .Accepts<VerifyForm>("multipart/form-data")
            .Produces<VerifyResponse>()
            .WithName("Verify")
            .WithSummary("1:1 comparison of the most prominent face of two photos");

        return group;
    }

    private static async Task<IResult> DetectAsync(HttpContext context, LineupEngine engine, IOptions<ServerOptions> options)
    {
        var form = await Forms.ReadAsync(context.Request, options.Value.MaxProbeBytes, context.RequestAborted).ConfigureAwait(false);
        var (photo, name) = await Forms.PhotoAsync(form, "photo", context.RequestAborted).ConfigureAwait(false);
        var (probe, faces, floor) = await Task.Run(() => engine.DescribeProbe(photo, name), context.RequestAborted).ConfigureAwait(false);
        return TypedResults.Ok(new ProbeFacesResponse(ProbeDto.From(probe), floor, faces.Select(ProbeFaceDto.From).ToList()));
    }

    private static async Task<IResult> SearchAsync(HttpContext context, LineupEngine engine, IOptions<ServerOptions> options)
    {
        var ct = context.RequestAborted;
        var form = await Forms.ReadAsync(context.Request, options.Value.MaxProbeBytes, ct).ConfigureAwait(false);
        var (photo, name) = await Forms.PhotoAsync(form, "photo", ct).ConfigureAwait(false);
        SearchFilter filter;
        try
        {
            filter = new SearchFilter(
                List(Forms.Text(form, "collection")),
                List(Forms.Text(form, "jurisdiction")),
                List(Forms.Text(form, "domain")),
                SearchFilter.ParseCaptureBound(Forms.Text(form, "capturedFrom"), "capturedFrom", endOfDay: false),
                SearchFilter.ParseCaptureBound(Forms.Text(form, "capturedTo"), "capturedTo", endOfDay: true)).Normalize();
        }
        catch (FormatException e)
        {
            throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid", e.Message);
        }

        var request = new SearchRequest(photo, name)
        {
            Top = Forms.Int(form, "top", 1, 100) ?? 10,
            Face = Forms.Int(form, "face", 1, 1000),
            Filter = filter,
            QualityOverride = Forms.Text(form, "overrideQuality"),
            By = LineupPrincipal.Name(context.User),
            CaseNumber = Forms.Text(form, "case"),
            ProbeSource = Forms.Text(form, "source"),
        };
        var result = await Task.Run(() => engine.SearchAsync(request, ct), ct).ConfigureAwait(false);
        var collections = (await engine.Catalog.ListCollectionsAsync(ct).ConfigureAwait(false)).ToDictionary(c => c.Id, c => c.Name);
        return TypedResults.Ok(new SearchResponse(
            result.SearchId, ProbeDto.From(result.Probe), result.ProbeFaces.Select(ProbeFaceDto.From).ToList(), result.SearchedFace, result.FaceChoice,
            result.QualityFloor, result.QualityOverride, result.Threshold, result.ThresholdFmr, result.GallerySize, result.SearchedFaces,
            result.Filter, result.Outcome, result.Calibration, Disclaimer,
            result.Candidates.Select(c => Candidate(c, collections)).ToList(), request.CaseNumber!.Trim()));
    }

    private static async Task<IResult> VerifyAsync(HttpContext context, LineupEngine engine, IOptions<ServerOptions> options)
    {
        var ct = context.RequestAborted;
        var form = await Forms.ReadAsync(context.Request, 2 * options.Value.MaxProbeBytes, ct).ConfigureAwait(false);
        var (a, nameA) = await Forms.PhotoAsync(form, "a", ct).ConfigureAwait(false);
        var (b, nameB) = await Forms.PhotoAsync(form, "b", ct).ConfigureAwait(false);
        var result = await Task.Run(() => engine.Verify(a, b, nameA, nameB), ct).ConfigureAwait(false);
        return TypedResults.Ok(new VerifyResponse(
            result.Similarity, result.Threshold, result.EstimatedFmr, result.SamePerson, ProbeFaceDto.From(result.FaceA), ProbeFaceDto.From(result.FaceB),
            Disclaimer));
    }

    private static CandidateDto Candidate(Candidate c, Dictionary<long, string> collections)
    {
        var first = c.Sightings.FirstOrDefault();
        var url = first?.Provenance.PageUrl ?? first?.Provenance.SourceUrl ?? c.Image.Provenance.PageUrl ?? c.Image.Provenance.SourceUrl;
        var domain = url is not null && Uri.TryCreate(url, UriKind.Absolute, out var uri) && !string.IsNullOrEmpty(uri.Host) ? uri.Host : null;
        var captured = c.Sightings.Select(s => s.Provenance.CapturedAt).Append(c.Image.Provenance.CapturedAt).Where(d => d is not null).Min();
        return new CandidateDto(
            c.Rank, c.FaceId, c.Image.Id, c.Similarity, c.AboveThreshold, c.EstimatedFmr, c.ExpectedFalseCandidates, c.Face.Quality?.Score,
            GalleryApi.ThumbnailUrl(c.FaceId), GalleryApi.ImageUrl(c.Image.Id), collections.GetValueOrDefault(c.Image.CollectionId), domain, captured,
            Math.Max(1, c.Sightings.Count));
    }

    private static string[]? List(string? text) => text is null ? null : text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The search form, for the API description (the handler reads it within its byte budget).</summary>
    /// <param name="Photo">The probe photo (JPEG, PNG, WebP, GIF or BMP).</param>
    /// <param name="Top">Candidates to return, 1–100 (default 10).</param>
    /// <param name="Face">1-based number of the probe face to search (default: the most prominent).</param>
    /// <param name="Collection">Comma-separated collection names.</param>
    /// <param name="Jurisdiction">Comma-separated ISO 3166 codes; a country also matches its subdivisions.</param>
    /// <param name="Domain">Comma-separated hosts; subdomains match.</param>
    /// <param name="CapturedFrom">yyyy-mm-dd or ISO 8601.</param>
    /// <param name="CapturedTo">yyyy-mm-dd (the whole day) or ISO 8601.</param>
    /// <param name="OverrideQuality">Reason for searching a face under the quality floor; recorded.</param>
    /// <param name="Case">The case number the search is for (required: open, authorised, and the caller assigned to it).</param>
    /// <param name="Source">What the probe is: cctv_still, field_photo, social_media, identity_document or other (sketches,
    /// composites, look-alikes, edited and generated images are refused).</param>
    public sealed record SearchForm(
        IFormFile Photo, int? Top, int? Face, string? Collection, string? Jurisdiction, string? Domain, string? CapturedFrom, string? CapturedTo,
        string? OverrideQuality, string? Case, string? Source);

    /// <param name="Photo">The probe photo.</param>
    public sealed record ProbeForm(IFormFile Photo);

    /// <param name="A">First photo.</param>
    /// <param name="B">Second photo.</param>
    public sealed record VerifyForm(IFormFile A, IFormFile B);
}
