using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Lineup.Core.Audit;
using Lineup.Core.Indexing;
using Lineup.Core.Network;
using Lineup.Core.Oversight;

namespace Lineup.Hosting;

/// <summary>Where a clustering run is.</summary>
public sealed record ClusteringProgress(string Stage, long Done, long Total);

/// <summary>What a clustering run did and how long each part took.</summary>
public sealed record ClusteringRun(
    bool Full,
    int Faces,
    int LinkedFaces,
    int FacesQueried,
    int Edges,
    PartitionChange Change,
    TimeSpan Neighbours,
    TimeSpan Clustering,
    TimeSpan Writing,
    TimeSpan Elapsed);

/// <summary>Who asks a network question, and for which case (every query is gated and audited).</summary>
public sealed record NetworkQuery(string UserName, string? CaseNumber);

/// <summary>An identity with its faces and timeline.</summary>
public sealed record IdentityView(IdentityRecord Identity, IReadOnlyList<IdentityFace> Faces, IReadOnlyList<TimelineEntry> Timeline);

/// <summary>Part of the co-appearance graph: identities and the edges among them.</summary>
public sealed record NetworkSubgraph(IReadOnlyList<IdentityRecord> Identities, IReadOnlyList<CoAppearanceEdge> Edges);

/// <summary>A path between two identities: the identities in order and the edges joining them.</summary>
public sealed record NetworkPath(IReadOnlyList<IdentityRecord> Identities, IReadOnlyList<CoAppearanceEdge> Edges);

/// <summary>
/// Network analysis over the gallery: identity clustering (a k-nearest-neighbour graph from the index, clustered by
/// <see cref="IdentityClustering"/> with the analysts' corrections as constraints), and the co-appearance queries. Every
/// query passes <see cref="NetworkGate"/> (the case gate of a search) and is audited, refused ones included.
/// </summary>
/// <remarks>
/// Incremental clustering equals clustering from scratch: the graph is the union of each face's directed list of its
/// k nearest neighbours at or above the edge threshold, and when faces arrive each new face asks the index for its
/// <see cref="IncrementalWindow"/> nearest, which gives both the new face's list and every older face whose list the
/// new face enters (its reverse neighbours). The clustering itself is a pure function of that graph and the locks. Two
/// limits: an older face whose list a new face should enter but which is not among the new face's window nearest keeps
/// its list (a hub; none on the shared photos), and after an erasure the shortened lists are not refilled until a full
/// run (<c>lineup network cluster --full</c>).
/// </remarks>
public sealed class NetworkAnalysis
{
    private readonly LineupEngine _engine;
    private readonly SemaphoreSlim _clusterGate = new(1, 1);

    internal NetworkAnalysis(LineupEngine engine)
    {
        _engine = engine;
    }

    public INetworkStore Store => _engine.Catalog as INetworkStore ?? throw new InvalidOperationException("This catalog keeps no identities.");

    public ClusteringParameters Parameters => _engine.Options.Network.Parameters;

    private int EvidenceLimit => _engine.Options.Network.EvidenceLimit;

    /// <summary>
    /// Clusters the gallery: new faces only (their neighbour lists and the lists they enter), or every face when
    /// <paramref name="full"/> or when the parameters or model changed since the last run. One run at a time.
    /// </summary>
    public async Task<ClusteringRun> ClusterAsync(bool full, string by, IProgress<ClusteringProgress>? progress = null, CancellationToken ct = default)
    {
        var parameters = Parameters;
        parameters.Validate();
        await _clusterGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var total = Stopwatch.StartNew();
            var store = Store;
            var state = await store.GetClusteringStateAsync(ct).ConfigureAwait(false);
            full |= state is null || state.Parameters != parameters || state.ModelId != _engine.ModelId;
            var faces = await store.ListClusterableFacesAsync(ct).ConfigureAwait(false);
            var through = faces.Count == 0 ? 0 : faces[^1].FaceId;
            var linked = faces.Where(f => f.Quality is not { } q || q >= parameters.QualityFloor).Select(f => f.FaceId).ToHashSet();
            var lists = full
                ? new Dictionary<long, VectorHit[]>()
                : (await store.ReadNeighbourListsAsync(ct).ConfigureAwait(false)).Where(l => linked.Contains(l.Key)).ToDictionary();
            var after = full ? 0 : state!.ClusteredThroughFaceId;

            var watch = Stopwatch.StartNew();
            var queried = new ConcurrentDictionary<long, VectorHit[]>();
            var embeddings = new List<StoredEmbeddingRef>();
            await foreach (var stored in _engine.Catalog.ReadEmbeddingsAsync(after, ct).ConfigureAwait(false))
            {
                if (linked.Contains(stored.FaceId))
                {
                    embeddings.Add(new StoredEmbeddingRef(stored.FaceId, stored.Vector));
                }
            }

            var index = _engine.Index;
            long done = 0;
            progress?.Report(new ClusteringProgress("neighbours", 0, embeddings.Count));
            Parallel.ForEach(
                embeddings,
                new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Math.Max(1, _engine.Options.Workers) },
                face =>
                {
                    queried[face.FaceId] = Nearest(index, face.Vector, full ? FullWindow(parameters) : IncrementalWindow(parameters), parameters.EdgeThreshold, linked, face.FaceId);
                    var n = Interlocked.Increment(ref done);
                    if (n % 5_000 == 0)
                    {
                        progress?.Report(new ClusteringProgress("neighbours", n, embeddings.Count));
                    }
                });

