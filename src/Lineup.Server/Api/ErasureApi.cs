using System.Security.Claims;
using Lineup.Core.Catalog;
using Lineup.Hosting;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lineup.Server.Api;

/// <summary>
/// Erasure of a gallery image or face (admin): rows, pictures, embedding and index entry go, the database files are
/// compacted, and the receipt is written into the audit log in the same transaction as the deletes.
/// </summary>
public static class ErasureApi
{
    public static RouteGroupBuilder MapErasureApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api").WithTags("Erasure").RequireAuthorization(Permissions.Admin);

        group.MapDelete("/images/{id:long}", EraseImageAsync)
            .WithName("EraseImage")
            .WithSummary("Erase an image with its near-duplicate copies, faces, thumbnails, preview and sightings; answers the erasure receipt");

        group.MapDelete("/faces/{id:long}", EraseFaceAsync)
            .WithName("EraseFace")
            .WithSummary("Erase one face (embedding, thumbnail, index entry); its image stays; answers the erasure receipt");

        return group;
    }

    private static async Task<Results<Ok<ErasureReceipt>, ProblemHttpResult>> EraseImageAsync(
        long id, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        // Checked first for a clean 404; an image erased by someone else in between is a CatalogException (409).
        if (await engine.Catalog.GetImageAsync(id, ct).ConfigureAwait(false) is null)
        {
            return Problems.NotFound($"There is no image {id}.");
        }

        return TypedResults.Ok((await engine.EraseImageAsync(id, LineupPrincipal.Name(user), ct).ConfigureAwait(false)).Receipt);
    }

    private static async Task<Results<Ok<ErasureReceipt>, ProblemHttpResult>> EraseFaceAsync(
        long id, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        if (await engine.Catalog.GetFaceAsync(id, ct).ConfigureAwait(false) is null)
        {
            return Problems.NotFound($"There is no face {id}.");
        }

        return TypedResults.Ok((await engine.EraseFacesAsync([id], LineupPrincipal.Name(user), ct).ConfigureAwait(false)).Receipt);
    }
}
