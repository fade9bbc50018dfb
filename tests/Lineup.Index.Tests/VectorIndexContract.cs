using Lineup.Core.Indexing;
using Lineup.Core.Numerics;

namespace Lineup.Index.Tests;

/// <summary>
/// What every <see cref="IVectorIndex"/> must do, run once per backend. Small dimensions keep it fast; the
/// recall suite (USearch only) uses the real 512.
/// </summary>
public abstract class VectorIndexContract : IDisposable
{
    protected const int Dims = 64;

    protected VectorIndexContract()
    {
        Temp = new TempDirectory();
    }

    protected TempDirectory Temp { get; }

    /// <summary>How far a reported similarity may be from the exact float32 cosine (quantization error).</summary>
    protected virtual float SimilarityTolerance => 0.01f;

    protected abstract IVectorIndex Create(int dimensions);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing) => Temp.Dispose();

    [SkippableFact]
    public void An_empty_index_finds_nothing()
    {
        using var index = Create(Dims);
        Assert.Equal(0, index.Count);
        Assert.Equal(Dims, index.Dimensions);
        var hits = new VectorHit[5];
        Assert.Equal(0, index.Search(Vectors.Unit(new Random(1), Dims), hits));
        Assert.False(index.Contains(1));
        Assert.False(index.Remove(1));
    }

    [SkippableFact]
    public void Add_then_search_finds_each_vector_first_with_its_cosine()
    {
        var random = new Random(2);
        using var index = Create(Dims);
        var data = Enumerable.Range(0, 200).Select(_ => Vectors.Unit(random, Dims)).ToArray();
        for (var i = 0; i < data.Length; i++)
        {
            index.Add(1000 + i, data[i]);
        }

        Assert.Equal(200, index.Count);
        var hits = new VectorHit[3];
        for (var i = 0; i < data.Length; i += 17)
        {
            Assert.Equal(3, index.Search(data[i], hits));
            Assert.Equal(1000 + i, hits[0].Key);
            Assert.InRange(hits[0].Similarity, 1 - SimilarityTolerance, 1 + SimilarityTolerance);
            Assert.True(hits[0].Similarity >= hits[1].Similarity && hits[1].Similarity >= hits[2].Similarity);
            var second = data[(int)hits[1].Key - 1000];
            Assert.InRange(hits[1].Similarity - VectorMath.CosineOfUnit(data[i], second), -SimilarityTolerance, SimilarityTolerance);
        }
    }

    [SkippableFact]
    public void Similarity_is_cosine_even_for_vectors_that_are_not_unit_length()
    {
        using var index = Create(Dims);
        var v = Vectors.Unit(new Random(3), Dims);
        index.Add(7, v.Select(x => x * 5).ToArray());
        var hits = new VectorHit[1];
        Assert.Equal(1, index.Search(v.Select(x => x * 0.25f).ToArray(), hits));
        Assert.InRange(hits[0].Similarity, 1 - SimilarityTolerance, 1 + SimilarityTolerance);
    }

    [SkippableFact]
    public void K_larger_than_the_index_returns_every_vector_once()
    {
        var random = new Random(4);
        using var index = Create(Dims);
        for (var i = 0; i < 7; i++)
        {
            index.Add(i, Vectors.Unit(random, Dims));
        }

        var hits = new VectorHit[50];
        var n = index.Search(Vectors.Unit(random, Dims), hits);
        Assert.Equal(7, n);
        Assert.Equal(Enumerable.Range(0, 7).Select(i => (long)i), hits[..n].Select(h => h.Key).Order());
        Assert.Equal(0, index.Search(Vectors.Unit(random, Dims), []));
    }

    [SkippableFact]
    public void Remove_and_contains()
    {
        var random = new Random(5);
        using var index = Create(Dims);
        var a = Vectors.Unit(random, Dims);
        index.Add(1, a);
        index.Add(2, Vectors.Unit(random, Dims));
        index.Add(3, Vectors.Unit(random, Dims));

        Assert.True(index.Contains(1));
        Assert.True(index.Remove(1));
        Assert.False(index.Remove(1));
        Assert.False(index.Contains(1));
        Assert.Equal(2, index.Count);

        var hits = new VectorHit[10];
        var n = index.Search(a, hits);
        Assert.DoesNotContain(1L, hits[..n].Select(h => h.Key));

        // A removed key can come back.
        index.Add(1, a);
        Assert.Equal(1, index.Search(a, hits.AsSpan(0, 1)));
        Assert.Equal(1, hits[0].Key);
        Assert.Equal(3, index.Count);
    }

    [SkippableFact]
    public void Adding_an_existing_key_replaces_its_vector()
    {
        var random = new Random(6);
        using var index = Create(Dims);
        var before = Vectors.Unit(random, Dims);
        var after = Vectors.Unit(random, Dims);
        index.Add(42, before);
        for (var i = 0; i < 20; i++)
        {
            index.Add(i, Vectors.Unit(random, Dims));
        }

        index.Add(42, after);
        Assert.Equal(21, index.Count);
        var hits = new VectorHit[1];
        index.Search(after, hits);
        Assert.Equal(42, hits[0].Key);
        Assert.InRange(hits[0].Similarity, 1 - SimilarityTolerance, 1 + SimilarityTolerance);

        // In a batch, too, and the last of repeated keys wins.
        var third = Vectors.Unit(random, Dims);
        index.AddRange([42, 500, 42], [.. before, .. Vectors.Unit(random, Dims), .. third]);
        Assert.Equal(22, index.Count);
        index.Search(third, hits);
        Assert.Equal(42, hits[0].Key);
        Assert.InRange(hits[0].Similarity, 1 - SimilarityTolerance, 1 + SimilarityTolerance);
    }

    [SkippableFact]
    public void Wrong_dimensions_or_bad_values_are_argument_errors()
    {
        using var index = Create(Dims);
        Assert.Throws<ArgumentException>(() => index.Add(1, new float[Dims + 1]));
        Assert.Throws<ArgumentException>(() => index.Search(new float[Dims - 1], new VectorHit[1]));
        Assert.Throws<ArgumentException>(() => index.AddRange([1, 2], new float[Dims]));
        var nan = Vectors.Unit(new Random(7), Dims);
        nan[3] = float.NaN;
        Assert.Throws<ArgumentException>(() => index.Add(1, nan));
        Assert.Throws<ArgumentException>(() => index.Add(1, new float[Dims]));
        Assert.Equal(0, index.Count);
    }

    [SkippableFact]
    public void AddRange_adds_a_batch()
    {
        var random = new Random(8);
        using var index = Create(Dims);
        const int N = 1500;
        var data = Vectors.Clustered(random, N, 50, Dims);
        var keys = Enumerable.Range(0, N).Select(i => (long)i * 3).ToArray();
        index.AddRange(keys, data);
        Assert.Equal(N, index.Count);
        Assert.All(keys, k => Assert.True(index.Contains(k)));

        var hits = new VectorHit[1];
        var selfFound = 0;
        for (var i = 0; i < N; i += 37)
        {
            index.Search(Vectors.Row(data, i, Dims), hits);
            selfFound += hits[0].Key == keys[i] ? 1 : 0;
        }

        Assert.True(selfFound >= 40, $"found itself {selfFound} of 41 times");
    }

    [SkippableFact]
    public async Task Concurrent_adds_and_searches_do_not_crash_and_all_land()
    {
        using var index = Create(Dims);
        const int Threads = 6, PerThread = 300;
        var tasks = Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            var random = new Random(100 + t);
            var hits = new VectorHit[5];
            for (var i = 0; i < PerThread; i++)
            {
                var v = Vectors.Unit(random, Dims);
                if (i % 3 == 0)
                {
                    index.AddRange([(t * PerThread) + i], v);
                }
                else
                {
                    index.Add((t * PerThread) + i, v);
                }

                index.Search(v, hits);
            }
        })).ToList();
        tasks.Add(Task.Run(() =>
        {
            var random = new Random(99);
            var hits = new VectorHit[10];
            for (var i = 0; i < 500; i++)
            {
                index.Search(Vectors.Unit(random, Dims), hits);
            }
        }));
        await Task.WhenAll(tasks);

        Assert.Equal(Threads * PerThread, index.Count);
        for (var k = 0; k < Threads * PerThread; k += 7)
        {
            Assert.True(index.Contains(k));
        }
    }
}

public sealed class ExactVectorIndexContract : VectorIndexContract
{
    protected override float SimilarityTolerance => 1e-5f;

    protected override IVectorIndex Create(int dimensions) => new ExactVectorIndex(dimensions, initialCapacity: 4);

    [SkippableFact]
    public void Ties_break_towards_the_smaller_key()
    {
        using var index = Create(Dims);
        var v = Vectors.Unit(new Random(9), Dims);
        index.Add(9, v);
        index.Add(3, v);
        index.Add(5, v);
        var hits = new VectorHit[2];
        index.Search(v, hits);
        Assert.Equal([3L, 5L], hits.Select(h => h.Key));
    }
}
