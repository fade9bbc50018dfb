using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lineup.Index.Ivf;

/// <summary>
/// k-means on the unit sphere (cosine): each centroid is the normalised sum of the rows nearest to it. Used to cut the
/// gallery into the inverted file's lists. Deterministic for a seed and thread count.
/// </summary>
internal static class SphericalKMeans
{
    /// <summary>
    /// Trains <paramref name="k"/> unit centroids on the first <paramref name="rows"/> unit rows of
    /// <paramref name="sample"/>. Starts from k distinct rows drawn with <paramref name="seed"/>; stops after
    /// <paramref name="iterations"/> rounds or when no row changes its centroid. A centroid left without rows is
    /// re-seeded with a random row, so all k stay in use.
    /// </summary>
    public static float[] Train(float[] sample, int rows, int dimensions, int k, int iterations, int seed, int threads, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        var d = dimensions;
        k = Math.Min(k, rows);
        var random = new Random(seed);
        var centroids = new float[k * d];
        var order = Enumerable.Range(0, rows).ToArray();
        random.Shuffle(order);
        for (var c = 0; c < k; c++)
        {
            sample.AsSpan(order[c] * d, d).CopyTo(centroids.AsSpan(c * d, d));
        }

        var assignment = new int[rows];
        Array.Fill(assignment, -1);
        threads = Math.Clamp(threads, 1, Math.Max(1, rows / 256));
        var sums = new float[threads][];
        var counts = new int[threads][];
        var changed = new int[threads];
        for (var iteration = 0; iteration < iterations; iteration++)
        {
            ct.ThrowIfCancellationRequested();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = ct }, t =>
            {
                var sum = sums[t] ??= new float[k * d];
                var count = counts[t] ??= new int[k];
                Array.Clear(sum);
                Array.Clear(count);
                var moved = 0;
                var (from, to) = Slice(rows, threads, t);
                for (var r = from; r < to; r++)
                {
                    var row = sample.AsSpan(r * d, d);
                    var nearest = Nearest(centroids, k, d, row);
                    moved += nearest != assignment[r] ? 1 : 0;
                    assignment[r] = nearest;
                    TensorPrimitives.Add(sum.AsSpan(nearest * d, d), row, sum.AsSpan(nearest * d, d));
                    count[nearest]++;
                }

                changed[t] = moved;
            });

            if (changed.Sum() == 0)
            {
                break;
            }

            for (var t = 1; t < threads; t++)
            {
                TensorPrimitives.Add(sums[0], sums[t], sums[0]);
                TensorPrimitives.Add(counts[0], counts[t], counts[0]);
            }

            for (var c = 0; c < k; c++)
            {
                var target = centroids.AsSpan(c * d, d);
                var sum = sums[0].AsSpan(c * d, d);
                var norm = TensorPrimitives.Norm(sum);
                if (counts[0][c] == 0 || norm == 0)
                {
                    sample.AsSpan(random.Next(rows) * d, d).CopyTo(target);
                }
                else
                {
                    TensorPrimitives.Divide(sum, norm, target);
                }
            }
        }

        return centroids;
    }

    /// <summary>Index of the centroid with the largest dot product with <paramref name="vector"/> (ties: the lower index).</summary>
    /// <remarks>
    /// The build's inner loop (every vector against every centroid). With 512-bit vectors it scores four centroids per
    /// pass over the vector, so each of its loads feeds four fused multiply-adds instead of one.
    /// </remarks>
    public static int Nearest(ReadOnlySpan<float> centroids, int k, int dimensions, ReadOnlySpan<float> vector)
    {
        var best = 0;
        var bestScore = float.NegativeInfinity;
        var c = 0;
        if (Vector512.IsHardwareAccelerated && dimensions % Vector512<float>.Count == 0)
        {
            ref var v = ref MemoryMarshal.GetReference(vector);
            ref var first = ref MemoryMarshal.GetReference(centroids);
            for (; c + 4 <= k; c += 4)
            {
                ref var r0 = ref Unsafe.Add(ref first, c * dimensions);
                ref var r1 = ref Unsafe.Add(ref r0, dimensions);
                ref var r2 = ref Unsafe.Add(ref r1, dimensions);
                ref var r3 = ref Unsafe.Add(ref r2, dimensions);
                var a0 = Vector512<float>.Zero;
                var a1 = Vector512<float>.Zero;
                var a2 = Vector512<float>.Zero;
                var a3 = Vector512<float>.Zero;
                for (nuint i = 0; i < (nuint)dimensions; i += (nuint)Vector512<float>.Count)
                {
                    var x = Vector512.LoadUnsafe(ref v, i);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref r0, i), x, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref r1, i), x, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref r2, i), x, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref r3, i), x, a3);
                }

                Consider(c, Vector512.Sum(a0));
                Consider(c + 1, Vector512.Sum(a1));
                Consider(c + 2, Vector512.Sum(a2));
                Consider(c + 3, Vector512.Sum(a3));
            }
        }

        for (; c < k; c++)
        {
            Consider(c, TensorPrimitives.Dot(centroids.Slice(c * dimensions, dimensions), vector));
        }

        return best;

        void Consider(int centroid, float score)
        {
            if (score > bestScore)
            {
                bestScore = score;
                best = centroid;
            }
        }
    }

    /// <summary>The plain form of <see cref="Nearest"/>, for tests.</summary>
    internal static int NearestScalar(ReadOnlySpan<float> centroids, int k, int dimensions, ReadOnlySpan<float> vector)
    {
        var best = 0;
        var bestScore = float.NegativeInfinity;
        for (var c = 0; c < k; c++)
        {
            var score = TensorPrimitives.Dot(centroids.Slice(c * dimensions, dimensions), vector);
            if (score > bestScore)
            {
                bestScore = score;
                best = c;
            }
        }

        return best;
    }

    /// <summary>The rows of part <paramref name="part"/> when <paramref name="total"/> rows are cut into <paramref name="parts"/> near-equal parts.</summary>
    public static (int From, int To) Slice(int total, int parts, int part) =>
        ((int)((long)total * part / parts), (int)((long)total * (part + 1) / parts));
}