            // Each new face's own list is the top k of its range; every older face it reached may take it into its list.
            var changed = new Dictionary<long, VectorHit[]>();
            foreach (var (faceId, range) in queried.OrderBy(q => q.Key))
            {
                var own = range.Take(parameters.Neighbours).ToArray();
                lists[faceId] = own;
                changed[faceId] = own;
            }

            if (!full)
            {
                foreach (var (faceId, range) in queried.OrderBy(q => q.Key))
                {
                    foreach (var hit in range)
                    {
                        if (queried.ContainsKey(hit.Key) || !lists.TryGetValue(hit.Key, out var old))
                        {
                            continue;
                        }

                        var updated = Insert(old, new VectorHit(faceId, hit.Similarity), parameters.Neighbours);
                        if (!ReferenceEquals(updated, old))
                        {
                            lists[hit.Key] = updated;
                            changed[hit.Key] = updated;
                        }
                    }
                }
            }

            progress?.Report(new ClusteringProgress("neighbours", embeddings.Count, embeddings.Count));
            var neighbourTime = watch.Elapsed;

            watch.Restart();
            // Both directions of a pair carry the same cosine up to the index's rounding: keep one per pair, the higher.
            var pairs = new Dictionary<(long, long), float>();
            foreach (var (faceId, list) in lists)
            {
                foreach (var hit in list)
                {
                    if (linked.Contains(hit.Key))
                    {
                        var edge = FaceEdge.Of(faceId, hit.Key, hit.Similarity);
                        ref var similarity = ref CollectionsMarshal.GetValueRefOrAddDefault(pairs, (edge.A, edge.B), out var exists);
                        similarity = exists ? Math.Max(similarity, edge.Similarity) : edge.Similarity;
                    }
                }
            }

            var unique = pairs.Select(p => new FaceEdge(p.Key.Item1, p.Key.Item2, p.Value)).ToList();
            var assignments = await store.ReadAssignmentsAsync(ct).ConfigureAwait(false);
            var locks = assignments.Where(a => a.Locked).ToDictionary(a => a.FaceId, a => a.IdentityId);
            var ids = faces.Select(f => f.FaceId).ToList();
            progress?.Report(new ClusteringProgress("clustering", 0, ids.Count));
            var keys = IdentityClustering.Cluster(ids, unique, locks, parameters);
            var clusterTime = watch.Elapsed;

