using System.Buffers;
using System.Numerics.Tensors;

namespace Lineup.Core.Evaluation;

/// <summary>A quantile of the real impostor cosines next to the same quantile of synthetic-to-real cosines.</summary>
public readonly record struct DistractorQuantile(double Level, double Real, double Synthetic);

/// <summary>
/// How well the synthetic distractors' cosines to held-out real faces match the real impostor cosines.
/// </summary>
/// <param name="Alpha">The fitted spread (1 = the real covariance).</param>
/// <param name="KsDistance">Two-sample Kolmogorov–Smirnov distance: the largest gap between the two cumulative distributions.</param>
/// <param name="RealScores">Real impostor cosines compared.</param>
/// <param name="SyntheticScores">Synthetic-to-real cosines compared.</param>
public sealed record DistractorFitReport(
    double Alpha,
    double KsDistance,
    double RealMean,
    double SyntheticMean,
    IReadOnlyList<DistractorQuantile> Quantiles,
    int BasisFaces,
    int HeldOutFaces,
    int RealScores,
    int SyntheticScores);

/// <summary>
/// Synthetic distractor embeddings for gallery-size experiments, drawn from the real impostor distribution:
/// v = normalise(μ + α · Xcᵀw / √(n − 1)) with w ~ N(0, Iₙ), where μ is the mean and Xc the centred matrix
/// of n real unit embeddings (the basis), so μ + Xcᵀw / √(n − 1) is Gaussian with the real mean and
/// covariance without an eigen-decomposition. α is fitted (<see cref="Fit"/>) so that the cosines between
/// synthetic vectors and held-out real faces match the real impostor cosines in their mean and their 99th and
/// 99.9th percentiles; <see cref="Report"/> gives the fit's quality (KS distance, quantiles side by side).
/// <para>
/// What α can do: after normalisation, cos(v, x) = (μ·x + α u·x) / |μ + αu|, so α mainly trades the shared
/// mean direction against the random part (larger α, lower mean cosine); the spread of u·x / |u| is fixed by
/// the covariance's shape, and a real distribution much wider than the Gaussian's cannot be reached (the KS
/// distance then says so). On normalised Gaussian faces (d = 512, 1,200 basis and 600 held-out faces) the fit
/// gives α = 0.99, KS 0.005 and the 99.9th percentile within 0.001.
/// </para>
/// <para>
/// Probes searched against the synthetic distractors should not be basis faces: with n not much larger than
/// the dimension the sample covariance over-fits its own rows (a basis face's cosines to the synthetic
/// vectors spread wider than a new face's), which is why α is fitted on held-out faces. With the evaluation
/// set split by identity, use one half as the basis and search with the other.
/// </para>
/// <para>
/// Deterministic: vector i (counted from 0 over all calls) depends only on the seed, the basis and i, through
/// a counter-based generator (SplitMix64 + Box–Muller), so chunked or parallel generation gives the same
/// vectors; an instance is immutable and <see cref="Generate(int, Span{float}, long)"/> may run on several
/// threads at once. Cost: rows × dimension multiply-adds per vector, about 60 µs of one core with 1,200 basis
/// rows (6 s per 100,000 vectors).
/// </para>
/// </summary>
public sealed class SyntheticDistractors
{
    /// <summary>More basis rows than this are subsampled (generation costs rows × dimension per vector).</summary>
    public const int DefaultMaxBasis = 2048;

    private const ulong GenerateStream = 0;
    private const ulong FitStream = 1;
    private const int Block = 16;

    // Fit sample: FitVectors synthetic vectors against at most FitRealFaces held-out faces (320,000 cosines,
    // 320 above the 99.9th percentile).
    private const int FitVectors = 800;
    private const int FitRealFaces = 400;

    private static readonly double[] s_reportLevels = [0.01, 0.1, 0.5, 0.9, 0.99, 0.999];

    private readonly float[] _mean;
    private readonly float[] _basis;
    private readonly int _rows;
    private readonly ulong _key;

    private SyntheticDistractors(float[] mean, float[] basis, int rows, int seed, double alpha, DistractorFitReport report)
    {
        _mean = mean;
        _basis = basis;
        _rows = rows;
        Seed = seed;
        _key = Key(seed);
        Alpha = alpha;
        Report = report;
    }

    public int Dimension => _mean.Length;

    public int Seed { get; }

    /// <summary>The spread relative to the real covariance.</summary>
    public double Alpha { get; }

    public DistractorFitReport Report { get; }

