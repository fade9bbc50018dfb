namespace Lineup.Core.Numerics;

/// <summary>
/// Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations (Numerical Recipes §11.1): slow for
/// large matrices (about n³ per sweep) but simple and unconditionally stable, and it runs once per fit on at most 512 × 512
/// (<see cref="PrincipalComponents"/>: the inverted file's training, the catalog's embedding basis).
/// </summary>
public static class SymmetricEigen
{
    /// <summary>
    /// Decomposes the symmetric <paramref name="n"/> × <paramref name="n"/> row-major <paramref name="matrix"/> (its
    /// contents are destroyed). Returns the eigenvalues largest first and the unit eigenvectors as the rows of a
    /// row-major matrix, in the same order.
    /// </summary>
    public static (double[] Values, double[] Vectors) Decompose(double[] matrix, int n, int maxSweeps = 60)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ArgumentOutOfRangeException.ThrowIfNotEqual(matrix.Length, n * n);
        var a = matrix;

        // Rows of w are the eigenvectors being accumulated (the transpose of NR's V).
        var w = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            w[(i * n) + i] = 1;
        }

        var scale = 0.0;
        for (var i = 0; i < n * n; i++)
        {
            scale += a[i] * a[i];
        }

        for (var sweep = 0; sweep < maxSweeps; sweep++)
        {
            var off = 0.0;
            for (var p = 0; p < n; p++)
            {
                for (var q = p + 1; q < n; q++)
                {
                    off += a[(p * n) + q] * a[(p * n) + q];
                }
            }

            if (off <= 1e-24 * scale || off == 0)
            {
                break;
            }

            for (var p = 0; p < n; p++)
            {
                for (var q = p + 1; q < n; q++)
                {
                    var apq = a[(p * n) + q];
                    if (Math.Abs(apq) < 1e-300)
                    {
                        continue;
                    }

                    var theta = 0.5 * (a[(q * n) + q] - a[(p * n) + p]) / apq;
                    var t = 1 / (Math.Abs(theta) + Math.Sqrt((theta * theta) + 1));
                    if (theta < 0)
                    {
                        t = -t;
                    }

                    var c = 1 / Math.Sqrt((t * t) + 1);
                    var s = t * c;
                    a[(p * n) + p] -= t * apq;
                    a[(q * n) + q] += t * apq;
                    a[(p * n) + q] = 0;
                    a[(q * n) + p] = 0;
                    for (var r = 0; r < n; r++)
                    {
                        if (r == p || r == q)
                        {
                            continue;
                        }

                        var arp = a[(r * n) + p];
                        var arq = a[(r * n) + q];
                        var np = (c * arp) - (s * arq);
                        var nq = (s * arp) + (c * arq);
                        a[(r * n) + p] = np;
                        a[(p * n) + r] = np;
                        a[(r * n) + q] = nq;
                        a[(q * n) + r] = nq;
                    }

                    var wp = w.AsSpan(p * n, n);
                    var wq = w.AsSpan(q * n, n);
                    for (var k = 0; k < n; k++)
                    {
                        var x = wp[k];
                        var y = wq[k];
                        wp[k] = (c * x) - (s * y);
                        wq[k] = (s * x) + (c * y);
                    }
                }
            }
        }

        var order = Enumerable.Range(0, n).OrderByDescending(i => a[(i * n) + i]).ToArray();
        var values = new double[n];
        var vectors = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            values[i] = a[(order[i] * n) + order[i]];
            w.AsSpan(order[i] * n, n).CopyTo(vectors.AsSpan(i * n, n));
        }

        return (values, vectors);
    }
}
