using Lineup.Core.Indexing;

namespace Lineup.Core.Network;

/// <summary>
/// How faces are linked and grouped into identities. The defaults were measured on the shared labelled photos
/// (<c>lineup network eval</c>): each face's 20 nearest neighbours at cosine ≥ 0.30 form the graph (the cosine sits
/// between the calibrated FMR 1e-2 and 1e-3 points of the default pack), and two clusters merge while the mean cosine of
/// the edges between them, taken over at least half of the edges a 20-NN graph could have between them, is ≥ 0.40
/// (the calibrated FMR 1e-4 point), and a merge resting on one edge needs 0.485 (FMR 1e-5). Faces of quality below 3 (of 100) are left out of the graph: they stay
/// identities of their own rather than bridge two people.
/// </summary>
public sealed record ClusteringParameters
{
    public static ClusteringParameters Default { get; } = new();

    /// <summary>Nearest neighbours asked of the index per face (the k of the kNN graph).</summary>
    public int Neighbours { get; init; } = 20;

    /// <summary>A neighbour becomes an edge at this cosine or above.</summary>
    public float EdgeThreshold { get; init; } = 0.30f;

    /// <summary>Two clusters merge while their supported mean edge cosine is at least this.</summary>
    public float MergeThreshold { get; init; } = 0.40f;

    /// <summary>
    /// Two clusters joined by a single edge merge only at this cosine or above (the calibrated FMR 1e-5 point): on the
    /// shared photos it keeps 8 of the 13 look-alike pairs of one-photo people apart and costs nothing measurable.
    /// </summary>
    public float SingleEdgeThreshold { get; init; } = 0.485f;

    /// <summary>The share of possible edges the mean is taken over at least (0: the mean of existing edges).</summary>
    public double Support { get; init; } = 0.5;

    /// <summary>Faces whose quality score is below this are not linked.</summary>
    public float QualityFloor { get; init; } = 3;

    public void Validate()
    {
        if (Neighbours is < 1 or > 1_000)
        {
            throw new ArgumentOutOfRangeException(nameof(Neighbours), Neighbours, "The number of neighbours must be 1 to 1,000.");
        }

        if (!(EdgeThreshold is >= -1 and <= 1) || !(MergeThreshold is >= -1 and <= 1) || !(SingleEdgeThreshold is >= -1 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(EdgeThreshold), "Thresholds are cosines between -1 and 1.");
        }

        if (!(Support is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Support), Support, "The support is a share between 0 and 1.");
        }

        if (!(QualityFloor is >= 0 and <= 100))
        {
            throw new ArgumentOutOfRangeException(nameof(QualityFloor), QualityFloor, "The quality floor is 0 to 100.");
        }
    }
}

