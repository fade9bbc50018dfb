namespace Lineup.Core.Network;

/// <summary>An undirected edge of the face similarity graph: two face ids (<see cref="A"/> &lt; <see cref="B"/>) and their cosine.</summary>
public readonly record struct FaceEdge(long A, long B, float Similarity)
{
    public static FaceEdge Of(long a, long b, float similarity) => a < b ? new(a, b, similarity) : new(b, a, similarity);
}

/// <summary>How two clusters' similarity is scored when deciding whether to merge them.</summary>
public enum Linkage
{
    /// <summary>The best edge between them (single linkage: chains through one look-alike).</summary>
    Single,

    /// <summary>The mean over the edges that exist between them.</summary>
    ObservedMean,

    /// <summary>The sum of edges over every pair of faces (missing edges count as 0).</summary>
    Average,

    /// <summary>The mean over existing edges, but over at least a share of the edges the two could have in a kNN graph.</summary>
    Supported,
}

/// <summary>
/// Agglomerative clustering of faces into identities over a sparse similarity graph, with analyst constraints. Faces
/// locked to the same identity start in one cluster; clusters locked to different identities are never merged. The
/// result is a pure function of the face set, the edge set and the locks: clusters merge in order of linkage, ties
/// broken by the smallest face id of each side, so clustering a graph built incrementally gives the same partition as
/// clustering the same graph built at once.
/// </summary>
public static class IdentityClustering
{
    /// <summary>Clusters with <paramref name="parameters"/> (supported mean linkage); see the other overload.</summary>
    public static long[] Cluster(IReadOnlyList<long> faces, IEnumerable<FaceEdge> edges, IReadOnlyDictionary<long, long>? locks, ClusteringParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return Cluster(faces, edges, locks, parameters.MergeThreshold, Linkage.Supported, parameters.Support, parameters.Neighbours, parameters.SingleEdgeThreshold);
    }

