namespace Lineup.Core.Numerics;

/// <summary>
/// The principal directions of a sample of vectors: the eigenvectors of its second-moment matrix (not centred, so the
/// mean's direction is one of them and dot products between vectors in their span are kept), largest first. The
/// inverted-file index codes vectors in them; the catalog stores embeddings as coefficients of them
/// (<see cref="EmbeddingBasis"/>).
/// </summary>
public static class PrincipalComponents
{
    /// <summary>
    /// The eigenvalues (largest first; each is the sample's summed squared coefficient along its direction) and the unit
    /// eigenvectors as the rows of a row-major <paramref name="dimensions"/> × <paramref name="dimensions"/> matrix, of
    /// the first <paramref name="rows"/> rows of the row-major <paramref name="sample"/>.
    /// </summary>
    public static (double[] Values, double[] Vectors) Of(ReadOnlySpan<float> sample, int rows, int dimensions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(sample.Length, (long)rows * dimensions);
        var d = dimensions;
        var moment = new double[d * d];
        var row = new double[d];
        for (var r = 0; r < rows; r++)
        {
            for (var i = 0; i < d; i++)
            {
                row[i] = sample[(r * d) + i];
            }

            for (var i = 0; i < d; i++)
            {
                var x = row[i];
                if (x == 0)
                {
                    continue;
                }

                var target = moment.AsSpan(i * d, d);
                for (var j = i; j < d; j++)
                {
                    target[j] += x * row[j];
                }
            }
        }

        for (var i = 0; i < d; i++)
        {
            for (var j = 0; j < i; j++)
            {
                moment[(i * d) + j] = moment[(j * d) + i];
            }
        }

        return SymmetricEigen.Decompose(moment, d);
    }

    /// <summary>
    /// How many leading components of <paramref name="values"/> (largest first) keep all but
    /// <paramref name="droppedEnergy"/> of their sum (negative values, rounding noise, count as zero).
    /// </summary>
    public static int Keeping(ReadOnlySpan<double> values, double droppedEnergy)
    {
        var total = 0.0;
        foreach (var v in values)
        {
            total += Math.Max(v, 0);
        }

        var kept = 0.0;
        var m = 0;
        while (m < values.Length && (total == 0 || kept < (1 - droppedEnergy) * total))
        {
            kept += Math.Max(values[m], 0);
            m++;
        }

        return m;
    }
}
