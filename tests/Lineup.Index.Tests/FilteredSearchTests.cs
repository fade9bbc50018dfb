using Lineup.Core.Indexing;
using Xunit.Abstractions;

namespace Lineup.Index.Tests;

/// <summary>
/// 20,000 clustered 512-d unit vectors (1,000 "identities" of 20 photos, cosine about 0.7 to their centre) in an exact
/// index and a USearch index; the USearch index is also opened a second time as a view whose exact-scan limit is 0, so
/// every filtered search there walks the graph (and falls back only when the walk comes back short).
/// </summary>
public sealed class FilteredSearchFixture : IDisposable
{
    public const int Count = 20_000;
    public const int Clusters = 1_000;
    public const int Dims = 512;

    private readonly TempDirectory _temp = new("filtered");

    public FilteredSearchFixture()
    {
        var random = new Random(2024);
        Data = Vectors.Clustered(random, Count, Clusters, Dims);
        Keys = Enumerable.Range(1, Count).Select(i => (long)i).ToArray();
        Exact = new ExactVectorIndex(Dims, Count);
        Exact.AddRange(Keys, Data);

        // ef 128: at ef 64 plain (unfiltered) recall@10 on this near-tie data is itself about 0.94 (docs/engines.md),
        // which would hide what the filter does.
        var options = new USearchOptions { Dimensions = Dims, ExpansionSearch = 128, Threads = 2 };
        Graph = new USearchVectorIndex(options);
        Graph.AddRange(Keys, Data);
        var path = _temp.File("faces.usearch");
        Graph.Save(path);
        GraphOnly = USearchVectorIndex.Open(path, options with { ExactFilterLimit = 0 }, view: true);

        Queries = Enumerable.Range(0, 60)
            .Select(i => Vectors.Near(random, Vectors.Row(Data, random.Next(Count), Dims), 0.5f))
            .ToArray();
    }

    public float[] Data { get; }

    public long[] Keys { get; }

    public ExactVectorIndex Exact { get; }

    public USearchVectorIndex Graph { get; }

    public USearchVectorIndex GraphOnly { get; }

    public float[][] Queries { get; }

    /// <summary>About <paramref name="rate"/> of the keys: scattered at random, or whole clusters (a collection of some identities).</summary>
    public FaceKeySet Allowed(double rate, bool byCluster, int seed)
    {
        var random = new Random(seed);
        if (!byCluster)
        {
            return FaceKeySet.FromKeys(Keys.Where(_ => random.NextDouble() < rate).ToArray());
        }

        var chosen = Enumerable.Range(0, Clusters).OrderBy(_ => random.Next()).Take(Math.Max(1, (int)Math.Round(Clusters * rate))).ToHashSet();

        // Vectors.Clustered puts row i in cluster i % clusters; key = row + 1.
        return FaceKeySet.FromKeys(Keys.Where(key => chosen.Contains((int)((key - 1) % Clusters))).ToArray());
    }

    public void Dispose()
    {
        GraphOnly.Dispose();
        Graph.Dispose();
        Exact.Dispose();
        _temp.Dispose();
    }
}

public sealed class FilteredSearchTests(FilteredSearchFixture fixture, ITestOutputHelper output) : IClassFixture<FilteredSearchFixture>
{
    private const int K = 10;

    public static TheoryData<double, bool> PassRates() => new()
    {
        { 0.5, false }, { 0.05, false }, { 0.005, false }, { 0.0005, false },
        { 0.5, true }, { 0.05, true }, { 0.005, true }, { 0.0005, true },
    };

    [Theory]
    [MemberData(nameof(PassRates))]
    public void Exact_filtered_search_equals_the_full_ranking_filtered_afterwards(double rate, bool byCluster)
    {
        var allowed = fixture.Allowed(rate, byCluster, seed: (int)(rate * 1e6) + (byCluster ? 1 : 0));
        var everything = new VectorHit[FilteredSearchFixture.Count];
        var hits = new VectorHit[K];
        foreach (var query in fixture.Queries.Take(20))
        {
            var all = fixture.Exact.Search(query, everything);
            var expected = everything[..all].Where(h => allowed.Contains(h.Key)).Take(K).ToArray();

            var n = fixture.Exact.Search(query, hits, allowed);

            Assert.Equal(Math.Min(K, allowed.Count), n);
            Assert.Equal(expected, hits[..n]);
        }
    }

