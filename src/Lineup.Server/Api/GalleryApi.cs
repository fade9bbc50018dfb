using System.Globalization;
using System.Security.Claims;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Hosting;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Lineup.Server.Api;

/// <summary>The gallery as analysts and reviewers see it: faces, images with provenance and sightings, pictures, statistics.</summary>
public static class GalleryApi
{
    public static string ThumbnailUrl(long faceId) => string.Create(CultureInfo.InvariantCulture, $"/api/faces/{faceId}/thumbnail");

    public static string ImageUrl(long imageId) => string.Create(CultureInfo.InvariantCulture, $"/api/images/{imageId}");

    public static RouteGroupBuilder MapGalleryApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api").WithTags("Gallery").RequireAuthorization(Permissions.GalleryRead);

        group.MapGet("/stats", async (LineupEngine engine, CancellationToken ct) =>
        {
            var stats = await engine.Catalog.GetStatsAsync(ct).ConfigureAwait(false);
            return TypedResults.Ok(new StatsDto(
                stats.Collections, stats.Images, stats.Faces, engine.Index.Count, stats.SchemaVersion, engine.ModelId, engine.Threshold, engine.ThresholdFmr));
        })
            .WithName("GetStats")
            .WithSummary("Collections, images, faces, indexed faces, the model and its threshold");

        group.MapGet("/collections", async (LineupEngine engine, CancellationToken ct) =>
            TypedResults.Ok((await engine.Catalog.ListCollectionsAsync(ct).ConfigureAwait(false)).Select(CollectionDto.From).ToList()))
            .WithName("ListCollections")
            .WithSummary("Every collection with its lawful basis and jurisdiction");

        group.MapGet("/faces/{id:long}", GetFaceAsync)
            .WithName("GetFace")
            .WithSummary("One gallery face: its box, detector score and quality (never its embedding)");

        group.MapGet("/faces/{id:long}/thumbnail", (long id, LineupEngine engine, CancellationToken ct) => PictureAsync(
                engine.Pictures.GetFaceThumbnailAsync(id, ct),
                async () => await engine.Catalog.GetFaceAsync(id, ct).ConfigureAwait(false) is not null,
                $"There is no face {id}.",
                $"Face {id} has no thumbnail (it was catalogued before thumbnails were kept)."))
            .WithName("GetFaceThumbnail")
            .WithSummary("A small JPEG crop of the face");

        group.MapGet("/images/{id:long}", GetImageAsync)
            .WithName("GetImage")
            .WithSummary("One gallery image: provenance, every sighting, its faces (boxes in original pixels) and preview size");

        group.MapGet("/images/{id:long}/preview", (long id, LineupEngine engine, CancellationToken ct) => PictureAsync(
                engine.Pictures.GetImagePreviewAsync(id, ct),
                async () => await engine.Catalog.GetImageAsync(id, ct).ConfigureAwait(false) is not null,
                $"There is no image {id}.",
                $"Image {id} has no preview (it was catalogued before previews were kept)."))
            .WithName("GetImagePreview")
            .WithSummary("The photo downscaled (longest side at most Lineup:Pictures:PreviewSide)");

        group.MapGet("/images/{id:long}/original", GetOriginalAsync)
            .WithName("GetImageOriginal")
            .WithSummary("The original file, only where Lineup:Server:ServeOriginals allows it and the file is still at its recorded path");

