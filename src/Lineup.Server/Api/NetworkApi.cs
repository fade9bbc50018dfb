using System.Globalization;
using System.Security.Claims;
using Lineup.Core.Network;
using Lineup.Hosting;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Lineup.Server.Api;

/// <summary>
/// Network analysis: the identity clusters of the gallery, the co-appearance graph among them (associates, paths, the
/// evidence of an edge, communities), exports for Gephi, and the analysts' corrections. Every query and correction names
/// its case (<c>case</c> in the query string of a GET, in the JSON body otherwise) and goes through
/// <see cref="NetworkAnalysis"/>, which passes the case gate (refusals: 403 with <c>refusal</c>) and audits, refused
/// queries included. Inputs are checked here first (400), so that a malformed request reads nothing.
/// </summary>
public static class NetworkApi
{
    /// <summary>The attachment names of the exports.</summary>
    public const string GraphMlFileName = "lineup-network.graphml";

    public const string GexfFileName = "lineup-network.gexf";

    /// <summary>The most identities, communities or faces one request lists.</summary>
    public const int MaxLimit = 1_000;

    public static string PreviewUrl(long imageId) => GalleryApi.ImageUrl(imageId) + "/preview";

    public static RouteGroupBuilder MapNetworkApi(this IEndpointRouteBuilder routes)
    {
        var network = routes.MapGroup("/api/network").WithTags("Network").RequireAuthorization(Permissions.Network);

        network.MapGet("/status", StatusAsync)
            .WithName("GetNetworkStatus")
            .WithSummary("Where the identity partition stands: identities, faces clustered, version, when and with which parameters (no case needed, no person data)");

        network.MapGet("/identities", ListIdentitiesAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .WithName("ListIdentities")
            .WithSummary("Identities with at least minFaces faces (default 1), the most faces first; in a case, audited");

        network.MapGet("/identities/{id:long}", GetIdentityAsync)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("GetIdentity")
            .WithSummary("An identity with all its faces (best quality first) and its timeline of sightings by capture date and source; in a case, audited");

        network.MapGet("/faces/{faceId:long}/identity", IdentityOfFaceAsync)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("GetIdentityOfFace")
            .WithSummary("The identity a gallery face (a search candidate) was clustered into; in a case, audited");

        network.MapGet("/identities/{id:long}/associates", AssociatesAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("GetAssociates")
            .WithSummary("Identities seen with this one within hops (1 or 2; the server's limit), nearest and strongest first, with the subgraph that shows them; in a case, audited");

        network.MapGet("/path", PathAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("GetNetworkPath")
            .WithSummary("The shortest evidenced path between two identities within maxHops (1 to 4, default 4), or found: false; in a case, audited");

        network.MapGet("/edges/{a:long}/{b:long}", EdgeAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("GetCoAppearance")
            .WithSummary("The edge between two identities with its evidence: the photos they share and the pages they were both on (404 when never seen together); in a case, audited");

        network.MapGet("/communities", CommunitiesAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .WithName("ListCommunities")
            .WithSummary("Communities of the co-appearance graph (two or more identities), largest first, at most limit (default 100); in a case, audited");

        network.MapGet("/export", ExportAsync)
            .Produces(StatusCodes.Status200OK, contentType: NetworkExport.GraphMlMediaType, additionalContentTypes: [NetworkExport.GexfMediaType])
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("ExportNetwork")
            .WithSummary("The co-appearance graph as GraphML or GEXF for Gephi: the whole graph, or an identity's neighbourhood within hops (1 or 2, default 2); in a case, audited as an export");

        network.MapPost("/identities/{id:long}/merge", MergeAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("MergeIdentities")
            .WithSummary("Correction: identity from is the same person as this one; all faces of both are fixed to this one, which is returned; kept by every re-clustering, audited");

        network.MapPost("/identities/{id:long}/split", SplitAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("SplitIdentity")
            .WithSummary("Correction: the faces listed are another person; they are fixed to a new identity, which is returned; kept by every re-clustering, audited");

        network.MapPost("/faces/{faceId:long}/move", MoveFaceAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("MoveFace")
            .WithSummary("Correction: the face belongs to identity, which is returned; kept by every re-clustering, audited");

        network.MapPut("/identities/{id:long}/name", NameAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("NameIdentity")
            .WithSummary("Correction: name the identity (a blank name clears it); its faces are fixed to it; audited");

        // Clustering rewrites the partition for everyone and may run for minutes on a large gallery: an operator's task.
        var admin = routes.MapGroup("/api/network").WithTags("Network").RequireAuthorization(Permissions.Admin);

        admin.MapPost("/cluster", ClusterAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .WithName("ClusterIdentities")
            .WithSummary("Cluster the gallery's faces into identities now: new faces only, or every face with full=true (also when the parameters or model changed); analysts' corrections are kept; audited");

        return network;
    }

    private static NetworkQuery Query(ClaimsPrincipal user, string? caseNumber) => new(LineupPrincipal.Name(user), caseNumber);

    private static ApiInputException Invalid(string detail) => new(StatusCodes.Status400BadRequest, "The request is not valid", detail);

    private static void RequireId(long id, string what)
    {
        if (id < 1)
        {
            throw Invalid(string.Create(CultureInfo.InvariantCulture, $"{what} ids are positive numbers, not {id}."));
        }
    }

    private static int Bounded(int? value, int fallback, int min, int max, string name)
    {
        var v = value ?? fallback;
        if (v >= min && v <= max)
        {
            return v;
        }

        throw Invalid(max == int.MaxValue
            ? string.Create(CultureInfo.InvariantCulture, $"{name} must be at least {min}, not {v}.")
            : string.Create(CultureInfo.InvariantCulture, $"{name} must be between {min} and {max}, not {v}."));
    }

    private static async Task<Ok<NetworkStatusDto>> StatusAsync(LineupEngine engine, CancellationToken ct)
    {
        var state = await engine.Network.Store.GetClusteringStateAsync(ct).ConfigureAwait(false);
        return TypedResults.Ok(NetworkStatusDto.From(state, engine.Network.Parameters));
    }

    private static async Task<Ok<ClusterRunDto>> ClusterAsync(bool? full, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        var run = await engine.Network.ClusterAsync(full ?? false, LineupPrincipal.Name(user), ct: ct).ConfigureAwait(false);
        return TypedResults.Ok(ClusterRunDto.From(run));
    }

    private static async Task<Ok<IdentityListDto>> ListIdentitiesAsync(
        [FromQuery(Name = "case")] string? caseNumber, int? minFaces, int? limit, int? offset, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        var min = Bounded(minFaces, 1, 1, int.MaxValue, "minFaces");
        var take = Bounded(limit, 50, 1, MaxLimit, "limit");
        var skip = Bounded(offset, 0, 0, int.MaxValue, "offset");
        var identities = await engine.Network.ListIdentitiesAsync(Query(user, caseNumber), min, take, skip, ct).ConfigureAwait(false);
        return TypedResults.Ok(new IdentityListDto([.. identities.Select(IdentityDto.From)]));
    }

    private static async Task<Ok<IdentityDetailDto>> GetIdentityAsync(
        long id, [FromQuery(Name = "case")] string? caseNumber, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        RequireId(id, "Identity");
        var view = await engine.Network.GetIdentityAsync(Query(user, caseNumber), id, ct).ConfigureAwait(false);
        return TypedResults.Ok(IdentityDetailDto.From(view));
    }

    private static async Task<Ok<IdentityDto>> IdentityOfFaceAsync(
        long faceId, [FromQuery(Name = "case")] string? caseNumber, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        RequireId(faceId, "Face");
        var identity = await engine.Network.IdentityOfFaceAsync(Query(user, caseNumber), faceId, ct).ConfigureAwait(false);
        return TypedResults.Ok(IdentityDto.From(identity));
    }

    private static async Task<Ok<AssociatesDto>> AssociatesAsync(
        long id, [FromQuery(Name = "case")] string? caseNumber, int? hops, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        RequireId(id, "Identity");
        var limit = Bounded(hops, 1, 1, NetworkGate.MaxHops, "hops");
        var (associates, graph) = await engine.Network.AssociatesAsync(Query(user, caseNumber), id, limit, ct).ConfigureAwait(false);
        var identities = graph.Identities.ToDictionary(i => i.Id);
        return TypedResults.Ok(new AssociatesDto(
            IdentityDto.From(identities[id]),
            limit,
            [.. associates.Select(a => new AssociateDto(IdentityDto.From(identities[a.IdentityId]), a.Hops, a.Via, a.Edge.Photos, a.Edge.Pages, a.Edge.Weight))],
            NetworkGraphDto.From(graph)));
    }

    private static async Task<Ok<NetworkPathDto>> PathAsync(
        [FromQuery(Name = "case")] string? caseNumber, long? from, long? to, int? maxHops, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        if (from is not { } a || to is not { } b)
        {
            throw Invalid("Give the two identities: from and to.");
        }

        RequireId(a, "Identity");
        RequireId(b, "Identity");
        var limit = Bounded(maxHops, NetworkGate.MaxPathHops, 1, NetworkGate.MaxPathHops, "maxHops");
        var path = await engine.Network.PathAsync(Query(user, caseNumber), a, b, limit, ct).ConfigureAwait(false);
        return TypedResults.Ok(NetworkPathDto.From(path));
    }

    private static async Task<Results<Ok<CoAppearanceDto>, ProblemHttpResult>> EdgeAsync(
        long a, long b, [FromQuery(Name = "case")] string? caseNumber, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        RequireId(a, "Identity");
        RequireId(b, "Identity");
        if (a == b)
        {
            throw Invalid("An edge joins two different identities.");
        }

        var (edge, lo, hi) = await engine.Network.EdgeAsync(Query(user, caseNumber), a, b, ct).ConfigureAwait(false);
        if (edge is null)
        {
            return Problems.NotFound(string.Create(CultureInfo.InvariantCulture, $"Identities {a} and {b} were never seen together."));
        }

        // The store keeps each edge from its smaller id; the answer reads from the first identity asked for.
        var flip = a > b;
        var (first, second) = flip ? (hi, lo) : (lo, hi);
        return TypedResults.Ok(new CoAppearanceDto(
            IdentityDto.From(first), IdentityDto.From(second), edge.Photos, edge.Pages, edge.Weight, [.. edge.Evidence.Select(e => EvidenceDto.From(e, flip))]));
    }

    private static async Task<Ok<CommunitiesDto>> CommunitiesAsync(
        [FromQuery(Name = "case")] string? caseNumber, int? limit, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        var take = Bounded(limit, 100, 1, MaxLimit, "limit");
        var (communities, graph) = await engine.Network.CommunitiesAsync(Query(user, caseNumber), ct).ConfigureAwait(false);
        var identities = graph.Identities.ToDictionary(i => i.Id);
        return TypedResults.Ok(new CommunitiesDto([.. communities
            .OrderByDescending(c => c.Count)
            .Take(take)
            .Select(c => new CommunityDto([.. c.Where(identities.ContainsKey).Select(id => IdentityDto.From(identities[id]))]))]));
    }

    private static async Task<FileContentHttpResult> ExportAsync(
        [FromQuery(Name = "case")] string? caseNumber, string? format, long? identity, int? hops, ClaimsPrincipal user, HttpContext context,
        LineupEngine engine, CancellationToken ct)
    {
        var kind = format?.Trim().ToLowerInvariant() switch
        {
            "graphml" => "graphml",
            "gexf" => "gexf",
            _ => throw Invalid("format must be graphml or gexf."),
        };
        if (identity is { } root)
        {
            RequireId(root, "Identity");
        }

        var limit = Bounded(hops, NetworkGate.MaxHops, 1, NetworkGate.MaxHops, "hops");
        var graph = await engine.Network.ExportAsync(Query(user, caseNumber), identity, limit, kind, ct).ConfigureAwait(false);

        using var buffer = new MemoryStream();
        if (kind == "graphml")
        {
            NetworkExport.WriteGraphMl(graph, buffer);
        }
        else
        {
            NetworkExport.WriteGexf(graph, buffer);
        }

        // Who was seen with whom in an investigation: no cache keeps a copy.
        context.Response.Headers.CacheControl = "no-store";
        return kind == "graphml"
            ? TypedResults.File(buffer.ToArray(), NetworkExport.GraphMlMediaType, GraphMlFileName)
            : TypedResults.File(buffer.ToArray(), NetworkExport.GexfMediaType, GexfFileName);
    }

    private static async Task<Ok<IdentityDto>> MergeAsync(long id, MergeIdentitiesRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        RequireId(id, "Identity");
        if (request.From is not { } from)
        {
            throw Invalid("Give the identity to merge into this one: from.");
        }

        RequireId(from, "Identity");
        if (from == id)
        {
            throw Invalid("An identity cannot be merged into itself.");
        }

        var merged = await engine.Network.MergeAsync(Query(user, request.Case), id, from, request.Reason, ct).ConfigureAwait(false);
        return TypedResults.Ok(IdentityDto.From(merged));
    }

    private static async Task<Ok<IdentityDto>> SplitAsync(long id, SplitIdentityRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        RequireId(id, "Identity");
        if (request.Faces is not { Count: > 0 } faces)
        {
            throw Invalid("Give the faces to split off: faces.");
        }

        if (faces.Count > MaxLimit)
        {
            throw Invalid(string.Create(CultureInfo.InvariantCulture, $"At most {MaxLimit} faces are split off at once."));
        }

        foreach (var face in faces)
        {
            RequireId(face, "Face");
        }

        var created = await engine.Network.SplitAsync(Query(user, request.Case), id, faces, request.Reason, ct).ConfigureAwait(false);
        return TypedResults.Ok(IdentityDto.From(created));
    }

    private static async Task<Ok<IdentityDto>> MoveFaceAsync(long faceId, MoveFaceRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        RequireId(faceId, "Face");
        if (request.Identity is not { } target)
        {
            throw Invalid("Give the identity to move the face to: identity.");
        }

        RequireId(target, "Identity");
        var moved = await engine.Network.MoveFaceAsync(Query(user, request.Case), faceId, target, request.Reason, ct).ConfigureAwait(false);
        return TypedResults.Ok(IdentityDto.From(moved));
    }

    private static async Task<Ok<IdentityDto>> NameAsync(long id, NameIdentityRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        RequireId(id, "Identity");
        var named = await engine.Network.NameAsync(Query(user, request.Case), id, request.Name, ct).ConfigureAwait(false);
        return TypedResults.Ok(IdentityDto.From(named));
    }
}