            watch.Restart();
            progress?.Report(new ClusteringProgress("writing", 0, ids.Count));
            await store.WriteNeighbourListsAsync(full ? lists : changed, full, ct).ConfigureAwait(false);
            var partition = ids.Select((id, i) => (id, keys[i])).ToList();
            var change = await store.ApplyPartitionAsync(partition, parameters, through, full, by, ct).ConfigureAwait(false);
            progress?.Report(new ClusteringProgress("writing", ids.Count, ids.Count));
            return new ClusteringRun(full, ids.Count, linked.Count, queried.Count, unique.Count, change, neighbourTime, clusterTime, watch.Elapsed, total.Elapsed);
        }
        finally
        {
            _clusterGate.Release();
        }
    }

    /// <summary>
    /// How many hits a face asks the index for in a full run: its k neighbours, itself, and room for the faces under the
    /// quality floor that the index holds but the graph leaves out (13 % of the shared photos' faces).
    /// </summary>
    public static int FullWindow(ClusteringParameters parameters) => (2 * parameters.Neighbours) + 1;

    /// <summary>
    /// How many hits a new face asks for in an incremental run: besides its own list, the faces whose lists it enters.
    /// Those are its reverse nearest neighbours, which lie among its own nearest in all but hub-shaped corners of the
    /// space: four times k covers every one on the shared photos (the incremental-equals-scratch test checks it).
    /// </summary>
    public static int IncrementalWindow(ClusteringParameters parameters) => Math.Max(4 * parameters.Neighbours, 64);

    /// <summary>
    /// The linked faces among the <paramref name="window"/> nearest of <paramref name="vector"/> at cosine ≥
    /// <paramref name="threshold"/>, but itself, most similar first. A fixed window, not a range query: in a large
    /// gallery hundreds of other people's faces pass a cosine of 0.30 (FMR 2e-3 per comparison), and widening to all of
    /// them made 100,000 faces take 22 minutes.
    /// </summary>
    private static VectorHit[] Nearest(IVectorIndex index, float[] vector, int window, float threshold, HashSet<long> linked, long self)
    {
        var hits = new VectorHit[window];
        var found = index.Search(vector, hits);
        return [.. hits.AsSpan(0, found).ToArray()
            .Where(h => h.Key != self && h.Similarity >= threshold && linked.Contains(h.Key))
            .OrderByDescending(h => h.Similarity).ThenBy(h => h.Key)];
    }

    /// <summary>The list with <paramref name="hit"/> in its place when it is among the k best; the same array otherwise.</summary>
    private static VectorHit[] Insert(VectorHit[] list, VectorHit hit, int k)
    {
        if (list.Any(h => h.Key == hit.Key))
        {
            return list;
        }

        if (list.Length >= k && Better(list[^1], hit))
        {
            return list;
        }

        return [.. list.Append(hit).OrderByDescending(h => h.Similarity).ThenBy(h => h.Key).Take(k)];

        static bool Better(VectorHit a, VectorHit b) => a.Similarity > b.Similarity || (a.Similarity == b.Similarity && a.Key < b.Key);
    }

    private readonly record struct StoredEmbeddingRef(long FaceId, float[] Vector);

    // ---- Gated, audited queries ------------------------------------------------------------------------------

    /// <summary>Passes the case gate or throws <see cref="NetworkRefusedException"/>; both outcomes are audited.</summary>
    public async Task<CaseRecord> AuthoriseAsync(NetworkQuery query, string what, string subject, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var user = await _engine.Users.FindUserAsync(query.UserName, ct).ConfigureAwait(false);
        var found = string.IsNullOrWhiteSpace(query.CaseNumber) ? null : await _engine.Cases.FindCaseAsync(query.CaseNumber.Trim(), ct).ConfigureAwait(false);
        var refusal = NetworkGate.Check(user, query.UserName, query.CaseNumber, found, _engine.Options.Oversight.Policy, _engine.Options.Clock.GetUtcNow());
        if (refusal is { } r)
        {
            await AuditAsync(query, what, subject, AuditDetails.Empty.With("outcome", "refused").With("refusal", SearchIntake.Code(r.Refusal)), ct).ConfigureAwait(false);
            throw new NetworkRefusedException(r.Refusal, r.Message);
        }

        return found!;
    }

    /// <summary>Identities with at least <paramref name="minFaces"/> faces, the most faces first.</summary>
    public async Task<IReadOnlyList<IdentityRecord>> ListIdentitiesAsync(NetworkQuery query, int minFaces, int limit, int offset, CancellationToken ct = default)
    {
        if (minFaces < 1 || limit is < 1 or > 1_000 || offset < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), "minFaces is at least 1, limit 1 to 1,000 and offset at least 0.");
        }

        await AuthoriseAsync(query, "identities", "identities", ct).ConfigureAwait(false);
        var identities = await Store.ListIdentitiesAsync(minFaces, limit, offset, ct).ConfigureAwait(false);
        await AuditAsync(query, "identities", "identities", AuditDetails.Empty.With("min_faces", minFaces).With("identities", identities.Count), ct).ConfigureAwait(false);
        return identities;
    }

    /// <summary>An identity, its faces and its timeline.</summary>
    public async Task<IdentityView> GetIdentityAsync(NetworkQuery query, long identityId, CancellationToken ct = default)
    {
        var subject = $"identity:{identityId}";
        await AuthoriseAsync(query, "identity", subject, ct).ConfigureAwait(false);
        var identity = await RequireIdentityAsync(identityId, ct).ConfigureAwait(false);
        var faces = await Store.GetIdentityFacesAsync(identityId, ct).ConfigureAwait(false);
        var timeline = await Store.GetTimelineAsync(identityId, ct).ConfigureAwait(false);
        await AuditAsync(query, "identity", subject, AuditDetails.Empty.With("faces", faces.Count).With("sightings", timeline.Count), ct).ConfigureAwait(false);
        return new IdentityView(identity, faces, timeline);
    }

    /// <summary>The identity a face was clustered into.</summary>
    public async Task<IdentityRecord> IdentityOfFaceAsync(NetworkQuery query, long faceId, CancellationToken ct = default)
    {
        var subject = $"face:{faceId}";
        await AuthoriseAsync(query, "identity-of-face", subject, ct).ConfigureAwait(false);
        var id = await Store.FindIdentityOfFaceAsync(faceId, ct).ConfigureAwait(false)
            ?? throw new NetworkNotFoundException($"Face {faceId} is not in any identity (unknown, or not clustered yet: run `lineup network cluster`).");
        var identity = await RequireIdentityAsync(id, ct).ConfigureAwait(false);
        await AuditAsync(query, "identity-of-face", subject, AuditDetails.Empty.With("identity", identity.Id), ct).ConfigureAwait(false);
        return identity;
    }

    /// <summary>Associates within <paramref name="hops"/> (1 to <see cref="NetworkGate.MaxHops"/>), with the subgraph that shows them.</summary>
    public async Task<(IReadOnlyList<Associate> Associates, NetworkSubgraph Graph)> AssociatesAsync(NetworkQuery query, long identityId, int hops, CancellationToken ct = default)
    {
        var subject = $"identity:{identityId}";
        RequireHops(hops, NetworkGate.MaxHops);
        await AuthoriseAsync(query, "associates", subject, ct).ConfigureAwait(false);
        await RequireIdentityAsync(identityId, ct).ConfigureAwait(false);
        var (associates, graph) = await NeighbourhoodAsync(identityId, hops, ct).ConfigureAwait(false);
        await AuditAsync(query, "associates", subject, AuditDetails.Empty.With("hops", hops).With("associates", associates.Count), ct).ConfigureAwait(false);
        return (associates, graph);
    }

    /// <summary>The shortest evidenced path between two identities within <paramref name="maxHops"/>, or null.</summary>
    public async Task<NetworkPath?> PathAsync(NetworkQuery query, long from, long to, int maxHops, CancellationToken ct = default)
    {
        var subject = string.Create(CultureInfo.InvariantCulture, $"identity:{from}-{to}");
        RequireHops(maxHops, NetworkGate.MaxPathHops);
        await AuthoriseAsync(query, "path", subject, ct).ConfigureAwait(false);
        await RequireIdentityAsync(from, ct).ConfigureAwait(false);
        await RequireIdentityAsync(to, ct).ConfigureAwait(false);

        // Only the identities within reach can be on the path: grow from both ends, then search that part of the graph.
        var (edges, _, _) = await ExpandAsync([from, to], (maxHops + 1) / 2, ct).ConfigureAwait(false);
        var path = new CoAppearanceGraph(edges.Values).ShortestPath(from, to, maxHops);
        NetworkPath? result = null;
        if (path is not null)
        {
            var order = new List<long> { from };
            foreach (var edge in path)
            {
                order.Add(edge.Other(order[^1]));
            }

            var identities = (await Store.GetIdentitiesAsync(order, ct).ConfigureAwait(false)).ToDictionary(i => i.Id);
            result = new NetworkPath([.. order.Select(id => identities[id])], path);
        }

        await AuditAsync(query, "path", subject, AuditDetails.Empty.With("max_hops", maxHops).With("hops", path?.Count ?? -1), ct).ConfigureAwait(false);
        return result;
    }

    /// <summary>The evidence of the edge between two identities, or null when they were never seen together.</summary>
    public async Task<(CoAppearanceEdge? Edge, IdentityRecord A, IdentityRecord B)> EdgeAsync(NetworkQuery query, long a, long b, CancellationToken ct = default)
    {
        var (lo, hi) = a < b ? (a, b) : (b, a);
        var subject = string.Create(CultureInfo.InvariantCulture, $"edge:{lo}-{hi}");
        await AuthoriseAsync(query, "edge", subject, ct).ConfigureAwait(false);
        var first = await RequireIdentityAsync(lo, ct).ConfigureAwait(false);
        var second = await RequireIdentityAsync(hi, ct).ConfigureAwait(false);
        var edge = (await Store.GetCoAppearancesAsync([lo], EvidenceLimit, ct).ConfigureAwait(false)).FirstOrDefault(e => e.A == lo && e.B == hi);
        await AuditAsync(query, "edge", subject, AuditDetails.Empty.With("photos", edge?.Photos ?? 0).With("pages", edge?.Pages ?? 0), ct).ConfigureAwait(false);
        return (edge, first, second);
    }

    /// <summary>Communities of the whole co-appearance graph (identities in two or more photos or pages together).</summary>
    public async Task<(IReadOnlyList<IReadOnlyList<long>> Communities, NetworkSubgraph Graph)> CommunitiesAsync(NetworkQuery query, CancellationToken ct = default)
    {
        await AuthoriseAsync(query, "communities", "network:all", ct).ConfigureAwait(false);
        var graph = await WholeGraphAsync(ct).ConfigureAwait(false);
        var communities = new CoAppearanceGraph(graph.Edges).Communities().Where(c => c.Count > 1).ToList();
        await AuditAsync(query, "communities", "network:all", AuditDetails.Empty.With("communities", communities.Count).With("identities", graph.Identities.Count), ct).ConfigureAwait(false);
        return (communities, graph);
    }

    /// <summary>The subgraph to export: an identity's neighbourhood, or the whole graph when <paramref name="identityId"/> is null. Audited as an export.</summary>
    public async Task<NetworkSubgraph> ExportAsync(NetworkQuery query, long? identityId, int hops, string format, CancellationToken ct = default)
    {
        var subject = identityId is { } id ? $"network:identity:{id}" : "network:all";
        await AuthoriseAsync(query, "export", subject, ct).ConfigureAwait(false);
        NetworkSubgraph graph;
        if (identityId is { } root)
        {
            RequireHops(hops, NetworkGate.MaxHops);
            await RequireIdentityAsync(root, ct).ConfigureAwait(false);
            graph = (await NeighbourhoodAsync(root, hops, ct).ConfigureAwait(false)).Graph;
        }
        else
        {
            graph = await WholeGraphAsync(ct).ConfigureAwait(false);
        }

        await _engine.Audit.AppendAsync(new NewAuditEvent(query.UserName, AuditActions.Export, subject,
            CaseDetails(query).With("format", format).With("identities", graph.Identities.Count).With("edges", graph.Edges.Count)), ct).ConfigureAwait(false);
        return graph;
    }

    // ---- Corrections: gated like queries; the store records each with its own audit event in the same transaction, and the
    // query event after it names the case the correction was made in.

    public async Task<IdentityRecord> MergeAsync(NetworkQuery query, long into, long from, string? reason, CancellationToken ct = default)
    {
        await AuthoriseAsync(query, "merge", $"identity:{into}", ct).ConfigureAwait(false);
        var merged = await Store.MergeIdentitiesAsync(into, from, reason, query.UserName, ct).ConfigureAwait(false);
        await AuditAsync(query, "merge", $"identity:{into}", AuditDetails.Empty.With("from", from), ct).ConfigureAwait(false);
        return merged;
    }

    public async Task<IdentityRecord> SplitAsync(NetworkQuery query, long identityId, IReadOnlyList<long> faceIds, string? reason, CancellationToken ct = default)
    {
        await AuthoriseAsync(query, "split", $"identity:{identityId}", ct).ConfigureAwait(false);
        var split = await Store.SplitIdentityAsync(identityId, faceIds, reason, query.UserName, ct).ConfigureAwait(false);
        await AuditAsync(query, "split", $"identity:{identityId}", AuditDetails.Empty.With("new_identity", split.Id).With("faces", faceIds.Count), ct).ConfigureAwait(false);
        return split;
    }

    public async Task<IdentityRecord> MoveFaceAsync(NetworkQuery query, long faceId, long identityId, string? reason, CancellationToken ct = default)
    {
        await AuthoriseAsync(query, "move", $"face:{faceId}", ct).ConfigureAwait(false);
        var moved = await Store.MoveFaceAsync(faceId, identityId, reason, query.UserName, ct).ConfigureAwait(false);
        await AuditAsync(query, "move", $"face:{faceId}", AuditDetails.Empty.With("identity", moved.Id), ct).ConfigureAwait(false);
        return moved;
    }

    public async Task<IdentityRecord> NameAsync(NetworkQuery query, long identityId, string? name, CancellationToken ct = default)
    {
        await AuthoriseAsync(query, "name", $"identity:{identityId}", ct).ConfigureAwait(false);
        var named = await Store.NameIdentityAsync(identityId, name, query.UserName, ct).ConfigureAwait(false);
        await AuditAsync(query, "name", $"identity:{identityId}", AuditDetails.Empty.With("named", !string.IsNullOrWhiteSpace(named.Name)), ct).ConfigureAwait(false);
        return named;
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private async Task<(IReadOnlyList<Associate> Associates, NetworkSubgraph Graph)> NeighbourhoodAsync(long identityId, int hops, CancellationToken ct)
    {
        var (edges, seen, frontier) = await ExpandAsync([identityId], hops, ct).ConfigureAwait(false);

        // The outermost ring's edges among themselves (two associates seen together) belong to the picture too; their
        // edges outward lead beyond the hop limit and are left out.
        if (frontier.Count > 0)
        {
            foreach (var edge in await Store.GetCoAppearancesAsync(frontier, EvidenceLimit, ct).ConfigureAwait(false))
            {
                if (seen.Contains(edge.A) && seen.Contains(edge.B))
                {
                    edges[(edge.A, edge.B)] = edge;
                }
            }
        }

        var graph = new CoAppearanceGraph(edges.Values.Where(e => seen.Contains(e.A) && seen.Contains(e.B)));
        var associates = graph.Associates(identityId, hops);
        var within = associates.Select(a => a.IdentityId).Append(identityId).ToHashSet();
        var kept = graph.Edges.Where(e => within.Contains(e.A) && within.Contains(e.B)).ToList();
        var identities = await Store.GetIdentitiesAsync(within, ct).ConfigureAwait(false);
        return (associates, new NetworkSubgraph([.. identities.OrderBy(i => i.Id)], kept));
    }

    /// <summary>
    /// The edges of <paramref name="start"/> and of every identity reached within <paramref name="rings"/> − 1 more hops
    /// (breadth first, one store query per ring), the identities reached, and the last ring reached.
    /// </summary>
    private async Task<(Dictionary<(long, long), CoAppearanceEdge> Edges, HashSet<long> Seen, HashSet<long> LastRing)> ExpandAsync(
        IEnumerable<long> start, int rings, CancellationToken ct)
    {
        var edges = new Dictionary<(long, long), CoAppearanceEdge>();
        var frontier = start.ToHashSet();
        var seen = new HashSet<long>(frontier);
        for (var ring = 0; ring < rings && frontier.Count > 0; ring++)
        {
            var found = await Store.GetCoAppearancesAsync(frontier, EvidenceLimit, ct).ConfigureAwait(false);
            frontier = [];
            foreach (var edge in found)
            {
                edges[(edge.A, edge.B)] = edge;
                foreach (var end in new[] { edge.A, edge.B })
                {
                    if (seen.Add(end))
                    {
                        frontier.Add(end);
                    }
                }
            }
        }

        return (edges, seen, frontier);
    }

    private async Task<NetworkSubgraph> WholeGraphAsync(CancellationToken ct)
    {
        var edges = await Store.GetCoAppearancesAsync(null, EvidenceLimit, ct).ConfigureAwait(false);
        var ids = edges.SelectMany(e => new[] { e.A, e.B }).ToHashSet();
        var identities = await Store.GetIdentitiesAsync(ids, ct).ConfigureAwait(false);
        return new NetworkSubgraph([.. identities.OrderBy(i => i.Id)], edges);
    }

    private async Task<IdentityRecord> RequireIdentityAsync(long identityId, CancellationToken ct) =>
        await Store.GetIdentityAsync(identityId, ct).ConfigureAwait(false)
        ?? throw new NetworkNotFoundException($"There is no identity {identityId}.");

    private static void RequireHops(int hops, int max)
    {
        if (hops < 1 || hops > max)
        {
            throw new ArgumentOutOfRangeException(nameof(hops), hops, $"The hop limit is 1 to {max}.");
        }
    }

    private Task AuditAsync(NetworkQuery query, string what, string subject, AuditDetails details, CancellationToken ct) =>
        _engine.Audit.AppendAsync(new NewAuditEvent(query.UserName, NetworkActions.Query, subject, CaseDetails(query, details).With("query", what)), ct);

    private static AuditDetails CaseDetails(NetworkQuery query, AuditDetails? details = null)
    {
        var number = query.CaseNumber?.Trim() ?? "";
        if (number.Length > AuditDetails.MaxTextLength)
        {
            number = number[..AuditDetails.MaxTextLength];
        }

        return (details ?? AuditDetails.Empty).With("case", number);
    }
}
