using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;

namespace Lineup.Bench;

/// <summary>One 512-d cosine of unit vectors: a scalar loop (baseline) against <see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>.</summary>
[MemoryDiagnoser]
public class SimilarityBenchmarks
{
    private readonly float[] _a = new float[512];
    private readonly float[] _b = new float[512];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        for (var i = 0; i < _a.Length; i++)
        {
            _a[i] = (float)random.NextDouble() - 0.5f;
            _b[i] = (float)random.NextDouble() - 0.5f;
        }

        TensorPrimitives.Divide(_a, TensorPrimitives.Norm(_a), _a);
        TensorPrimitives.Divide(_b, TensorPrimitives.Norm(_b), _b);
    }

    [Benchmark(Baseline = true)]
    public float ScalarLoop()
    {
        var sum = 0f;
        for (var i = 0; i < _a.Length; i++)
        {
            sum += _a[i] * _b[i];
        }

        return sum;
    }

    [Benchmark]
    public float Vectorised() => TensorPrimitives.Dot(_a, _b);
}