        return group;
    }

    /// <summary>A stored JPEG, or a 404 that says whether the face or image is unknown or only its picture is missing.</summary>
    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> PictureAsync(
        Task<Picture?> picture, Func<Task<bool>> exists, string unknown, string withoutPicture) =>
        await picture.ConfigureAwait(false) is { } found
            ? TypedResults.File(found.Jpeg, "image/jpeg")
            : Problems.NotFound(await exists().ConfigureAwait(false) ? withoutPicture : unknown);

    private static async Task<Results<Ok<FaceDto>, ProblemHttpResult>> GetFaceAsync(long id, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        var face = await engine.Catalog.GetFaceAsync(id, ct).ConfigureAwait(false);
        await AuditViewAsync(engine, user, $"face:{id}", face is not null, ct).ConfigureAwait(false);
        return face is null
            ? Problems.NotFound($"There is no face {id}.")
            : TypedResults.Ok(new FaceDto(face.Id, face.ImageId, BoxDto.From(face.Box), face.DetectorScore, QualityDto.From(face.Quality), ThumbnailUrl(face.Id)));
    }

    private static async Task<Results<Ok<ImageDetail>, ProblemHttpResult>> GetImageAsync(long id, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        var image = await engine.Catalog.GetImageAsync(id, ct).ConfigureAwait(false);
        await AuditViewAsync(engine, user, $"image:{id}", image is not null, ct).ConfigureAwait(false);
        if (image is null)
        {
            return Problems.NotFound($"There is no image {id}.");
        }

        var collections = (await engine.Catalog.ListCollectionsAsync(ct).ConfigureAwait(false)).ToDictionary(c => c.Id);
        // A near-duplicate copy keeps no faces of its own: show the original's, which are the same people in the same places.
        var faces = await engine.Catalog.GetFacesOfImageAsync(image.NearDuplicateOf ?? image.Id, ct).ConfigureAwait(false);
        var sightings = await engine.Catalog.GetSightingsAsync(image.Id, ct).ConfigureAwait(false);
        var preview = await engine.Pictures.GetImagePreviewAsync(image.Id, ct).ConfigureAwait(false);
        return TypedResults.Ok(new ImageDetail(
            image.Id,
            collections.TryGetValue(image.CollectionId, out var collection) ? CollectionDto.From(collection) : null,
            image.Sha256Hex,
            image.Format,
            image.Width,
            image.Height,
            image.AddedAt,
            image.NearDuplicateOf,
            ProvenanceDto.From(image.Provenance),
            preview is null ? null : ImageUrl(image.Id) + "/preview",
            preview is null ? null : new PictureSizeDto(preview.Width, preview.Height),
            faces.Select(f => new ImageFaceDto(f.Id, BoxDto.From(f.Box), f.DetectorScore, f.Quality?.Score, ThumbnailUrl(f.Id))).ToList(),
            sightings.Select(s => new SightingDto(
                s.Id, collections.TryGetValue(s.CollectionId, out var c) ? c.Name : null, s.RunId, s.Provenance.SourceUrl, s.Provenance.PageUrl,
                s.Provenance.CapturedAt, s.Provenance.FetchedAt, s.Provenance.OriginalPath, s.SeenAt)).ToList()));
    }

    /// <summary>
    /// Opening a gallery image or face (the candidate view) is audited: who looked at which photo of whom, and when.
    /// Thumbnails and previews that a grid loads by the dozen are not: the view that shows them is.
    /// </summary>
    internal static async Task AuditViewAsync(LineupEngine engine, ClaimsPrincipal user, string subject, bool found, CancellationToken ct) =>
        await engine.Audit.AppendAsync(
            new NewAuditEvent(LineupPrincipal.Name(user), AuditActions.View, subject, AuditDetails.Empty.With("found", found)), ct).ConfigureAwait(false);

    private static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> GetOriginalAsync(
        long id, LineupEngine engine, IOptions<ServerOptions> options, CancellationToken ct)
    {
        if (!options.Value.ServeOriginals)
        {
            return Problems.Of(StatusCodes.Status404NotFound, "Originals are not served",
                "This installation serves previews and face crops only (Lineup:Server:ServeOriginals is off).");
        }

        var image = await engine.Catalog.GetImageAsync(id, ct).ConfigureAwait(false);
        if (image is null)
        {
            return Problems.NotFound($"There is no image {id}.");
        }

        // Only plain files are served: an archive member or WARC record would have to be re-extracted, and the bytes
        // must still be the catalogued ones.
        var path = image.Provenance.OriginalPath;
        if (path is null || !File.Exists(path))
        {
            return Problems.NotFound($"Image {id}'s original is not a file that is still at its recorded path.");
        }

        var bytes = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        if (!string.Equals(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), image.Sha256Hex, StringComparison.OrdinalIgnoreCase))
        {
            return Problems.Of(StatusCodes.Status409Conflict, "Original changed", $"The file at image {id}'s recorded path no longer has the catalogued content.");
        }

        return TypedResults.Stream(new MemoryStream(bytes), "image/" + image.Format.ToLowerInvariant());
    }
}
