using System.Text.Json;
using Lineup.Core.Evaluation;

namespace Lineup.Core.Tests.Evaluation;

public sealed class ScoreCalibrationTests
{
    // Cosine-like scores: impostors N(0, 0.1), genuine N(0.6, 0.1).
    private const double ImpostorSd = 0.1;
    private const double GenuineMean = 0.6;
    private const double GenuineSd = 0.1;
    private static readonly DateTimeOffset s_date = new(2025, 6, 1, 12, 30, 0, TimeSpan.FromHours(2));

    [Fact]
    public void Fitted_FMR_is_within_a_factor_of_2_of_the_true_normal_tail_down_to_1e_minus_5()
    {
        var impostor = Gaussian.Sample(11, 1_000_000, 0, ImpostorSd);
        var genuine = Gaussian.Sample(12, 20_000, GenuineMean, GenuineSd);
        var calibration = ScoreCalibration.Fit(genuine, impostor, "normal", s_date);

        Assert.Equal(ScoreCalibration.DefaultTailSize, calibration.Tail.Exceedances);
        Assert.Equal(0, calibration.Tail.Shape);
        for (var j = 1; j <= 20; j++)
        {
            var target = Math.Pow(10, -j / 4.0);
            var threshold = calibration.SimilarityAtFmr(target);
            var truth = Gaussian.UpperTail(threshold / ImpostorSd);
            Assert.InRange(target / truth, 0.5, 2.0);
        }

        for (var s = -0.3; Gaussian.UpperTail(s / ImpostorSd) >= 1e-5; s += 0.01)
        {
            Assert.InRange(calibration.Fmr(s) / Gaussian.UpperTail(s / ImpostorSd), 0.5, 2.0);
            Assert.InRange(calibration.Tmr(s) - Gaussian.UpperTail((s - GenuineMean) / GenuineSd), -0.01, 0.01);
        }
    }

    [Fact]
    public void A_heavy_tail_is_fitted_with_a_positive_shape_and_extrapolated_within_a_factor_of_2()
    {
        // Generalised Pareto scores, ξ = 0.3: P(X ≥ x) = (1 + ξx/σ)^(−1/ξ), much heavier than exponential.
        const double xi = 0.3, sigma = 0.02;
        var random = new Random(5);
        var impostor = Enumerable.Range(0, 1_000_000)
            .Select(_ => sigma * (Math.Pow(1 - random.NextDouble(), -xi) - 1) / xi).ToArray();
        var calibration = ScoreCalibration.Fit([0.9, 0.95], impostor, "pareto", s_date);

        // ξ̂ from 200 exceedances has a standard error of about (1 + ξ)/√200 ≈ 0.09.
        Assert.InRange(calibration.Tail.Shape, 0.1, 0.6);
        for (var j = 1; j <= 10; j++)
        {
            var target = Math.Pow(10, -j / 2.0);
            var threshold = calibration.SimilarityAtFmr(target);
            var truth = Math.Pow(1 + (xi * threshold / sigma), -1 / xi);
            Assert.InRange(target / truth, 0.5, 2.0);
        }
    }

    [Fact]
    public void FMR_and_TMR_are_monotone_FMR_is_never_zero_and_the_threshold_inverts_FMR()
    {
        var calibration = Normal(seed: 21, impostors: 50_000, genuine: 2_000);
        double previousFmr = 1, previousTmr = 1;
        for (var s = -1.5; s <= 1.5; s += 0.0005)
        {
            var fmr = calibration.Fmr(s);
            var tmr = calibration.Tmr(s);
            Assert.True(fmr > 0 && fmr <= previousFmr, $"FMR {fmr} at {s} after {previousFmr}");
            Assert.True(tmr >= 0 && tmr <= previousTmr, $"TMR {tmr} at {s} after {previousTmr}");
            (previousFmr, previousTmr) = (fmr, tmr);
        }

        Assert.True(calibration.Fmr(1.0) > 0);
        Assert.True(calibration.Fmr(1e6) > 0);
        Assert.Equal(1.0, calibration.Fmr(-5));
        Assert.Equal(0.0, calibration.Tmr(5));

        var previousThreshold = double.NegativeInfinity;
        for (var j = 0; j <= 60; j++)
        {
            var target = Math.Pow(10, -j / 5.0);
            var threshold = calibration.SimilarityAtFmr(target);
            Assert.True(threshold >= previousThreshold);
            Assert.Equal(target, calibration.Fmr(threshold), target * 1e-9);
            previousThreshold = threshold;
        }
    }

