using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using Lineup.Core.Indexing;
using Lineup.Index;

namespace Lineup.Bench;

/// <summary>
/// One top-10 search over 20,000 clustered 512-d unit vectors: an exact float32 scan (baseline) against the USearch
/// graph at each storage. <c>lineup bench index</c> measures the same at 100k–1M faces with recall; this one shows
/// that a search allocates nothing.
/// </summary>
[MemoryDiagnoser]
public class IndexSearchBenchmarks
{
    private const int Dimensions = 512;
    private const int Count = 20_000;
    private readonly VectorHit[] _hits = new VectorHit[10];
    private float[] _vectors = [];
    private float[] _query = [];
    private USearchVectorIndex _index = null!;

    [Params(VectorQuantization.F16, VectorQuantization.I8)]
    public VectorQuantization Quantization { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        var centres = new float[200 * Dimensions];
        Fill(centres, random, 1f);
        _vectors = new float[Count * Dimensions];
        for (var i = 0; i < Count; i++)
        {
            var v = _vectors.AsSpan(i * Dimensions, Dimensions);
            Fill(v, random, 0.6f);
            TensorPrimitives.Add(v, centres.AsSpan(i % 200 * Dimensions, Dimensions), v);
            TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
        }

        _query = _vectors.AsSpan(123 * Dimensions, Dimensions).ToArray();
        _index = new USearchVectorIndex(new USearchOptions { Quantization = Quantization, ExpansionSearch = 64 });
        _index.AddRange([.. Enumerable.Range(1, Count).Select(i => (long)i)], _vectors);
    }

    [GlobalCleanup]
    public void Cleanup() => _index.Dispose();

    [Benchmark(Baseline = true)]
    public float ExactScan()
    {
        var best = float.NegativeInfinity;
        for (var i = 0; i < Count; i++)
        {
            best = Math.Max(best, TensorPrimitives.Dot(_vectors.AsSpan(i * Dimensions, Dimensions), _query));
        }

        return best;
    }

    [Benchmark]
    public int Graph() => _index.Search(_query, _hits);

    private static void Fill(Span<float> destination, Random random, float scale)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (float)(random.NextDouble() - 0.5) * scale;
        }
    }
}