    /// <summary>
    /// Clusters <paramref name="faces"/>; returns, per face in the same order, the smallest face id of its cluster.
    /// Edges naming a face that is not in <paramref name="faces"/> are ignored.
    /// </summary>
    /// <param name="locks">Face id → the identity an analyst fixed it to.</param>
    /// <param name="support">For <see cref="Linkage.Supported"/>: the share of possible edges the mean is taken over at least.</param>
    /// <param name="neighbours">For <see cref="Linkage.Supported"/>: the k of the kNN graph (bounds the possible edges).</param>
    /// <param name="singleEdgeThreshold">Two clusters joined by one edge only merge when it is at least this.</param>
    public static long[] Cluster(
        IReadOnlyList<long> faces,
        IEnumerable<FaceEdge> edges,
        IReadOnlyDictionary<long, long>? locks,
        float mergeThreshold,
        Linkage linkage = Linkage.ObservedMean,
        double support = 0,
        int neighbours = 20,
        float singleEdgeThreshold = -1)
    {
        ArgumentNullException.ThrowIfNull(faces);
        ArgumentNullException.ThrowIfNull(edges);
        var n = faces.Count;
        var indexOf = new Dictionary<long, int>(n);
        for (var i = 0; i < n; i++)
        {
            if (!indexOf.TryAdd(faces[i], i))
            {
                throw new ArgumentException($"Face {faces[i]} is listed twice.", nameof(faces));
            }
        }

        // Union-find over faces: the cluster of a face is its root; each root keeps its size, key, lock and adjacency.
        var parent = new int[n];
        var size = new int[n];
        var key = new long[n];
        var lockOf = new long?[n];
        var adjacency = new Dictionary<int, Link>?[n];
        var version = new int[n];
        for (var i = 0; i < n; i++)
        {
            parent[i] = i;
            size[i] = 1;
            key[i] = faces[i];
            if (locks is not null && locks.TryGetValue(faces[i], out var locked))
            {
                lockOf[i] = locked;
            }
        }

        int Find(int i)
        {
            while (parent[i] != i)
            {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }

            return i;
        }

        // Sorted so that the floating-point sums, and so every tie, come out the same however the graph was built.
        var sorted = edges
            .Where(e => e.A != e.B && indexOf.ContainsKey(e.A) && indexOf.ContainsKey(e.B))
            .Select(e => FaceEdge.Of(e.A, e.B, e.Similarity))
            .Distinct()
            .OrderBy(e => e.A).ThenBy(e => e.B).ThenBy(e => e.Similarity)
            .ToList();

        // Must-link: faces locked to one identity start as one cluster.
        if (locks is not null)
        {
            var firstOfLock = new Dictionary<long, int>();
            for (var i = 0; i < n; i++)
            {
                if (lockOf[i] is { } l)
                {
                    if (firstOfLock.TryGetValue(l, out var first))
                    {
                        Union(first, i);
                    }
                    else
                    {
                        firstOfLock[l] = i;
                    }
                }
            }
        }

        foreach (var edge in sorted)
        {
            var a = Find(indexOf[edge.A]);
            var b = Find(indexOf[edge.B]);
            if (a == b)
            {
                continue;
            }

            AddLink(a, b, edge.Similarity, 1);
            AddLink(b, a, edge.Similarity, 1);
        }

        var queue = new PriorityQueue<Candidate, Candidate>(CandidateOrder.Instance);
        for (var i = 0; i < n; i++)
        {
            if (Find(i) == i && adjacency[i] is { } links)
            {
                foreach (var (j, link) in links)
                {
                    if (i < j)
                    {
                        Push(i, j, link);
                    }
                }
            }
        }

        while (queue.TryDequeue(out var top, out _))
        {
            if (top.Score < mergeThreshold)
            {
                break;
            }

            if (parent[top.A] != top.A || parent[top.B] != top.B || version[top.A] != top.VersionA || version[top.B] != top.VersionB)
            {
                continue;
            }

            if (lockOf[top.A] is { } la && lockOf[top.B] is { } lb && la != lb)
            {
                continue;
            }

            var root = Merge(top.A, top.B);
            if (adjacency[root] is { } merged)
            {
                foreach (var (j, link) in merged)
                {
                    Push(root, j, link);
                }
            }
        }

        var result = new long[n];
        for (var i = 0; i < n; i++)
        {
            result[i] = key[Find(i)];
        }

        return result;

        void Union(int x, int y)
        {
            x = Find(x);
            y = Find(y);
            if (x != y)
            {
                Merge(x, y);
            }
        }

        void AddLink(int from, int to, double sum, int count)
        {
            var links = adjacency[from] ??= [];
            links[to] = links.TryGetValue(to, out var old)
                ? new Link(old.Sum + sum, old.Count + count, Math.Max(old.Max, sum / Math.Max(count, 1)))
                : new Link(sum, count, sum / Math.Max(count, 1));
        }

        int Merge(int x, int y)
        {
            // The larger adjacency absorbs the smaller one.
            var ax = adjacency[x]?.Count ?? 0;
            var ay = adjacency[y]?.Count ?? 0;
            var (root, child) = ax >= ay ? (x, y) : (y, x);
            parent[child] = root;
            size[root] += size[child];
            key[root] = Math.Min(key[root], key[child]);
            lockOf[root] ??= lockOf[child];
            version[root]++;
            adjacency[root]?.Remove(child);
            if (adjacency[child] is { } childLinks)
            {
                foreach (var (j, link) in childLinks)
                {
                    if (j == root)
                    {
                        continue;
                    }

                    var rootLinks = adjacency[root] ??= [];
                    rootLinks[j] = rootLinks.TryGetValue(j, out var old)
                        ? new Link(old.Sum + link.Sum, old.Count + link.Count, Math.Max(old.Max, link.Max))
                        : link;
                    var jLinks = adjacency[j]!;
                    jLinks.Remove(child);
                    jLinks[root] = rootLinks[j];
                }

                adjacency[child] = null;
            }

            return root;
        }

        void Push(int a, int b, Link link)
        {
            // A merge that rests on one pair of faces needs a stricter cosine: with one comparison there is nothing to
            // average a look-alike out.
            var score = link.Count == 1 && link.Sum < singleEdgeThreshold ? double.NegativeInfinity : linkage switch
            {
                Linkage.Single => link.Max,
                Linkage.ObservedMean => link.Sum / link.Count,
                Linkage.Supported => link.Sum / Math.Max(link.Count, support * Math.Min((double)size[a] * size[b], (double)neighbours * Math.Min(size[a], size[b]))),
                _ => link.Sum / ((double)size[a] * size[b]),
            };
            var (lo, hi) = key[a] < key[b] ? (a, b) : (b, a);
            var candidate = new Candidate(score, key[lo], key[hi], lo, hi, version[lo], version[hi]);
            queue.Enqueue(candidate, candidate);
        }
    }

    private readonly record struct Link(double Sum, int Count, double Max);

    private readonly record struct Candidate(double Score, long KeyA, long KeyB, int A, int B, int VersionA, int VersionB);

    /// <summary>Highest score first; ties by the smaller keys.</summary>
    private sealed class CandidateOrder : IComparer<Candidate>
    {
        public static CandidateOrder Instance { get; } = new();

        public int Compare(Candidate x, Candidate y)
        {
            var c = y.Score.CompareTo(x.Score);
            if (c != 0)
            {
                return c;
            }

            c = x.KeyA.CompareTo(y.KeyA);
            return c != 0 ? c : x.KeyB.CompareTo(y.KeyB);
        }
    }
}