    [Theory]
    [InlineData(100, 1)]
    [InlineData(860, 636)]
    [InlineData(20_000, 5)]
    [InlineData(1_000_000, 100_000)]
    public void The_knot_table_is_small_and_ordered_for_any_set_size(int impostors, int genuine)
    {
        var calibration = Normal(seed: impostors, impostors, genuine);
        Assert.InRange(calibration.Knots.Count, 2, ScoreCalibration.MaxKnots);
        for (var i = 1; i < calibration.Knots.Count; i++)
        {
            Assert.True(calibration.Knots[i].Similarity > calibration.Knots[i - 1].Similarity);
        }

        Assert.Equal(impostors, calibration.ImpostorPairs);
        Assert.Equal(genuine, calibration.GenuinePairs);
        Assert.Equal(Math.Clamp(impostors / 10, 10, ScoreCalibration.DefaultTailSize), calibration.Tail.Exceedances);
    }

    [Fact]
    public void A_calibration_survives_a_camelCase_JSON_round_trip_exactly()
    {
        var calibration = Normal(seed: 3, impostors: 20_000, genuine: 1_000);
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        var json = JsonSerializer.Serialize(calibration, options);
        var back = JsonSerializer.Deserialize<ScoreCalibration>(json, options)!;

        using (var document = JsonDocument.Parse(json))
        {
            var root = document.RootElement;
            Assert.Equal("normal", root.GetProperty("dataset").GetString());
            Assert.Equal(calibration.Knots.Count, root.GetProperty("knots").GetArrayLength());
            Assert.True(root.GetProperty("tail").GetProperty("exceedances").GetInt32() > 0);
            Assert.True(root.GetProperty("knots")[0].TryGetProperty("fmr", out _));
        }

        Assert.Equal(calibration.Dataset, back.Dataset);
        Assert.Equal(calibration.GenuinePairs, back.GenuinePairs);
        Assert.Equal(calibration.ImpostorPairs, back.ImpostorPairs);
        Assert.Equal(calibration.Date, back.Date);
        Assert.Equal(calibration.Tail, back.Tail);
        Assert.Equal(calibration.Knots, back.Knots);
        for (var s = -0.5; s <= 1; s += 0.01)
        {
            Assert.Equal(calibration.Fmr(s), back.Fmr(s));
            Assert.Equal(calibration.Tmr(s), back.Tmr(s));
        }
    }

    [Fact]
    public void Fitted_on_one_half_the_other_half_observes_the_predicted_FMR_at_1_and_0_1_percent()
    {
        var fit = ScoreCalibration.Fit(
            Gaussian.Sample(31, 3_000, GenuineMean, GenuineSd), Gaussian.Sample(32, 350_000, 0, ImpostorSd), "half A", s_date);
        var check = CalibrationCheck.Run(fit, Gaussian.Sample(33, 3_000, GenuineMean, GenuineSd), Gaussian.Sample(34, 350_000, 0, ImpostorSd));

        Assert.Equal([0.01, 0.001], check.Points.Select(p => p.TargetFmr));
        Assert.True(check.WithinFactor(2), string.Join("; ", check.Points));
        foreach (var point in check.Points)
        {
            Assert.Equal(point.TargetFmr, point.PredictedFmr, point.TargetFmr * 1e-9);
            Assert.Equal(350_000, point.Impostors);
            Assert.Equal(point.ObservedFmr * 350_000, point.Accepted, 6);
            // The threshold is the true normal quantile, and the held-out genuine acceptance matches the prediction.
            Assert.InRange(Gaussian.UpperTail(point.Threshold / ImpostorSd) / point.TargetFmr, 0.8, 1.25);
            Assert.InRange(point.ObservedTmr - point.PredictedTmr, -0.02, 0.02);
        }
    }

    [Fact]
    public void The_check_fails_a_calibration_from_a_narrower_impostor_distribution()
    {
        var fit = ScoreCalibration.Fit([0.7, 0.8], Gaussian.Sample(41, 100_000, 0, ImpostorSd), "narrow", s_date);
        var check = CalibrationCheck.Run(fit, [], Gaussian.Sample(42, 100_000, 0, 1.3 * ImpostorSd));

        Assert.False(check.WithinFactor(2));
        Assert.True(check.Points[1].Ratio > 2, $"ratio {check.Points[1].Ratio}");
        Assert.True(double.IsNaN(check.Points[0].ObservedTmr));
        Assert.Equal(0, check.Genuine);
    }

