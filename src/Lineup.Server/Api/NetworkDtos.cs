using Lineup.Core.Catalog;
using Lineup.Core.Network;
using Lineup.Hosting;

namespace Lineup.Server.Api;

// What the network endpoints answer and take. Identities carry no biometric data: ids, counts, the analyst's name and
// the URL of a face thumbnail (the gallery endpoint, under its own permission).

/// <summary>An identity as every network answer shows it.</summary>
/// <param name="Name">The analyst's name for it; null when unnamed.</param>
/// <param name="Label">The name, or "identity N" (<see cref="NetworkExport.Label"/>).</param>
/// <param name="Locked">An analyst fixed (some of) its faces: re-clustering keeps them in it.</param>
/// <param name="CoverFaceId">Its best-quality face.</param>
/// <param name="CoverUrl">That face's thumbnail; null when it has no cover face.</param>
public sealed record IdentityDto(long Id, string? Name, string Label, int Faces, int Images, bool Locked, long? CoverFaceId, string? CoverUrl)
{
    public static IdentityDto From(IdentityRecord identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return new(
            identity.Id, identity.Name, NetworkExport.Label(identity), identity.Faces, identity.Images, identity.Locked, identity.CoverFaceId,
            identity.CoverFaceId is { } cover ? GalleryApi.ThumbnailUrl(cover) : null);
    }
}

/// <summary>The clustering parameters in force (those of the last run, or the configured ones before any run).</summary>
public sealed record ClusteringParametersDto(int Neighbours, float EdgeThreshold, float MergeThreshold, float SingleEdgeThreshold, double Support, float QualityFloor)
{
    public static ClusteringParametersDto From(ClusteringParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        return new(p.Neighbours, p.EdgeThreshold, p.MergeThreshold, p.SingleEdgeThreshold, p.Support, p.QualityFloor);
    }
}

/// <summary>Where the identity partition stands; no person data.</summary>
/// <param name="Identities">Identities after the last clustering; 0 before the first.</param>
/// <param name="Faces">Faces the last clustering assigned.</param>
/// <param name="Version">Bumped by every clustering and correction (0 before the first).</param>
/// <param name="ClusteredAt">When the last clustering ran; null when the gallery was never clustered.</param>
/// <param name="ClusteredThroughFaceId">Every face up to this id has been clustered.</param>
public sealed record NetworkStatusDto(
    int Identities, int Faces, long Version, DateTimeOffset? ClusteredAt, long ClusteredThroughFaceId, ClusteringParametersDto Parameters)
{
    public static NetworkStatusDto From(ClusteringState? state, ClusteringParameters configured) => state is null
        ? new(0, 0, 0, null, 0, ClusteringParametersDto.From(configured))
        : new(state.Identities, state.Faces, state.Version, state.ClusteredAt, state.ClusteredThroughFaceId, ClusteringParametersDto.From(state.Parameters));
}

/// <summary>What a clustering run did.</summary>
/// <param name="Full">Every face was re-linked (asked for, or the parameters or model changed); else only new faces.</param>
/// <param name="LinkedFaces">Faces above the quality floor, which take part in the neighbour graph.</param>
/// <param name="FacesQueried">Faces whose neighbours were asked of the index in this run.</param>
/// <param name="Edges">Edges of the face graph clustered.</param>
/// <param name="Seconds">Wall time of the run.</param>
public sealed record ClusterRunDto(
    bool Full, int Faces, int LinkedFaces, int FacesQueried, int Edges, int Identities, int FacesMoved, int IdentitiesCreated, int IdentitiesRemoved,
    long Version, double Seconds)
{
    public static ClusterRunDto From(ClusteringRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var c = run.Change;
        return new(run.Full, run.Faces, run.LinkedFaces, run.FacesQueried, run.Edges, c.Identities, c.FacesMoved, c.IdentitiesCreated, c.IdentitiesRemoved,
            c.Version, Math.Round(run.Elapsed.TotalSeconds, 3));
    }
}

public sealed record IdentityListDto(IReadOnlyList<IdentityDto> Identities);