    /// <summary>
    /// Fits the generator.
    /// </summary>
    /// <param name="basis">Real unit embeddings, row-major (rows × <paramref name="dimension"/>), at least 2 rows:
    /// their mean and covariance define the Gaussian. More than <paramref name="maxBasis"/> rows are subsampled.</param>
    /// <param name="heldOut">Other real unit embeddings (e.g. the faces of the other identity half): α is fitted on
    /// the synthetic vectors' cosines to these.</param>
    /// <param name="impostorScores">Real impostor cosines (different identities), at least 100; ideally among held-out faces.</param>
    /// <exception cref="ArgumentException">Wrong lengths, too few rows or scores, or non-finite values.</exception>
    public static SyntheticDistractors Fit(
        ReadOnlySpan<float> basis, ReadOnlySpan<float> heldOut, int dimension, IReadOnlyList<double> impostorScores,
        int seed = 1, int maxBasis = DefaultMaxBasis)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBasis, 2);
        var n = Rows(basis, dimension, nameof(basis), minimum: 2);
        var heldOutRows = Rows(heldOut, dimension, nameof(heldOut), minimum: 1);
        ArgumentNullException.ThrowIfNull(impostorScores);
        if (impostorScores.Count < 100)
        {
            throw new ArgumentException($"At least 100 real impostor scores are needed; got {impostorScores.Count}.", nameof(impostorScores));
        }

        var real = SortedScores.Sort(impostorScores, nameof(impostorScores));

        // μ over every basis row; the covariance over at most maxBasis of them (a seeded sample).
        var mean = new float[dimension];
        for (var i = 0; i < n; i++)
        {
            TensorPrimitives.Add(mean, basis.Slice(i * dimension, dimension), mean);
        }

        TensorPrimitives.Divide(mean, n, mean);
        var rows = Math.Min(n, maxBasis);
        var chosen = Enumerable.Range(0, n).ToArray();
        if (rows < n)
        {
            new Random(seed).Shuffle(chosen);
        }

        // Scaled so that Σ w_i b_i has the sample covariance: divisor n − 1 when μ comes from the same rows.
        var scale = (float)(1 / Math.Sqrt(rows == n ? n - 1 : rows));
        var scaled = new float[rows * dimension];
        for (var r = 0; r < rows; r++)
        {
            var row = scaled.AsSpan(r * dimension, dimension);
            TensorPrimitives.Subtract(basis.Slice(chosen[r] * dimension, dimension), mean, row);
            TensorPrimitives.Multiply(row, scale, row);
        }

        var key = Key(seed);
        var (alpha, report) = FitAlpha(mean, scaled, rows, key, heldOut, heldOutRows, real, n);
        return new SyntheticDistractors(mean, scaled, rows, seed, alpha, report);
    }

    /// <summary>
    /// Writes <paramref name="count"/> unit vectors, row-major, into <paramref name="destination"/> (at least
    /// count × <see cref="Dimension"/> floats): vectors <paramref name="firstIndex"/> … firstIndex + count − 1.
    /// About rows × dimension multiply-adds per vector.
    /// </summary>
    public void Generate(int count, Span<float> destination, long firstIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(firstIndex);
        var d = Dimension;
        if (destination.Length < (long)count * d)
        {
            throw new ArgumentException($"The destination holds {destination.Length} floats; {count} vectors need {(long)count * d}.", nameof(destination));
        }

        Deviations(_basis, _rows, d, _key, count, destination, firstIndex, GenerateStream, (float)Alpha);
        for (var i = 0; i < count; i++)
        {
            var v = destination.Slice(i * d, d);
            TensorPrimitives.Add(v, _mean, v);
            TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
        }
    }

    /// <summary>A new array of <paramref name="count"/> unit vectors (see <see cref="Generate(int, Span{float}, long)"/>).</summary>
    public float[] Generate(int count, long firstIndex = 0)
    {
        var vectors = new float[count * Dimension];
        Generate(count, vectors, firstIndex);
        return vectors;
    }

    /// <summary>
    /// Two-sample Kolmogorov–Smirnov distance between two sorted samples: max over x of |F₁(x) − F₂(x)|.
    /// </summary>
    public static double KolmogorovSmirnov(ReadOnlySpan<double> sortedA, ReadOnlySpan<double> sortedB)
    {
        if (sortedA.IsEmpty || sortedB.IsEmpty)
        {
            throw new ArgumentException("Both samples need at least one value.");
        }

        int i = 0, j = 0;
        double distance = 0;
        while (i < sortedA.Length && j < sortedB.Length)
        {
            var x = Math.Min(sortedA[i], sortedB[j]);
            while (i < sortedA.Length && sortedA[i] <= x)
            {
                i++;
            }

            while (j < sortedB.Length && sortedB[j] <= x)
            {
                j++;
            }

            distance = Math.Max(distance, Math.Abs((i / (double)sortedA.Length) - (j / (double)sortedB.Length)));
        }

        return distance;
    }

    /// <summary>
    /// α by golden-section search on log α in [0.1, 10], minimising the squared differences of the mean and the
    /// 99th and 99.9th percentiles (in units of the real scores' standard deviation). The synthetic cosines are
    /// exact functions of α given fixed w (common random numbers): with u = Xcᵀw / √(n − 1) and a real face x,
    /// cos = (μ·x + α u·x) / √(|μ|² + 2α μ·u + α²|u|²), so each step costs no new dot products.
    /// </summary>
    private static (double Alpha, DistractorFitReport Report) FitAlpha(
        float[] mean, float[] basis, int rows, ulong key, ReadOnlySpan<float> heldOut, int heldOutRows, double[] real, int basisFaces)
    {
        var d = mean.Length;
        var faces = Math.Min(heldOutRows, FitRealFaces);
        var u = new float[FitVectors * d];
        Deviations(basis, rows, d, key, FitVectors, u, 0, FitStream, 1);
        var muDotX = new double[faces];
        var uDotX = new double[FitVectors * faces];
        for (var f = 0; f < faces; f++)
        {
            var x = heldOut.Slice(f * d, d);
            muDotX[f] = TensorPrimitives.Dot(mean, x);
            for (var k = 0; k < FitVectors; k++)
            {
                uDotX[(k * faces) + f] = TensorPrimitives.Dot(u.AsSpan(k * d, d), x);
            }
        }

        var muDotU = new double[FitVectors];
        var uNorm2 = new double[FitVectors];
        for (var k = 0; k < FitVectors; k++)
        {
            muDotU[k] = TensorPrimitives.Dot(mean, u.AsSpan(k * d, d));
            uNorm2[k] = TensorPrimitives.SumOfSquares(u.AsSpan(k * d, d));
        }

        var muNorm2 = TensorPrimitives.SumOfSquares(mean);
        var cosines = new double[FitVectors * faces];
        double Cosines(double alpha)
        {
            double sum = 0;
            for (var k = 0; k < FitVectors; k++)
            {
                var norm = Math.Sqrt(muNorm2 + (2 * alpha * muDotU[k]) + (alpha * alpha * uNorm2[k]));
                for (var f = 0; f < faces; f++)
                {
                    var cosine = (muDotX[f] + (alpha * uDotX[(k * faces) + f])) / norm;
                    cosines[(k * faces) + f] = cosine;
                    sum += cosine;
                }
            }

            return sum / cosines.Length;
        }

        var realMean = real.Average();
        var realSd = Math.Sqrt(real.Average(s => (s - realMean) * (s - realMean)));
        var spread = realSd > 0 ? realSd : 1;
        var (q99, q999) = (Quantile(real, 0.99), Quantile(real, 0.999));
        var (rank99, rank999) = (Rank(cosines.Length, 0.99), Rank(cosines.Length, 0.999));
        double Loss(double logAlpha)
        {
            var dm = (Cosines(Math.Exp(logAlpha)) - realMean) / spread;
            // Selection instead of a sort: 0.99 first, then 0.999 among the values above it.
            var d99 = (Select(cosines, 0, cosines.Length - 1, rank99) - q99) / spread;
            var d999 = (Select(cosines, rank99, cosines.Length - 1, rank999) - q999) / spread;
            return (dm * dm) + (d99 * d99) + (d999 * d999);
        }

        // 30 golden-section steps narrow log α to 1e-6 of the bracket.
        double lo = Math.Log(0.1), hi = Math.Log(10);
        var ratio = (Math.Sqrt(5) - 1) / 2;
        var a = hi - (ratio * (hi - lo));
        var b = lo + (ratio * (hi - lo));
        var (la, lb) = (Loss(a), Loss(b));
        for (var iteration = 0; iteration < 30; iteration++)
        {
            if (la <= lb)
            {
                (hi, b, lb) = (b, a, la);
                a = hi - (ratio * (hi - lo));
                la = Loss(a);
            }
            else
            {
                (lo, a, la) = (a, b, lb);
                b = lo + (ratio * (hi - lo));
                lb = Loss(b);
            }
        }

        var alpha = Math.Exp((lo + hi) / 2);
        Cosines(alpha);
        Array.Sort(cosines);
        var report = new DistractorFitReport(
            alpha,
            KolmogorovSmirnov(real, cosines),
            realMean,
            cosines.Average(),
            s_reportLevels.Select(level => new DistractorQuantile(level, Quantile(real, level), Quantile(cosines, level))).ToArray(),
            basisFaces,
            heldOutRows,
            real.Length,
            cosines.Length);
        return (alpha, report);
    }

    /// <summary>
    /// Writes α · Σᵢ wᵢ bᵢ for vectors firstIndex … firstIndex + count − 1 over the scaled basis rows bᵢ. Blocks of
    /// 16 vectors share each basis row while it is in cache (the basis is rows × 2 KB, more than L2 holds).
    /// </summary>
    private static void Deviations(
        float[] basis, int rows, int d, ulong key, int count, Span<float> destination, long firstIndex, ulong stream, float alpha)
    {
        var weights = ArrayPool<float>.Shared.Rent(Block * rows);
        try
        {
            for (var start = 0; start < count; start += Block)
            {
                var size = Math.Min(Block, count - start);
                for (var j = 0; j < size; j++)
                {
                    var w = weights.AsSpan(j * rows, rows);
                    FillNormals(w, key, stream, (ulong)(firstIndex + start + j));
                    TensorPrimitives.Multiply(w, alpha, w);
                }

                var block = destination.Slice(start * d, size * d);
                block.Clear();
                for (var r = 0; r < rows; r++)
                {
                    var row = basis.AsSpan(r * d, d);
                    for (var j = 0; j < size; j++)
                    {
                        var v = block.Slice(j * d, d);
                        TensorPrimitives.MultiplyAdd(row, weights[(j * rows) + r], v, v);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(weights);
        }
    }

    /// <summary>Standard normals for one vector: SplitMix64 from a state keyed by (seed, stream, index), Box–Muller.</summary>
    private static void FillNormals(Span<float> destination, ulong key, ulong stream, ulong index)
    {
        var state = Mix(key ^ Mix((index * 2) + stream));
        const double unit = 1.0 / (1UL << 53);
        for (var i = 0; i < destination.Length; i += 2)
        {
            state += 0x9E3779B97F4A7C15UL;
            var u1 = ((Mix(state) >> 11) + 1) * unit;
            state += 0x9E3779B97F4A7C15UL;
            var u2 = (Mix(state) >> 11) * unit;
            var radius = Math.Sqrt(-2 * Math.Log(u1));
            var (sin, cos) = Math.SinCos(2 * Math.PI * u2);
            destination[i] = (float)(radius * cos);
            if (i + 1 < destination.Length)
            {
                destination[i + 1] = (float)(radius * sin);
            }
        }
    }

    private static ulong Key(int seed) => Mix((ulong)(uint)seed ^ 0x5DEECE66DUL);

    /// <summary>SplitMix64's finaliser (Steele, Lea and Flood 2014).</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The value at rank ⌊level · (n − 1)⌋ of a sorted sample.</summary>
    private static double Quantile(double[] sorted, double level) => sorted[Rank(sorted.Length, level)];

    private static int Rank(int count, double level) => (int)Math.Floor(level * (count - 1));

    /// <summary>
    /// Quickselect (Hoare partition, middle pivot): reorders values[left..right] so that values[k] is the value
    /// a sort would put there, everything before it ≤ and everything after it ≥; returns values[k].
    /// </summary>
    private static double Select(double[] values, int left, int right, int k)
    {
        while (left < right)
        {
            var pivot = values[left + ((right - left) / 2)];
            int i = left, j = right;
            while (i <= j)
            {
                while (values[i] < pivot)
                {
                    i++;
                }

                while (values[j] > pivot)
                {
                    j--;
                }

                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }

            if (k <= j)
            {
                right = j;
            }
            else if (k >= i)
            {
                left = i;
            }
            else
            {
                break;
            }
        }

        return values[k];
    }

    private static int Rows(ReadOnlySpan<float> embeddings, int dimension, string name, int minimum)
    {
        if (embeddings.Length % dimension != 0 || embeddings.Length / dimension < minimum)
        {
            throw new ArgumentException(
                $"Expected at least {minimum} rows of {dimension} floats; got {embeddings.Length} floats.", name);
        }

        if (!TensorPrimitives.IsFiniteAll(embeddings))
        {
            throw new ArgumentException("Embeddings must be finite.", name);
        }

        return embeddings.Length / dimension;
    }
}