    [Fact]
    public void Expected_false_candidates_scale_the_FMR_by_the_gallery_size()
    {
        var calibration = Normal(seed: 4, impostors: 100_000, genuine: 100);
        var threshold = calibration.SimilarityAtFmr(1e-6);
        Assert.Equal(10.0, calibration.ExpectedFalseCandidates(threshold, 10_000_000), 1e-6);
        Assert.Equal(calibration.Fmr(0.2f) * 1234, calibration.ExpectedFalseCandidates(0.2f, 1234), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => calibration.ExpectedFalseCandidates(0.2, -1));
    }

    [Fact]
    public void Degenerate_inputs_are_refused_with_a_clear_message()
    {
        var impostor = Gaussian.Sample(1, 1_000, 0, ImpostorSd);
        var empty = Assert.Throws<ArgumentException>(() => ScoreCalibration.Fit([], impostor, "x", s_date));
        Assert.Contains("genuine", empty.Message, StringComparison.Ordinal);
        var few = Assert.Throws<ArgumentException>(() => ScoreCalibration.Fit([0.5], impostor.Take(99).ToArray(), "x", s_date));
        Assert.Contains("100 impostor", few.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => ScoreCalibration.Fit([0.5], [.. impostor, double.NaN], "x", s_date));
        Assert.Throws<ArgumentException>(() => ScoreCalibration.Fit([double.PositiveInfinity], impostor, "x", s_date));
        var flat = Assert.Throws<ArgumentException>(() => ScoreCalibration.Fit([0.5], Enumerable.Repeat(0.1, 1_000).ToArray(), "x", s_date));
        Assert.Contains("without spread", flat.Message, StringComparison.Ordinal);
        var flatTop = Assert.Throws<ArgumentException>(
            () => ScoreCalibration.Fit([0.5], [.. impostor.Take(800), .. Enumerable.Repeat(0.9, 200)], "x", s_date));
        Assert.Contains("without spread", flatTop.Message, StringComparison.Ordinal);

        var calibration = Normal(seed: 2, impostors: 1_000, genuine: 10);
        Assert.Throws<ArgumentOutOfRangeException>(() => calibration.SimilarityAtFmr(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => calibration.SimilarityAtFmr(1.5));
        Assert.Throws<ArgumentException>(() => calibration.Fmr(double.NaN));
    }

    [Fact]
    public void A_corrupt_knot_table_is_refused_when_loaded()
    {
        var calibration = Normal(seed: 5, impostors: 1_000, genuine: 10);
        var swapped = calibration.Knots.ToArray();
        (swapped[3], swapped[4]) = (swapped[4], swapped[3]);
        Assert.Throws<ArgumentException>(() => calibration with { Knots = swapped });
        Assert.Throws<ArgumentException>(() => calibration with { Tail = calibration.Tail with { Scale = 0 } });
        Assert.Throws<ArgumentException>(() => calibration with { Knots = [calibration.Knots[0]] });
    }

    private static ScoreCalibration Normal(int seed, int impostors, int genuine) =>
        ScoreCalibration.Fit(
            Gaussian.Sample(seed * 2, genuine, GenuineMean, GenuineSd), Gaussian.Sample((seed * 2) + 1, impostors, 0, ImpostorSd), "normal", s_date);
}

/// <summary>Seeded normal samples and the normal upper tail, for tests with a known answer.</summary>
internal static class Gaussian
{
    public static double[] Sample(int seed, int count, double mean, double sd)
    {
        var random = new Random(seed);
        var values = new double[count];
        for (var i = 0; i < count; i += 2)
        {
            var radius = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()));
            var angle = 2 * Math.PI * random.NextDouble();
            values[i] = mean + (sd * radius * Math.Cos(angle));
            if (i + 1 < count)
            {
                values[i + 1] = mean + (sd * radius * Math.Sin(angle));
            }
        }

        return values;
    }

    /// <summary>Q(z) = P(Z ≥ z) for a standard normal Z.</summary>
    public static double UpperTail(double z) => 0.5 * Erfc(z / Math.Sqrt(2));

    /// <summary>Complementary error function, relative error below 1.2e-7 everywhere (Numerical Recipes' erfcc, Chebyshev fit).</summary>
    private static double Erfc(double x)
    {
        var z = Math.Abs(x);
        var t = 1 / (1 + (0.5 * z));
        double[] coefficients = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];
        var polynomial = 0.0;
        for (var i = coefficients.Length - 1; i >= 0; i--)
        {
            polynomial = coefficients[i] + (t * polynomial);
        }

        var ans = t * Math.Exp((-z * z) + polynomial);
        return x >= 0 ? ans : 2 - ans;
    }
}