/// <summary>One face of an identity and where to see it.</summary>
/// <param name="Quality">Its quality score (0 to 100); null when not measured.</param>
/// <param name="Locked">An analyst fixed this face to the identity.</param>
/// <param name="ImageUrl">The preview of the photo it is in.</param>
public sealed record IdentityFaceDto(long FaceId, long ImageId, float? Quality, bool Locked, string ThumbnailUrl, string ImageUrl)
{
    public static IdentityFaceDto From(IdentityFace face)
    {
        ArgumentNullException.ThrowIfNull(face);
        return new(face.FaceId, face.ImageId, face.Quality, face.Locked, GalleryApi.ThumbnailUrl(face.FaceId), NetworkApi.PreviewUrl(face.ImageId));
    }
}

/// <summary>A sighting: one of the identity's faces, when its photo was taken and where it was seen.</summary>
/// <param name="Collection">The gallery collection the sighting was ingested into.</param>
/// <param name="Domain">The host of the page (or, without a page, of the photo's URL); null for a local file.</param>
public sealed record TimelineEntryDto(
    long FaceId, long ImageId, DateTimeOffset? CapturedAt, DateTimeOffset SeenAt, string Collection, string? SourceUrl, string? PageUrl, string? Domain)
{
    public static TimelineEntryDto From(TimelineEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return new(entry.FaceId, entry.ImageId, entry.CapturedAt, entry.SeenAt, entry.Collection, entry.SourceUrl, entry.PageUrl,
            SourceDomain.HostOf(entry.PageUrl) ?? SourceDomain.HostOf(entry.SourceUrl));
    }
}

/// <summary>An identity with all its faces (best quality first) and its timeline (by capture date, unknown last).</summary>
public sealed record IdentityDetailDto(IdentityDto Identity, IReadOnlyList<IdentityFaceDto> Faces, IReadOnlyList<TimelineEntryDto> Timeline)
{
    public static IdentityDetailDto From(IdentityView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        return new(IdentityDto.From(view.Identity), [.. view.Faces.Select(IdentityFaceDto.From)], [.. view.Timeline.Select(TimelineEntryDto.From)]);
    }
}

/// <summary>An edge of the co-appearance graph: shared photos, shared pages and the weight (a photo 1, a page 0.5).</summary>
/// <param name="A">The identity with the smaller id.</param>
public sealed record NetworkEdgeDto(long A, long B, int Photos, int Pages, double Weight)
{
    public static NetworkEdgeDto From(CoAppearanceEdge edge)
    {
        ArgumentNullException.ThrowIfNull(edge);
        return new(edge.A, edge.B, edge.Photos, edge.Pages, edge.Weight);
    }
}

/// <summary>Part of the co-appearance graph, ready to draw: identities (nodes) and the edges among them.</summary>
public sealed record NetworkGraphDto(IReadOnlyList<IdentityDto> Nodes, IReadOnlyList<NetworkEdgeDto> Edges)
{
    public static NetworkGraphDto From(NetworkSubgraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        return new([.. graph.Identities.Select(IdentityDto.From)], [.. graph.Edges.OrderBy(e => e.A).ThenBy(e => e.B).Select(NetworkEdgeDto.From)]);
    }
}

/// <summary>An identity within the hop limit of another.</summary>
/// <param name="Hops">1 for a direct associate, 2 for an associate's associate.</param>
/// <param name="Via">The identity it was reached from (the asked-for identity at 1 hop).</param>
/// <param name="Photos">Photos shared with <paramref name="Via"/>.</param>
/// <param name="Pages">Pages shared with <paramref name="Via"/>.</param>
/// <param name="Weight">The weight of the edge from <paramref name="Via"/>.</param>
public sealed record AssociateDto(IdentityDto Identity, int Hops, long Via, int Photos, int Pages, double Weight);

/// <summary>The associates of an identity within <paramref name="Hops"/>, nearest first, and the subgraph that shows them.</summary>
public sealed record AssociatesDto(IdentityDto Identity, int Hops, IReadOnlyList<AssociateDto> Associates, NetworkGraphDto Graph);

