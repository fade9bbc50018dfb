using System.Runtime.CompilerServices;
using Lineup.Core.Indexing;
using Lineup.Index.Garnet;
using Xunit.Abstractions;

namespace Lineup.Index.Tests;

/// <summary>What only the Garnet index has: shards over the primaries, attribute filters, per-shard repopulation.</summary>
public sealed class GarnetVectorIndexTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Dims = 64;
    private static readonly string[] s_jurisdictions = ["GB", "FR", "DE"];

    private GarnetTestKeys? _keys;

    public async Task InitializeAsync() => _keys = await GarnetTestCluster.CreateKeysAsync();

    public async Task DisposeAsync()
    {
        if (_keys is not null)
        {
            await _keys.DisposeAsync();
        }
    }

    [SkippableFact]
    public void The_shard_layout_computes_slots_as_the_cluster_does()
    {
        var layout = new GarnetShardLayout("lineup:faces", 6);
        var node = GarnetTestCluster.Nodes[0];
        for (var s = 0; s < layout.Shards; s++)
        {
            var slot = (long)GarnetResp.CallAsync(node.Host, node.Port, "CLUSTER", "KEYSLOT", layout.KeyOf(s)).GetAwaiter().GetResult()!;
            Assert.Equal(slot, layout.SlotOf(s));
            Assert.Equal(slot, GarnetShardLayout.HashSlot(layout.StagingKeyOf(s)));
            Assert.InRange(layout.SlotOf(s), s * 16384 / 6, ((s + 1) * 16384 / 6) - 1);
        }

        foreach (var key in new[] { "plain", "a{b}c", "{}x", "x{}{y}", "{user1000}.following", "ünïcode" })
        {
            var slot = (long)GarnetResp.CallAsync(node.Host, node.Port, "CLUSTER", "KEYSLOT", key).GetAwaiter().GetResult()!;
            Assert.Equal(slot, GarnetShardLayout.HashSlot(key));
        }

        Assert.Throws<ArgumentException>(() => new GarnetShardLayout("bad{prefix", 6));
    }

    [SkippableFact]
    public async Task Shards_spread_evenly_over_the_three_primaries_and_faces_spread_over_the_shards()
    {
        await using var index = await ConnectAsync();
        var random = new Random(1);
        const int N = 1200;
        await index.AddRangeAsync(Faces(random, N));

        var status = await index.ShardStatusAsync();
        foreach (var shard in status)
        {
            output.WriteLine($"{shard.Shard} {shard.Key} slot {shard.Slot} on {shard.Node} ({shard.Role}), replica {shard.Replica}: {shard.Count}");
        }

        Assert.Equal(6, status.Count);
        Assert.Equal(3, status.Select(s => s.Node).Distinct().Count());
        Assert.All(status.GroupBy(s => s.Node), g => Assert.Equal(2, g.Count()));
        Assert.All(status, s =>
        {
            Assert.Equal("primary", s.Role);
            Assert.True(s.Reachable);
            Assert.True(s.ReplicaReachable);
            Assert.NotNull(s.Replica);
            Assert.NotEqual(s.Node, s.Replica);
        });

        // Each shard holds the faces the hash deals it, about N / 6 each.
        Assert.Equal(N, status.Sum(s => s.Count));
        Assert.Equal(N, index.Count);
        for (var s = 0; s < 6; s++)
        {
            Assert.Equal(Enumerable.Range(1, N).Count(k => index.ShardOf(k) == s), status[s].Count);
            Assert.InRange(status[s].Count!.Value, 150, 250);
        }
    }

    [SkippableFact]
    public async Task Filters_return_only_matching_faces_and_the_best_of_them()
    {
        await using var index = await ConnectAsync();
        var random = new Random(2);
        const int N = 3000;
        var faces = Faces(random, N);
        await index.AddRangeAsync(faces);
        var byKey = faces.ToDictionary(f => f.Key);

        (long[]? Collections, string[]? Jurisdictions)[] filters =
        [
            ([3, 7], null),
            (null, ["GB"]),
            ([1, 2, 5], ["FR", "DE"]),
            ([4], ["DE"]),
        ];
        foreach (var (collections, jurisdictions) in filters)
        {
            bool Matches(long key) =>
                (collections is null || collections.Contains(byKey[key].CollectionId))
                && (jurisdictions is null || jurisdictions.Contains(byKey[key].Jurisdiction));

            var exactRecall = 0.0;
            for (var q = 0; q < 20; q++)
            {
                // A query equal to a matching face must find that face first.
                var target = faces.Where(f => Matches(f.Key)).ElementAt(random.Next(50));
                var result = await index.SearchAsync(target.Vector, 10, collections, jurisdictions);
                Assert.True(result.IsComplete);
                Assert.Equal(10, result.Hits.Count);
                Assert.All(result.Hits, h => Assert.True(Matches(h.Key), $"face {h.Key} does not match the filter"));
                Assert.Equal(target.Key, result.Hits[0].Key);

                var exact = faces.Where(f => Matches(f.Key))
                    .Select(f => (f.Key, Similarity: Core.Numerics.VectorMath.CosineOfUnit(f.Vector, target.Vector)))
                    .OrderByDescending(x => x.Similarity).Take(10).Select(x => x.Key);
                exactRecall += result.Hits.Select(h => h.Key).Intersect(exact).Count() / 10.0;
            }

            output.WriteLine($"filter c={string.Join(',', collections ?? [])} j={string.Join(',', jurisdictions ?? [])}: recall@10 vs exact filtered {exactRecall / 20:0.000}");
        }

        // Empty lists match nothing; bad jurisdictions are refused before anything is sent.
        Assert.Empty((await index.SearchAsync(faces[0].Vector, 10, collectionIds: [])).Hits);
        Assert.Empty((await index.SearchAsync(faces[0].Vector, 10, jurisdictions: [])).Hits);
        Assert.Empty((await index.SearchAsync(faces[0].Vector, 10, collectionIds: [999])).Hits);
        await Assert.ThrowsAsync<ArgumentException>(() => index.SearchAsync(faces[0].Vector, 10, jurisdictions: ["GB\" || 1"]));
        await Assert.ThrowsAsync<ArgumentException>(() => index.AddAsync(1, faces[0].Vector, 1, "G B"));

        // An unfiltered search ranges over everything.
        var all = await index.SearchAsync(faces[0].Vector, 10);
        Assert.Equal(faces[0].Key, all.Hits[0].Key);
    }

    [SkippableFact]
    public async Task Repopulating_one_shard_replaces_exactly_its_faces_while_the_others_keep_answering()
    {
        await using var index = await ConnectAsync();
        var random = new Random(3);
        const int N = 1800;
        var faces = Faces(random, N);
        await index.AddRangeAsync(faces);
        var before = await index.ShardStatusAsync();
        const int Shard = 2;

        // The new truth for shard 2: its even faces keep their vectors, its odd ones are gone, and new faces arrive. The
        // source also carries faces of other shards, which must be skipped.
        var newcomers = Faces(random, 300).Select(f => f with { Key = f.Key + 10_000 }).ToList();
        var source = faces.Where(f => index.ShardOf(f.Key) != Shard || f.Key % 2 == 0).Concat(newcomers).ToList();
        var expectedShard = source.Where(f => index.ShardOf(f.Key) == Shard).Select(f => f.Key).ToHashSet();

        var others = faces.Where(f => index.ShardOf(f.Key) != Shard).Take(40).ToList();
        var oldOdd = faces.First(f => index.ShardOf(f.Key) == Shard && f.Key % 2 == 1);
        var searching = true;
        var searches = 0;
        var checker = Task.Run(async () =>
        {
            while (Volatile.Read(ref searching))
            {
                foreach (var face in others)
                {
                    var result = await index.SearchAsync(face.Vector, 3);
                    Assert.True(result.IsComplete);
                    Assert.Equal(face.Key, result.Hits[0].Key);
                    Interlocked.Increment(ref searches);
                }
            }
        });

        // A face added through the index while the shard is rebuilt survives the swap.
        var lateFace = Faces(random, 1).Select(f => f with { Key = FirstKeyOfShard(index, Shard, 50_000) }).Single();
        var added = await index.RepopulateShardAsync(Shard, Slowly(source, async () => await index.AddRangeAsync([lateFace])));
        Volatile.Write(ref searching, false);
        await checker;
        output.WriteLine($"{searches} searches of other shards during the rebuild; {added} faces re-added");

        Assert.Equal(expectedShard.Count, added);
        var after = await index.ShardStatusAsync();
        for (var s = 0; s < 6; s++)
        {
            Assert.Equal(s == Shard ? expectedShard.Count + 1 : before[s].Count, after[s].Count);
        }

        Assert.True(await index.ContainsAsync(lateFace.Key));
        Assert.False(await index.ContainsAsync(oldOdd.Key));
        Assert.All(expectedShard.Take(50), k => Assert.True(index.Contains(k)));
        var newcomer = newcomers.First(f => index.ShardOf(f.Key) == Shard);
        Assert.Equal(newcomer.Key, (await index.SearchAsync(newcomer.Vector, 1)).Hits[0].Key);
        Assert.True(searches > 0);

        // An empty source empties the shard.
        Assert.Equal(0, await index.RepopulateShardAsync(Shard, Slowly([], () => Task.CompletedTask)));
        Assert.Equal(0, (await index.ShardStatusAsync())[Shard].Count);
    }

    [SkippableFact]
    public async Task A_face_key_set_restricts_the_search_exactly_when_small_and_by_widening_when_large()
    {
        await using var index = await ConnectAsync();
        var random = new Random(8);
        const int N = 4000;
        var faces = Faces(random, N);
        await index.AddRangeAsync(faces);
        using var exact = new ExactVectorIndex(Dims, N);
        foreach (var face in faces)
        {
            exact.Add(face.Key, face.Vector);
        }

        // Small: the allowed faces' vectors are compared exactly, so the answer is the exact filtered answer. A key the
        // index does not hold is ignored.
        var small = FaceKeySet.FromKeys([.. faces.Where(_ => random.Next(20) == 0).Select(f => f.Key), 999_999]);
        Assert.True(small.Count <= GarnetVectorIndex.ExactFilterLimit);

        // Large (past the exact limit): every hit is allowed and k of them come back.
        var large = FaceKeySet.FromKeys([.. faces.Where(f => f.Key % 4 != 0).Select(f => f.Key)]);
        Assert.True(large.Count > GarnetVectorIndex.ExactFilterLimit);

        var hits = new VectorHit[10];
        var expected = new VectorHit[10];
        for (var q = 0; q < 10; q++)
        {
            var query = Vectors.Near(random, faces[random.Next(N)].Vector, 0.5f);
            var n = index.Search(query, hits, small);
            var m = exact.Search(query, expected, small);
            Assert.Equal(m, n);
            Assert.Equal(expected[..m].Select(h => h.Key), hits[..n].Select(h => h.Key));
            Assert.All(hits[..n].Zip(expected[..m]), p => Assert.InRange(p.First.Similarity - p.Second.Similarity, -1e-4f, 1e-4f));

            n = index.Search(query, hits, large);
            Assert.Equal(10, n);
            Assert.All(hits, h => Assert.True(large.Contains(h.Key)));
            Assert.True(hits.Zip(hits.Skip(1)).All(p => p.First.Similarity >= p.Second.Similarity));
        }

        Assert.Equal(0, index.Search(faces[0].Vector, hits, FaceKeySet.Empty));
        Assert.Equal(10, index.Search(faces[0].Vector, hits, FaceKeySet.All));
        Assert.Equal(faces[0].Key, hits[0].Key);
    }

    [SkippableFact]
    public async Task Clear_removes_every_face()
    {
        await using var index = await ConnectAsync();
        await index.AddRangeAsync(Faces(new Random(4), 200));
        Assert.Equal(200, await index.CountAsync());
        await index.ClearAsync();
        Assert.Equal(0, await index.CountAsync());
        Assert.Empty((await index.SearchAsync(Vectors.Unit(new Random(5), Dims), 5)).Hits);
    }

    [SkippableFact]
    public async Task Keys_built_with_other_settings_are_refused_at_connect()
    {
        await using (var index = await ConnectAsync())
        {
            await index.AddRangeAsync(Faces(new Random(6), 60));
        }

        var ex = await Assert.ThrowsAsync<VectorIndexException>(() => GarnetVectorIndex.ConnectAsync(Options() with { Dimensions = Dims * 2 }));
        Assert.Contains("64-dimensional", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<VectorIndexException>(() => GarnetVectorIndex.ConnectAsync(Options() with { Quantisation = GarnetQuantisation.Q8 }));
        await Assert.ThrowsAsync<VectorIndexException>(() => GarnetVectorIndex.ConnectAsync(Options() with { Links = 32 }));
        await using var same = await GarnetVectorIndex.ConnectAsync(Options() with { SearchEf = 50 });
        Assert.Equal(60, same.Count);
    }

    [SkippableFact]
    public async Task Recall_at_10_against_exact_search_on_clustered_vectors()
    {
        const int N = 6000, Queries = 100, K = 10;
        var random = new Random(7);
        var data = Vectors.Clustered(random, N, 60, Dims);
        var keys = Enumerable.Range(1, N).Select(i => (long)i).ToArray();
        using var exact = new ExactVectorIndex(Dims, N);
        exact.AddRange(keys, data);
        await using var index = await ConnectAsync();
        index.AddRange(keys, data);

        var recall = 0.0;
        var exactHits = new VectorHit[K];
        for (var q = 0; q < Queries; q++)
        {
            var query = Vectors.Near(random, Vectors.Row(data, random.Next(N), Dims), 0.5f);
            exact.Search(query, exactHits);
            var result = await index.SearchAsync(query, K);
            recall += result.Hits.Select(h => h.Key).Intersect(exactHits.Select(h => h.Key)).Count() / (double)K;
        }

        recall /= Queries;
        output.WriteLine($"recall@10 {recall:0.000} at EF {index.Options.SearchEf} over {N} faces in 6 shards");
        Assert.True(recall >= 0.95, $"recall@10 {recall:0.000}");
    }

    private GarnetIndexOptions Options() => new()
    {
        Endpoints = _keys!.Endpoints,
        KeyPrefix = _keys.Prefix,
        Dimensions = Dims,
    };

    private Task<GarnetVectorIndex> ConnectAsync() => GarnetVectorIndex.ConnectAsync(Options());

    internal static List<(long Key, float[] Vector, long CollectionId, string? Jurisdiction)> Faces(Random random, int count, int dimensions = Dims)
    {
        var data = Vectors.Clustered(random, count, Math.Max(1, count / 30), dimensions);
        return Enumerable.Range(0, count)
            .Select(i => ((long)i + 1, Vectors.Row(data, i, dimensions).ToArray(), (long)(i % 10), (string?)s_jurisdictions[i % 3]))
            .ToList();
    }

    private static long FirstKeyOfShard(GarnetVectorIndex index, int shard, long from)
    {
        var key = from;
        while (index.ShardOf(key) != shard)
        {
            key++;
        }

        return key;
    }

    /// <summary>The source of a rebuild, yielding slowly (so searches overlap it) and running <paramref name="midway"/> halfway.</summary>
    private static async IAsyncEnumerable<(long Key, float[] Vector, long CollectionId, string? Jurisdiction)> Slowly(
        IReadOnlyList<(long Key, float[] Vector, long CollectionId, string? Jurisdiction)> source,
        Func<Task> midway,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < source.Count; i++)
        {
            if (i % 100 == 0)
            {
                await Task.Delay(20, cancellationToken);
            }

            if (i == source.Count / 2)
            {
                await midway();
            }

            yield return source[i];
        }

        if (source.Count == 0)
        {
            await midway();
        }
    }
}