    [Theory]
    [MemberData(nameof(PassRates))]
    public void USearch_filtered_search_returns_k_allowed_keys_with_recall_of_exact_filtered_search(double rate, bool byCluster)
    {
        var allowed = fixture.Allowed(rate, byCluster, seed: (int)(rate * 1e6) + (byCluster ? 1 : 0));
        var truth = new VectorHit[K];
        var hits = new VectorHit[K];
        foreach (var (name, index) in new[] { ("default", fixture.Graph), ("graph only", fixture.GraphOnly) })
        {
            int relevant = 0, retrieved = 0;
            foreach (var query in fixture.Queries)
            {
                var t = fixture.Exact.Search(query, truth, allowed);
                var n = index.Search(query, hits, allowed);

                Assert.Equal(Math.Min(K, allowed.Count), n);
                Assert.All(hits[..n], h => Assert.True(allowed.Contains(h.Key), $"key {h.Key} is not allowed"));
                Assert.Equal(n, hits[..n].Select(h => h.Key).Distinct().Count());
                var expected = truth[..t].Select(h => h.Key).ToHashSet();
                retrieved += hits[..n].Count(h => expected.Contains(h.Key));
                relevant += t;
            }

            var recall = (double)retrieved / relevant;
            output.WriteLine($"{name}: {allowed.Count} allowed ({(byCluster ? "clusters" : "random")}), recall@{K} {recall:0.000}");
            Assert.True(recall >= 0.95, $"{name}: recall@{K} {recall:0.000} at pass rate {rate:P2} ({allowed.Count} keys)");
        }
    }

    [Fact]
    public void A_filter_that_passes_nothing_returns_nothing()
    {
        var hits = new VectorHit[K];
        var query = fixture.Queries[0];
        var absent = FaceKeySet.FromKeys([FilteredSearchFixture.Count + 1, FilteredSearchFixture.Count + 500]);
        foreach (var index in new IVectorIndex[] { fixture.Exact, fixture.Graph, fixture.GraphOnly })
        {
            Assert.Equal(0, index.Search(query, hits, FaceKeySet.Empty));
            Assert.Equal(0, index.Search(query, hits, absent));
        }
    }

    [Fact]
    public void The_unrestricted_set_searches_like_an_unfiltered_search()
    {
        var filtered = new VectorHit[K];
        var plain = new VectorHit[K];
        foreach (var index in new IVectorIndex[] { fixture.Exact, fixture.Graph })
        {
            var query = fixture.Queries[1];
            Assert.Equal(index.Search(query, plain), index.Search(query, filtered, FaceKeySet.All));
            Assert.Equal(plain, filtered);
        }
    }

    [Fact]
    public void Keys_the_index_does_not_hold_are_skipped_and_the_rest_still_fill_k()
    {
        var held = fixture.Keys.Where(k => k % 997 == 0).ToArray();
        var allowed = FaceKeySet.FromKeys([.. held, .. Enumerable.Range(1, 50).Select(i => (long)(FilteredSearchFixture.Count + i))]);
        var hits = new VectorHit[K];
        foreach (var index in new IVectorIndex[] { fixture.Exact, fixture.Graph, fixture.GraphOnly })
        {
            var n = index.Search(fixture.Queries[2], hits, allowed);
            Assert.Equal(K, n);
            Assert.All(hits[..n], h => Assert.Contains(h.Key, held));
        }
    }

    [Fact]
    public void A_large_k_is_filled_with_allowed_keys()
    {
        var allowed = fixture.Allowed(0.05, byCluster: false, seed: 77);
        var hits = new VectorHit[300];
        foreach (var index in new IVectorIndex[] { fixture.Exact, fixture.Graph, fixture.GraphOnly })
        {
            var n = index.Search(fixture.Queries[3], hits, allowed);
            Assert.Equal(300, n);
            Assert.All(hits, h => Assert.True(allowed.Contains(h.Key)));
            Assert.Equal(300, hits.Select(h => h.Key).Distinct().Count());
            Assert.True(hits.Zip(hits.Skip(1)).All(p => p.First.Similarity >= p.Second.Similarity - 1e-3f), "hits are ranked");
        }
    }

    [Fact]
    public void The_exact_scan_over_allowed_keys_scores_like_the_graph()
    {
        // Both strategies of one index must rank on the same scale, or the switch between them would show as a jump.
        var allowed = fixture.Allowed(0.05, byCluster: true, seed: 5);
        var graph = new VectorHit[K];
        var exact = new VectorHit[K];
        var query = fixture.Queries[4];
        var n = fixture.Graph.SearchGraph(query, graph, allowed);
        var m = fixture.Graph.SearchAllowedExactly(query, exact, allowed);
        Assert.Equal(K, n);
        Assert.Equal(K, m);
        var exactByKey = exact.ToDictionary(h => h.Key, h => h.Similarity);
        foreach (var hit in graph.Where(h => exactByKey.ContainsKey(h.Key)))
        {
            Assert.Equal(exactByKey[hit.Key], hit.Similarity, 2e-3f);
        }
    }
}