/// <summary>The shortest evidenced path between two identities; <paramref name="Found"/> false (and empty lists) when none is within the hop limit.</summary>
/// <param name="Identities">From the first to the last, in order.</param>
/// <param name="Edges">The edges joining them, in order.</param>
public sealed record NetworkPathDto(bool Found, IReadOnlyList<IdentityDto> Identities, IReadOnlyList<NetworkEdgeDto> Edges)
{
    public static NetworkPathDto From(NetworkPath? path) => path is null
        ? new(false, [], [])
        : new(true, [.. path.Identities.Select(IdentityDto.From)], [.. path.Edges.Select(NetworkEdgeDto.From)]);
}

/// <summary>One piece of evidence that two identities were seen together, seen from <c>a</c> (the first identity asked for).</summary>
/// <param name="Kind">photo (both in one photo: <paramref name="ImageId"/> equals <paramref name="OtherImageId"/>) or page (a photo of each on one web page).</param>
/// <param name="ImageId">The photo of <c>a</c>.</param>
/// <param name="OtherImageId">The photo of <c>b</c>.</param>
/// <param name="FaceId">The face of <c>a</c> in <paramref name="ImageId"/>.</param>
/// <param name="OtherFaceId">The face of <c>b</c> in <paramref name="OtherImageId"/>.</param>
/// <param name="PageUrl">The page (for a page; where known for a photo).</param>
public sealed record EvidenceDto(
    CoAppearanceKind Kind, long ImageId, long OtherImageId, long FaceId, long OtherFaceId, string? PageUrl, DateTimeOffset? CapturedAt,
    string ImageUrl, string OtherImageUrl, string FaceUrl, string OtherFaceUrl)
{
    /// <param name="flip">The evidence is stored from the other end (the caller asked for the larger id first).</param>
    public static EvidenceDto From(CoAppearanceEvidence e, bool flip)
    {
        ArgumentNullException.ThrowIfNull(e);
        var (image, otherImage, face, otherFace) = flip ? (e.OtherImageId, e.ImageId, e.OtherFaceId, e.FaceId) : (e.ImageId, e.OtherImageId, e.FaceId, e.OtherFaceId);
        return new(e.Kind, image, otherImage, face, otherFace, e.PageUrl, e.CapturedAt,
            NetworkApi.PreviewUrl(image), NetworkApi.PreviewUrl(otherImage), GalleryApi.ThumbnailUrl(face), GalleryApi.ThumbnailUrl(otherFace));
    }
}

/// <summary>
/// The edge between identities <paramref name="A"/> and <paramref name="B"/> (in the order asked for) with its evidence:
/// photos first, then pages, at most <c>Lineup:Network:EvidenceLimit</c> of each; the counts are complete.
/// </summary>
public sealed record CoAppearanceDto(IdentityDto A, IdentityDto B, int Photos, int Pages, double Weight, IReadOnlyList<EvidenceDto> Evidence);

public sealed record CommunityDto(IReadOnlyList<IdentityDto> Identities);

/// <summary>Groups of identities more often seen with each other than with the rest, largest first.</summary>
public sealed record CommunitiesDto(IReadOnlyList<CommunityDto> Communities);

/// <summary>Merge identity <paramref name="From"/> into the identity of the URL.</summary>
/// <param name="Case">The case the correction is made in.</param>
/// <param name="Reason">Why (kept with the correction).</param>
public sealed record MergeIdentitiesRequest(string? Case, long? From, string? Reason);

/// <summary>Split <paramref name="Faces"/> off the identity of the URL into a new identity.</summary>
public sealed record SplitIdentityRequest(string? Case, IReadOnlyList<long>? Faces, string? Reason);

/// <summary>Move the face of the URL to <paramref name="Identity"/>.</summary>
public sealed record MoveFaceRequest(string? Case, long? Identity, string? Reason);

/// <summary>Name the identity of the URL; a null or blank <paramref name="Name"/> clears the name.</summary>
public sealed record NameIdentityRequest(string? Case, string? Name);
