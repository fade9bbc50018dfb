using QuikGraph;
using QuikGraph.Algorithms;

namespace Lineup.Core.Network;

/// <summary>An identity reached from another: how many hops away, and the edge it was reached by.</summary>
public sealed record Associate(long IdentityId, int Hops, long Via, CoAppearanceEdge Edge);

/// <summary>
/// The co-appearance graph in memory: identities are vertices, <see cref="CoAppearanceEdge"/>s the edges (QuikGraph's
/// undirected graph). Queries are bounded by a hop limit the caller enforces (the server's maximum is 2).
/// </summary>
public sealed class CoAppearanceGraph
{
    private readonly UndirectedGraph<long, TaggedUndirectedEdge<long, CoAppearanceEdge>> _graph = new(allowParallelEdges: false);

    public CoAppearanceGraph(IEnumerable<CoAppearanceEdge> edges)
    {
        ArgumentNullException.ThrowIfNull(edges);
        foreach (var edge in edges.OrderBy(e => e.A).ThenBy(e => e.B))
        {
            if (edge.A == edge.B)
            {
                continue;
            }

            _graph.AddVerticesAndEdge(new TaggedUndirectedEdge<long, CoAppearanceEdge>(edge.A, edge.B, edge));
        }
    }

    public int IdentityCount => _graph.VertexCount;

    public int EdgeCount => _graph.EdgeCount;

    public IEnumerable<CoAppearanceEdge> Edges => _graph.Edges.Select(e => e.Tag);

    public IEnumerable<long> Identities => _graph.Vertices;

    public bool Contains(long identity) => _graph.ContainsVertex(identity);

    /// <summary>The direct edges of an identity, strongest first.</summary>
    public IReadOnlyList<CoAppearanceEdge> EdgesOf(long identity) =>
        _graph.ContainsVertex(identity)
            ? [.. _graph.AdjacentEdges(identity).Select(e => e.Tag).OrderByDescending(e => e.Weight).ThenBy(e => e.Other(identity))]
            : [];

    /// <summary>
    /// Identities within <paramref name="maxHops"/> of <paramref name="identity"/> (breadth first; each reached once, by
    /// its strongest edge from the previous ring), nearest ring first, then strongest edge first.
    /// </summary>
    public IReadOnlyList<Associate> Associates(long identity, int maxHops)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxHops, 1);
        var result = new List<Associate>();
        if (!_graph.ContainsVertex(identity))
        {
            return result;
        }

        var seen = new HashSet<long> { identity };
        var ring = new List<long> { identity };
        for (var hop = 1; hop <= maxHops && ring.Count > 0; hop++)
        {
            var reached = new Dictionary<long, (long Via, CoAppearanceEdge Edge)>();
            foreach (var from in ring)
            {
                foreach (var edge in _graph.AdjacentEdges(from).Select(e => e.Tag))
                {
                    var to = edge.Other(from);
                    if (seen.Contains(to))
                    {
                        continue;
                    }

                    if (!reached.TryGetValue(to, out var best) || edge.Weight > best.Edge.Weight || (edge.Weight == best.Edge.Weight && from < best.Via))
                    {
                        reached[to] = (from, edge);
                    }
                }
            }

            var next = reached
                .OrderByDescending(r => r.Value.Edge.Weight).ThenBy(r => r.Key)
                .Select(r => new Associate(r.Key, hop, r.Value.Via, r.Value.Edge))
                .ToList();
            result.AddRange(next);
            ring = [.. next.Select(a => a.IdentityId)];
            seen.UnionWith(ring);
        }

        return result;
    }

    /// <summary>
    /// The path between two identities with the fewest hops, among those the strongest (each hop costs 1 plus a share
    /// that falls with the edge's weight), or null when none is within <paramref name="maxHops"/>.
    /// </summary>
    public IReadOnlyList<CoAppearanceEdge>? ShortestPath(long from, long to, int maxHops)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxHops, 1);
        if (!_graph.ContainsVertex(from) || !_graph.ContainsVertex(to) || from == to)
        {
            return null;
        }

        var paths = _graph.ShortestPathsDijkstra(e => 1 + (1 / (1 + e.Tag.Weight)), from);
        if (!paths(to, out var path))
        {
            return null;
        }

        var edges = path.Select(e => e.Tag).ToList();
        return edges.Count <= maxHops ? edges : null;
    }

    /// <summary>
    /// Communities: weighted label propagation (Raghavan, Albert and Kumara 2007), made deterministic — identities are
    /// visited in id order and a tie goes to the smaller label — for at most <paramref name="maxRounds"/> rounds. Each
    /// community lists its identities in id order; communities of two or more come first, largest first.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<long>> Communities(int maxRounds = 50)
    {
        var vertices = _graph.Vertices.Order().ToList();
        var label = vertices.ToDictionary(v => v, v => v);
        for (var round = 0; round < maxRounds; round++)
        {
            var changed = false;
            foreach (var v in vertices)
            {
                var weights = new Dictionary<long, double>();
                foreach (var edge in _graph.AdjacentEdges(v).Select(e => e.Tag))
                {
                    var l = label[edge.Other(v)];
                    weights[l] = weights.GetValueOrDefault(l) + edge.Weight;
                }

                if (weights.Count == 0)
                {
                    continue;
                }

                var best = weights.OrderByDescending(w => w.Value).ThenBy(w => w.Key).First().Key;
                if (weights.TryGetValue(label[v], out var current) && current >= weights[best])
                {
                    continue;
                }

                label[v] = best;
                changed = true;
            }

            if (!changed)
            {
                break;
            }
        }

        return [.. vertices
            .GroupBy(v => label[v])
            .Select(g => (IReadOnlyList<long>)[.. g.Order()])
            .OrderByDescending(g => g.Count).ThenBy(g => g[0])];
    }
}
