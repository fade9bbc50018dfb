using System.Numerics.Tensors;
using Lineup.Core.Evaluation;

namespace Lineup.Core.Tests.Evaluation;

public sealed class SyntheticDistractorsTests
{
    private const int Dimension = 512;

    [Fact]
    public void Synthetic_cosines_to_real_faces_match_those_of_the_generating_distribution()
    {
        var truth = new KnownFaces(seed: 7);
        var basis = truth.Sample(1_500);
        var heldOut = truth.Sample(600);
        var distractors = SyntheticDistractors.Fit(basis, heldOut, Dimension, CrossCosines(heldOut, 600), seed: 3);

        // The real faces are the generating Gaussian, normalised: the spread needs no correction.
        Assert.InRange(distractors.Alpha, 0.85, 1.15);
        var report = distractors.Report;
        Assert.True(report.KsDistance < 0.02, $"KS {report.KsDistance}");
        Assert.InRange(report.SyntheticMean - report.RealMean, -0.005, 0.005);
        Assert.All(report.Quantiles, q => Assert.InRange(q.Synthetic - q.Real, -0.01, 0.01));
        Assert.Equal(1_500, report.BasisFaces);
        Assert.Equal(179_700, report.RealScores);

        // Fresh faces (in neither set) against synthetic vectors and against new draws from the truth.
        var probes = truth.Sample(300);
        var synthetic = Cosines(distractors.Generate(2_000), probes);
        var genuineDraws = Cosines(truth.Sample(2_000), probes);
        var ks = SyntheticDistractors.KolmogorovSmirnov(synthetic, genuineDraws);
        Assert.True(ks < 0.03, $"KS {ks}");
        Assert.InRange(Quantile(synthetic, 0.999) - Quantile(genuineDraws, 0.999), -0.01, 0.01);
    }

    [Fact]
    public void Alpha_follows_the_real_mean_and_an_unreachable_spread_shows_in_the_report()
    {
        var truth = new KnownFaces(seed: 8);
        var basis = truth.Sample(800);
        var heldOut = truth.Sample(400);
        var real = CrossCosines(heldOut, 400);
        var matched = SyntheticDistractors.Fit(basis, heldOut, Dimension, real);

        // Real impostors 0.02 lower: a larger random part (α) pulls the synthetic vectors away from the mean face.
        var shifted = SyntheticDistractors.Fit(basis, heldOut, Dimension, real.Select(s => s - 0.02).ToArray());
        Assert.True(shifted.Alpha > 1.3 * matched.Alpha, $"α {shifted.Alpha} vs {matched.Alpha}");
        Assert.InRange(shifted.Report.SyntheticMean - shifted.Report.RealMean, -0.005, 0.005);
        Assert.True(shifted.Report.KsDistance < 0.05, $"KS {shifted.Report.KsDistance}");

        // Normalisation bounds the spread a Gaussian with the real covariance can reach: a 1.5× wider real
        // distribution cannot be matched, and the report says so.
        var mean = real.Average();
        var widened = SyntheticDistractors.Fit(basis, heldOut, Dimension, real.Select(s => mean + (1.5 * (s - mean))).ToArray());
        Assert.True(widened.Report.KsDistance > 0.05, $"KS {widened.Report.KsDistance}");
        Assert.True(matched.Report.KsDistance < 0.02, $"KS {matched.Report.KsDistance}");
    }

    [Fact]
    public void Vectors_are_unit_length_and_deterministic_per_seed_and_index()
    {
        var truth = new KnownFaces(seed: 9);
        var basis = truth.Sample(300);
        var heldOut = truth.Sample(200);
        var real = CrossCosines(heldOut, 200);
        var a = SyntheticDistractors.Fit(basis, heldOut, Dimension, real, seed: 5);
        var b = SyntheticDistractors.Fit(basis, heldOut, Dimension, real, seed: 5);
        var c = SyntheticDistractors.Fit(basis, heldOut, Dimension, real, seed: 6);

        var vectors = a.Generate(40);
        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(1f, TensorPrimitives.Norm(vectors.AsSpan(i * Dimension, Dimension)), 4);
        }