/// <summary>An identity: a cluster of gallery faces taken for one person, optionally named by an analyst.</summary>
/// <param name="Locked">Whether an analyst fixed (some of) its faces: re-clustering keeps them in it.</param>
/// <param name="CoverFaceId">The face to show for it (its best-quality face).</param>
public sealed record IdentityRecord(
    long Id, string? Name, int Faces, int Images, bool Locked, long? CoverFaceId, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>One face of an identity.</summary>
/// <param name="Locked">An analyst fixed this face to the identity.</param>
public sealed record IdentityFace(long FaceId, long ImageId, float? Quality, bool Locked);

/// <summary>Where a face stands in the partition.</summary>
public readonly record struct FaceAssignment(long FaceId, long IdentityId, bool Locked);

/// <summary>A face that may be clustered: its id and quality score (null when not measured).</summary>
public readonly record struct ClusterableFace(long FaceId, float? Quality);

/// <summary>The analyst corrections re-clustering respects.</summary>
public enum CorrectionKind
{
    /// <summary>Two identities are one person: every face of both is fixed to the first.</summary>
    Merge,

    /// <summary>Some faces of an identity are another person: they are fixed to a new identity, the rest to the old.</summary>
    Split,

    /// <summary>A face belongs to another identity: it and that identity's faces are fixed to it.</summary>
    Move,

    /// <summary>An identity is given a name (or the name is cleared); its faces are fixed to it.</summary>
    Name,
}

/// <summary>A stored correction.</summary>
public sealed record IdentityCorrection(
    long Id, CorrectionKind Kind, long IdentityId, long? OtherIdentityId, IReadOnlyList<long> FaceIds, string? Name, string? Reason, string By, DateTimeOffset At);

/// <summary>What the last clustering recorded.</summary>
/// <param name="ClusteredThroughFaceId">Every face with a smaller or equal id has a neighbour list.</param>
/// <param name="Version">Bumped by every clustering and correction.</param>
public sealed record ClusteringState(
    string ModelId, ClusteringParameters Parameters, long ClusteredThroughFaceId, long Version, DateTimeOffset ClusteredAt, int Identities, int Faces);

/// <summary>What applying a new partition changed.</summary>
public sealed record PartitionChange(int Identities, int Faces, int FacesMoved, int IdentitiesCreated, int IdentitiesRemoved, long Version);

/// <summary>How two identities were seen together.</summary>
public enum CoAppearanceKind
{
    /// <summary>Both in one photo: the strong link.</summary>
    Photo,

    /// <summary>In different photos of one web page: a weaker link.</summary>
    Page,
}

/// <summary>One piece of evidence of a co-appearance: the photo (both faces in it) or the page (a photo of each).</summary>
/// <param name="ImageId">The photo of the first identity (for <see cref="CoAppearanceKind.Photo"/>, the photo of both).</param>
/// <param name="OtherImageId">The photo of the second identity (equal to <see cref="ImageId"/> for a photo).</param>
/// <param name="FaceId">The first identity's face in <see cref="ImageId"/>.</param>
/// <param name="OtherFaceId">The second identity's face in <see cref="OtherImageId"/>.</param>
/// <param name="PageUrl">The page, for <see cref="CoAppearanceKind.Page"/>, and where known for a photo.</param>
public sealed record CoAppearanceEvidence(
    CoAppearanceKind Kind, long ImageId, long OtherImageId, long FaceId, long OtherFaceId, string? PageUrl, DateTimeOffset? CapturedAt);

/// <summary>
/// An edge of the co-appearance graph between identities <see cref="A"/> &lt; <see cref="B"/>: the number of photos
/// and of (other) pages they share, its <see cref="Weight"/>, and its evidence (photos first, then pages; at most
/// the store's evidence limit of each, the counts are complete).
/// </summary>
public sealed record CoAppearanceEdge(long A, long B, int Photos, int Pages, IReadOnlyList<CoAppearanceEvidence> Evidence)
{
    /// <summary>A shared photo counts 1, a shared page (without a shared photo on it) 0.5.</summary>
    public const double PageWeight = 0.5;

    public double Weight => Photos + (PageWeight * Pages);

    public long Other(long identity) => identity == A ? B : A;
}

/// <summary>A sighting of an identity: one of its faces, where and when its photo was seen.</summary>
public sealed record TimelineEntry(
    long FaceId, long ImageId, DateTimeOffset? CapturedAt, DateTimeOffset SeenAt, string Collection, string? SourceUrl, string? PageUrl);

/// <summary>
/// The catalog's store of the identity partition, the face neighbour graph it is computed from, analyst corrections and
/// the co-appearance queries. The neighbour lists and the partition are derived (a full re-clustering rebuilds them);
/// the corrections are not.
/// </summary>
public interface INetworkStore
{
    /// <summary>Faces of the catalog's model that may be clustered, in id order.</summary>
    Task<IReadOnlyList<ClusterableFace>> ListClusterableFacesAsync(CancellationToken ct = default);

    /// <summary>Every stored directed neighbour list (face id → its neighbours, most similar first).</summary>
    Task<IReadOnlyDictionary<long, VectorHit[]>> ReadNeighbourListsAsync(CancellationToken ct = default);

    /// <summary>
    /// Replaces the lists of the faces in <paramref name="lists"/> (all lists when <paramref name="replaceAll"/>), in
    /// one transaction. Lists naming a face that no longer exists are dropped.
    /// </summary>
    Task WriteNeighbourListsAsync(IReadOnlyDictionary<long, VectorHit[]> lists, bool replaceAll, CancellationToken ct = default);

    /// <summary>Every face's identity and whether an analyst fixed it there.</summary>
    Task<IReadOnlyList<FaceAssignment>> ReadAssignmentsAsync(CancellationToken ct = default);

    /// <summary>
    /// Writes a partition in one transaction: <paramref name="partition"/> gives each face its cluster key (faces of one
    /// cluster share a key). A cluster holding a fixed face keeps that face's identity; any other cluster takes the
    /// identity that held most of its faces (larger clusters choose first, ties to the smaller id) or a new one;
    /// identities left without faces are removed. Records the clustering state and audits the run as
    /// <paramref name="by"/>.
    /// </summary>
    Task<PartitionChange> ApplyPartitionAsync(
        IReadOnlyList<(long FaceId, long ClusterKey)> partition, ClusteringParameters parameters, long clusteredThroughFaceId, bool full, string by, CancellationToken ct = default);

    Task<ClusteringState?> GetClusteringStateAsync(CancellationToken ct = default);

    Task<IdentityRecord?> GetIdentityAsync(long identityId, CancellationToken ct = default);

    /// <summary>Identities with at least <paramref name="minFaces"/> faces, the most faces first, then by id.</summary>
    Task<IReadOnlyList<IdentityRecord>> ListIdentitiesAsync(int minFaces, int limit, int offset, CancellationToken ct = default);

    /// <summary>Identities by id; unknown ids are left out.</summary>
    Task<IReadOnlyList<IdentityRecord>> GetIdentitiesAsync(IReadOnlyCollection<long> identityIds, CancellationToken ct = default);

    /// <summary>The faces of an identity, best quality first; empty for an unknown identity.</summary>
    Task<IReadOnlyList<IdentityFace>> GetIdentityFacesAsync(long identityId, CancellationToken ct = default);

    /// <summary>The identity of a face, or null when the face is unknown or not yet clustered.</summary>
    Task<long?> FindIdentityOfFaceAsync(long faceId, CancellationToken ct = default);

    /// <summary>Merges <paramref name="from"/> into <paramref name="into"/> (see <see cref="CorrectionKind.Merge"/>); recorded and audited.</summary>
    Task<IdentityRecord> MergeIdentitiesAsync(long into, long from, string? reason, string by, CancellationToken ct = default);

    /// <summary>Splits <paramref name="faceIds"/> off <paramref name="identityId"/> into a new identity, which is returned.</summary>
    Task<IdentityRecord> SplitIdentityAsync(long identityId, IReadOnlyList<long> faceIds, string? reason, string by, CancellationToken ct = default);

    /// <summary>Moves a face to <paramref name="identityId"/>; returns the identity it now belongs to.</summary>
    Task<IdentityRecord> MoveFaceAsync(long faceId, long identityId, string? reason, string by, CancellationToken ct = default);

    /// <summary>Names an identity (null or blank clears the name).</summary>
    Task<IdentityRecord> NameIdentityAsync(long identityId, string? name, string by, CancellationToken ct = default);

    /// <summary>Every correction, oldest first.</summary>
    Task<IReadOnlyList<IdentityCorrection>> ListCorrectionsAsync(CancellationToken ct = default);

    /// <summary>
    /// The co-appearance edges touching any of <paramref name="identityIds"/> (every edge when null), each with at most
    /// <paramref name="evidenceLimit"/> pieces of evidence per kind.
    /// </summary>
    Task<IReadOnlyList<CoAppearanceEdge>> GetCoAppearancesAsync(IReadOnlyCollection<long>? identityIds, int evidenceLimit, CancellationToken ct = default);

    /// <summary>The sightings of an identity's faces, by capture date (unknown last), then time seen.</summary>
    Task<IReadOnlyList<TimelineEntry>> GetTimelineAsync(long identityId, CancellationToken ct = default);
}
