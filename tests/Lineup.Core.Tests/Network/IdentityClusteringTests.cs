using Lineup.Core.Network;

namespace Lineup.Core.Tests.Network;

/// <summary>Agglomerative clustering with locks on small hand-made similarity graphs.</summary>
public sealed class IdentityClusteringTests
{
    private const float Threshold = 0.4f;

    /// <summary>Every pair of <paramref name="faces"/> linked at <paramref name="similarity"/>.</summary>
    private static IEnumerable<FaceEdge> Clique(float similarity, params long[] faces) =>
        from a in faces from b in faces where a < b select new FaceEdge(a, b, similarity);

    private static Dictionary<long, long> Partition(IReadOnlyList<long> faces, long[] keys) =>
        faces.Select((f, i) => (f, keys[i])).ToDictionary(p => p.f, p => p.Item2);

    private static Dictionary<long, long> Run(
        IReadOnlyList<long> faces, IEnumerable<FaceEdge> edges, IReadOnlyDictionary<long, long>? locks = null, Linkage linkage = Linkage.ObservedMean, double support = 0) =>
        Partition(faces, IdentityClustering.Cluster(faces, edges, locks, Threshold, linkage, support));

    [Fact]
    public void Similar_faces_form_one_cluster_keyed_by_its_smallest_face_id_and_strangers_stay_apart()
    {
        long[] faces = [5, 3, 9, 7, 11, 20];
        var edges = Clique(0.8f, 3, 5, 9).Concat(Clique(0.7f, 7, 11)).Append(new FaceEdge(9, 7, 0.2f));
        var partition = Run(faces, edges);
        Assert.Equal(3, partition[5]);
        Assert.Equal(3, partition[9]);
        Assert.Equal(3, partition[3]);
        Assert.Equal(7, partition[11]);
        Assert.Equal(7, partition[7]);
        Assert.Equal(20, partition[20]);
    }

    [Fact]
    public void A_merge_needs_a_linkage_at_the_threshold_and_single_linkage_chains_through_one_look_alike()
    {
        // Two tight pairs bridged by one edge just above the threshold, with the other cross pairs far below it.
        long[] faces = [1, 2, 3, 4];
        var edges = new[]
        {
            new FaceEdge(1, 2, 0.9f), new FaceEdge(3, 4, 0.9f),
            new FaceEdge(2, 3, 0.45f), new FaceEdge(1, 3, 0.0f), new FaceEdge(2, 4, 0.0f), new FaceEdge(1, 4, 0.0f),
        };
        Assert.Equal(2, Run(faces, edges).Values.Distinct().Count());
        Assert.Single(Run(faces, edges, linkage: Linkage.Single).Values.Distinct());

        // The threshold is inclusive.
        Assert.Single(Run([1, 2], [new FaceEdge(1, 2, Threshold)]).Values.Distinct());
        Assert.Equal(2, Run([1, 2], [new FaceEdge(1, 2, Threshold - 1e-4f)]).Values.Distinct().Count());
    }

    [Fact]
    public void Supported_linkage_does_not_merge_two_large_clusters_over_a_single_strong_edge_where_the_observed_mean_would()
    {
        long[] faces = [1, 2, 3, 4, 5, 6, 7, 8];
        var edges = Clique(0.9f, 1, 2, 3, 4).Concat(Clique(0.9f, 5, 6, 7, 8)).Append(new FaceEdge(4, 5, 0.8f)).ToList();
        Assert.Single(Run(faces, edges, linkage: Linkage.ObservedMean).Values.Distinct());

        // Supported: 0.8 over max(1 edge, 0.5 × min(4 × 4, 20 × 4)) = 8 possible edges is 0.1, under the threshold.
        var supported = Run(faces, edges, linkage: Linkage.Supported, support: 0.5);
        Assert.Equal([1L, 1, 1, 1, 5, 5, 5, 5], faces.Select(f => supported[f]));

        // With the default parameters (supported mean at 0.40, support 0.5) the same.
        var defaults = Partition(faces, IdentityClustering.Cluster(faces, edges, null, ClusteringParameters.Default));
        Assert.Equal(supported, defaults);
    }

