using Lineup.Core.Network;

namespace Lineup.Core.Tests.Network;

/// <summary>The co-appearance graph's queries on small hand-made graphs: hop limits, shortest paths, communities.</summary>
public sealed class CoAppearanceGraphTests
{
    /// <summary>An edge seen in <paramref name="photos"/> photos (evidence: one photo per count, image ids from 1000).</summary>
    private static CoAppearanceEdge Edge(long a, long b, int photos = 1, int pages = 0)
    {
        var (lo, hi) = a < b ? (a, b) : (b, a);
        var evidence = Enumerable.Range(0, photos)
            .Select(i => new CoAppearanceEvidence(CoAppearanceKind.Photo, 1000 + i, 1000 + i, lo * 10, hi * 10, null, null))
            .ToList();
        return new CoAppearanceEdge(lo, hi, photos, pages, evidence);
    }

    [Fact]
    public void Associates_stop_at_the_hop_limit_and_say_how_each_was_reached()
    {
        // 1 - 2 - 3 - 4, and 1 - 5 (stronger than 1 - 2).
        var graph = new CoAppearanceGraph([Edge(1, 2), Edge(2, 3), Edge(3, 4), Edge(1, 5, photos: 3)]);
        var one = graph.Associates(1, 1);
        Assert.Equal([5L, 2], one.Select(a => a.IdentityId));
        Assert.All(one, a => Assert.Equal((1, 1L), (a.Hops, a.Via)));
        Assert.Equal(3, one[0].Edge.Photos);

        var two = graph.Associates(1, 2);
        Assert.Equal([5L, 2, 3], two.Select(a => a.IdentityId));
        Assert.Equal((2, 2L), (two[2].Hops, two[2].Via));
        Assert.DoesNotContain(two, a => a.IdentityId == 4);
        Assert.DoesNotContain(graph.Associates(1, 3), a => a.IdentityId == 1);
        Assert.Contains(graph.Associates(1, 3), a => a.IdentityId == 4 && a.Hops == 3);

        Assert.Empty(graph.Associates(99, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => graph.Associates(1, 0));
    }

    [Fact]
    public void An_identity_two_hops_away_is_reached_through_its_strongest_link_from_the_first_ring()
    {
        // 1 knows 2 and 3; 4 was seen once with 2 and four times with 3.
        var graph = new CoAppearanceGraph([Edge(1, 2), Edge(1, 3), Edge(2, 4), Edge(3, 4, photos: 4)]);
        var four = Assert.Single(graph.Associates(1, 2), a => a.IdentityId == 4);
        Assert.Equal(3, four.Via);
        Assert.Equal(4, four.Edge.Photos);
    }

    [Fact]
    public void The_shortest_path_has_the_fewest_hops_and_among_those_the_strongest_links()
    {
        // 1 - 2 - 3 - 6 strong, 1 - 4 - 6 weak but shorter, 1 - 5 - 6 as short and stronger.
        var graph = new CoAppearanceGraph(
        [
            Edge(1, 2, photos: 9), Edge(2, 3, photos: 9), Edge(3, 6, photos: 9),
            Edge(1, 4, photos: 0, pages: 1), Edge(4, 6, photos: 0, pages: 1),
            Edge(1, 5, photos: 2), Edge(5, 6, photos: 2),
        ]);
        var path = graph.ShortestPath(1, 6, 4);
        Assert.NotNull(path);
        Assert.Equal([(1L, 5L), (5L, 6L)], path.Select(e => (e.A, e.B)));

        // Fewer hops beat strength: a direct page link wins over any two-photo detour.
        var direct = new CoAppearanceGraph([Edge(1, 2, photos: 9), Edge(2, 3, photos: 9), Edge(1, 3, photos: 0, pages: 1)]);
        Assert.Equal([(1L, 3L)], direct.ShortestPath(1, 3, 4)!.Select(e => (e.A, e.B)));
    }

    [Fact]
    public void No_path_is_returned_beyond_the_hop_limit_between_unconnected_identities_or_to_itself()
    {
        var graph = new CoAppearanceGraph([Edge(1, 2), Edge(2, 3), Edge(3, 4), Edge(7, 8)]);
        Assert.Equal(3, graph.ShortestPath(1, 4, 3)!.Count);
        Assert.Null(graph.ShortestPath(1, 4, 2));
        Assert.Null(graph.ShortestPath(1, 7, 4));
        Assert.Null(graph.ShortestPath(1, 1, 4));
        Assert.Null(graph.ShortestPath(1, 99, 4));
    }

    [Fact]
    public void Self_edges_are_dropped_and_edges_keep_their_evidence()
    {
        var graph = new CoAppearanceGraph([Edge(1, 2, photos: 2), new CoAppearanceEdge(3, 3, 1, 0, [])]);
        Assert.Equal((2, 1), (graph.IdentityCount, graph.EdgeCount));
        Assert.False(graph.Contains(3));
        var edge = Assert.Single(graph.EdgesOf(2));
        Assert.Equal([1000L, 1001], edge.Evidence.Select(e => e.ImageId));
        Assert.Equal(2 + (CoAppearanceEdge.PageWeight * 0), edge.Weight);
        Assert.Equal(1, edge.Other(2));
    }

    [Fact]
    public void Communities_are_deterministic_whatever_the_order_of_the_edges()
    {
        // Two groups, densely and strongly linked inside, joined by one weak page link.
        var edges = new List<CoAppearanceEdge>
        {
            Edge(1, 2, 3), Edge(1, 3, 3), Edge(2, 3, 3), Edge(3, 4, 2), Edge(2, 4, 2),
            Edge(10, 11, 3), Edge(10, 12, 3), Edge(11, 12, 3),
            Edge(4, 10, photos: 0, pages: 1),
            Edge(20, 21),
        };
        var communities = new CoAppearanceGraph(edges).Communities();
        Assert.Equal([[1L, 2, 3, 4], [10L, 11, 12], [20L, 21]], communities.Select(c => c.ToArray()));
        var random = new Random(3);
        for (var trial = 0; trial < 5; trial++)
        {
            var shuffled = edges.OrderBy(_ => random.Next()).ToList();
            Assert.Equal(communities, new CoAppearanceGraph(shuffled).Communities());
        }
    }
}
