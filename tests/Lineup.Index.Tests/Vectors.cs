using Lineup.Core.Numerics;

namespace Lineup.Index.Tests;

/// <summary>Deterministic synthetic embeddings.</summary>
internal static class Vectors
{
    public static float[] Unit(Random random, int dimensions)
    {
        var v = new float[dimensions];
        for (var i = 0; i < v.Length; i++)
        {
            v[i] = Gaussian(random);
        }

        VectorMath.Normalize(v);
        return v;
    }

    /// <summary>
    /// <paramref name="count"/> unit vectors around <paramref name="clusters"/> random centres; with noise 1 a point's
    /// cosine to its centre is about 0.7, so a cluster is a crowd of near-ties, the hard case for a graph index.
    /// </summary>
    public static float[] Clustered(Random random, int count, int clusters, int dimensions, float noise = 1f)
    {
        var centres = Enumerable.Range(0, clusters).Select(_ => Unit(random, dimensions)).ToArray();
        var data = new float[count * dimensions];
        for (var i = 0; i < count; i++)
        {
            Near(random, centres[i % clusters], noise).CopyTo(data.AsSpan(i * dimensions, dimensions));
        }

        return data;
    }

    public static float[] Near(Random random, ReadOnlySpan<float> centre, float noise)
    {
        var v = new float[centre.Length];
        var scale = noise / MathF.Sqrt(centre.Length);
        for (var d = 0; d < v.Length; d++)
        {
            v[d] = centre[d] + (scale * Gaussian(random));
        }

        VectorMath.Normalize(v);
        return v;
    }

    public static ReadOnlySpan<float> Row(float[] data, int i, int dimensions) => data.AsSpan(i * dimensions, dimensions);

    private static float Gaussian(Random random)
    {
        // Box-Muller; 1 - u keeps the log argument in (0, 1].
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}