    [Fact]
    public void Clustering_the_same_graph_given_in_another_order_gives_the_same_partition()
    {
        // Six people of 4-8 faces with noisy within-person edges, plus cross-person edges on both sides of the threshold.
        var random = new Random(7);
        var faces = new List<long>();
        var edges = new List<FaceEdge>();
        long next = 1;
        for (var person = 0; person < 6; person++)
        {
            var members = Enumerable.Range(0, 4 + random.Next(5)).Select(_ => next++).ToList();
            faces.AddRange(members);
            foreach (var a in members)
            {
                foreach (var b in members.Where(b => b > a && random.NextDouble() < 0.7))
                {
                    edges.Add(new FaceEdge(a, b, 0.35f + (0.5f * (float)random.NextDouble())));
                }
            }
        }

        for (var i = 0; i < 40; i++)
        {
            var a = faces[random.Next(faces.Count)];
            var b = faces[random.Next(faces.Count)];
            if (a != b)
            {
                edges.Add(FaceEdge.Of(a, b, 0.2f + (0.35f * (float)random.NextDouble())));
            }
        }

        edges = [.. edges.GroupBy(e => (e.A, e.B)).Select(g => g.First())];
        var locks = new Dictionary<long, long> { [faces[0]] = 100, [faces[^1]] = 200 };
        foreach (var linkage in new[] { Linkage.Single, Linkage.ObservedMean, Linkage.Average, Linkage.Supported })
        {
            var reference = Partition(faces, IdentityClustering.Cluster(faces, edges, locks, Threshold, linkage, 0.5, 5));
            Assert.InRange(reference.Values.Distinct().Count(), 2, faces.Count - 1);
            for (var trial = 0; trial < 5; trial++)
            {
                var shuffledFaces = faces.OrderBy(_ => random.Next()).ToList();
                // Each edge may come in either direction, and some twice.
                var shuffledEdges = edges
                    .Select(e => random.Next(2) == 0 ? e : new FaceEdge(e.B, e.A, e.Similarity))
                    .Concat(edges.Where(_ => random.Next(4) == 0))
                    .OrderBy(_ => random.Next())
                    .ToList();
                var again = Partition(shuffledFaces, IdentityClustering.Cluster(shuffledFaces, shuffledEdges, locks, Threshold, linkage, 0.5, 5));
                Assert.Equal(reference, again);
            }
        }
    }

    [Fact]
    public void Faces_locked_to_different_identities_are_never_merged_however_similar()
    {
        long[] faces = [1, 2, 3];
        var edges = Clique(0.95f, 1, 2, 3).ToList();
        var locks = new Dictionary<long, long> { [1] = 10, [2] = 20 };
        var partition = Run(faces, edges, locks);
        Assert.NotEqual(partition[1], partition[2]);

        // The free face joins one of them, not both.
        Assert.True(partition[3] == partition[1] || partition[3] == partition[2]);
        Assert.Equal(2, partition.Values.Distinct().Count());
        Assert.Equal(2, Run(faces, edges, locks, Linkage.Single).Values.Distinct().Count());
    }

    [Fact]
    public void Faces_locked_to_one_identity_stay_together_without_any_edge_between_them()
    {
        long[] faces = [1, 2, 3, 4];
        var locks = new Dictionary<long, long> { [1] = 10, [4] = 10 };
        var partition = Run(faces, [new FaceEdge(2, 3, 0.9f)], locks);
        Assert.Equal(1, partition[4]);
        Assert.Equal(1, partition[1]);
        Assert.Equal(2, partition[3]);

        // A cluster locked by must-link still refuses a cluster locked elsewhere.
        locks[2] = 20;
        var partition2 = Run(faces, [new FaceEdge(1, 2, 0.9f), new FaceEdge(4, 2, 0.9f), new FaceEdge(2, 3, 0.9f)], locks);
        Assert.Equal(partition2[1], partition2[4]);
        Assert.NotEqual(partition2[1], partition2[2]);
        Assert.Equal(partition2[2], partition2[3]);
    }

    [Fact]
    public void Edges_naming_unknown_faces_or_a_face_itself_are_ignored_and_a_face_listed_twice_is_refused()
    {
        var partition = Run([1, 2], [new FaceEdge(1, 99, 0.9f), new FaceEdge(2, 2, 0.9f), new FaceEdge(2, 99, 0.9f)]);
        Assert.Equal((1L, 2L), (partition[1], partition[2]));
        Assert.Empty(IdentityClustering.Cluster([], [new FaceEdge(1, 2, 0.9f)], null, Threshold));
        Assert.Throws<ArgumentException>(() => IdentityClustering.Cluster([1, 2, 1], [], null, Threshold));
    }
}