        Assert.Equal(a.Alpha, b.Alpha);
        Assert.Equal(vectors, b.Generate(40));
        // Chunked generation gives the same vectors as one call.
        var chunk = new float[17 * Dimension];
        a.Generate(17, chunk, firstIndex: 20);
        Assert.Equal(vectors.AsSpan(20 * Dimension, 17 * Dimension).ToArray(), chunk);
        Assert.NotEqual(vectors, c.Generate(40));
        Assert.NotEqual(vectors.AsSpan(0, Dimension).ToArray(), vectors.AsSpan(Dimension, Dimension).ToArray());
    }

    [Fact]
    public void Kolmogorov_Smirnov_is_the_largest_gap_between_the_two_distribution_functions()
    {
        Assert.Equal(0, SyntheticDistractors.KolmogorovSmirnov([1, 2, 3], [1, 2, 3]));
        Assert.Equal(1, SyntheticDistractors.KolmogorovSmirnov([1, 2], [3, 4]));
        Assert.Equal(0.5, SyntheticDistractors.KolmogorovSmirnov([1, 2, 3, 4], [3, 4, 5, 6]));
    }

    [Fact]
    public void Invalid_inputs_are_refused()
    {
        var truth = new KnownFaces(seed: 10);
        var basis = truth.Sample(20);
        var scores = Enumerable.Range(0, 200).Select(i => i / 1000.0).ToArray();
        Assert.Throws<ArgumentException>(() => SyntheticDistractors.Fit(basis.AsSpan(1), basis, Dimension, scores));
        Assert.Throws<ArgumentException>(() => SyntheticDistractors.Fit(basis.AsSpan(0, Dimension), basis, Dimension, scores));
        Assert.Throws<ArgumentException>(() => SyntheticDistractors.Fit(basis, basis, Dimension, scores.Take(99).ToArray()));
        var nan = basis.ToArray();
        nan[5] = float.NaN;
        Assert.Throws<ArgumentException>(() => SyntheticDistractors.Fit(nan, basis, Dimension, scores));
        var distractors = SyntheticDistractors.Fit(basis, basis, Dimension, scores);
        Assert.Throws<ArgumentException>(() => distractors.Generate(2, new float[Dimension]));
    }

    private static double[] CrossCosines(float[] faces, int count)
    {
        var scores = new List<double>(count * (count - 1) / 2);
        for (var i = 0; i < count; i++)
        {
            for (var j = i + 1; j < count; j++)
            {
                scores.Add(TensorPrimitives.Dot(faces.AsSpan(i * Dimension, Dimension), faces.AsSpan(j * Dimension, Dimension)));
            }
        }

        return [.. scores];
    }

    private static double[] Cosines(float[] vectors, float[] faces)
    {
        var scores = new List<double>();
        for (var i = 0; i < vectors.Length / Dimension; i++)
        {
            for (var j = 0; j < faces.Length / Dimension; j++)
            {
                scores.Add(TensorPrimitives.Dot(vectors.AsSpan(i * Dimension, Dimension), faces.AsSpan(j * Dimension, Dimension)));
            }
        }

        scores.Sort();
        return [.. scores];
    }

    private static double Quantile(double[] sorted, double level) => sorted[(int)Math.Floor(level * (sorted.Length - 1))];

    /// <summary>
    /// A known face-like distribution: y ~ N(μ, Σ) with |μ|² = 0.06 and a decaying diagonal spectrum
    /// (λᵢ ∝ 1/(i + 20), in a random orthonormal-free basis: the axes), normalised to unit length.
    /// Cosines between two draws average about 0.06 with a standard deviation of about 0.05.
    /// </summary>
    private sealed class KnownFaces(int seed)
    {
        private readonly Random _random = new(seed);
        private readonly double[] _mean = Mean();
        private readonly double[] _sd = Spread();

        public float[] Sample(int count)
        {
            var faces = new float[count * Dimension];
            for (var i = 0; i < count; i++)
            {
                var face = faces.AsSpan(i * Dimension, Dimension);
                var normals = Gaussian.Sample(_random.Next(), Dimension, 0, 1);
                for (var d = 0; d < Dimension; d++)
                {
                    face[d] = (float)(_mean[d] + (_sd[d] * normals[d]));
                }

                TensorPrimitives.Divide(face, TensorPrimitives.Norm(face), face);
            }

            return faces;
        }

        private static double[] Mean()
        {
            var mean = new double[Dimension];
            for (var d = 0; d < Dimension; d++)
            {
                mean[d] = Math.Sqrt(0.06 / Dimension) * (d % 2 == 0 ? 1 : -1);
            }

            return mean;
        }

        private static double[] Spread()
        {
            var variance = Enumerable.Range(0, Dimension).Select(d => 1.0 / (d + 20)).ToArray();
            var scale = 0.94 / variance.Sum();
            return variance.Select(v => Math.Sqrt(v * scale)).ToArray();
        }
    }
}
