using Lineup.Core.Evaluation;

namespace Lineup.Core.Tests.Evaluation;

public sealed class DetCurveTests
{
    [Fact]
    public void Each_point_uses_the_lowest_observed_threshold_within_its_FMR_level()
    {
        double[] genuine = [0.9, 0.8, 0.7, 0.2];
        double[] impostor = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.55, 0.75];
        var curve = DetCurve.Compute(genuine, impostor);

        Assert.Equal(4, curve.Genuine);
        Assert.Equal(10, curve.Impostor);
        Assert.Equal(new DetPoint(0.1, 1.0, 0.0), curve.Points[0]);
        // FMR 10% allows one impostor (0.75): the next observed score above 0.55 is the genuine 0.7.
        Assert.Equal(new DetPoint(0.7, 0.1, 0.25), curve.Points[^1]);
        Assert.Equal(0.25, curve.AtFmr(0.1).Fnmr);
        Assert.Equal(0.0, curve.AtFmr(0.5).Fnmr);
        // Below the lowest measurable FMR the highest threshold is the answer.
        Assert.Equal(curve.Points[^1], curve.AtFmr(0.01));
    }

    [Fact]
    public void Points_agree_with_the_full_verification_curve_at_every_level()
    {
        var genuine = Gaussian.Sample(1, 400, 0.5, 0.15).Select(s => Math.Round(s, 2)).ToArray();
        var impostor = Gaussian.Sample(2, 2_000, 0, 0.15).Select(s => Math.Round(s, 2)).ToArray();
        var full = VerificationMetrics.Compute(genuine, impostor).Curve;
        var det = DetCurve.Compute(genuine, impostor, minFmr: 1e-5, pointsPerDecade: 10);

        Assert.Equal(1.0 / 2_000, det.Points.Min(p => p.Fmr), 9);
        for (var j = 0; j <= 33; j++)
        {
            var level = Math.Pow(10, -j / 10.0);
            var expected = VerificationMetrics.AtFar(full, level);
            var point = det.Points.Where(p => p.Fmr <= level).MinBy(p => p.Threshold);
            // Same error rates; VerificationMetrics may report a higher threshold where TAR is flat.
            Assert.Equal(expected.Frr, point.Fnmr, 12);
            Assert.True(point.Fmr <= level && point.Threshold <= expected.Threshold);
        }

        for (var i = 1; i < det.Points.Count; i++)
        {
            Assert.True(det.Points[i].Threshold > det.Points[i - 1].Threshold);
            Assert.True(det.Points[i].Fmr <= det.Points[i - 1].Fmr && det.Points[i].Fnmr >= det.Points[i - 1].Fnmr);
        }
    }

    [Fact]
    public void A_threshold_above_every_score_stays_finite()
    {
        var curve = DetCurve.Compute([0.1], [0.5, 0.9, 0.9]);
        Assert.True(double.IsFinite(curve.Points[^1].Threshold));
        Assert.Equal(0, curve.Points[^1].Fmr);
        Assert.Equal(1, curve.Points[^1].Fnmr);
    }

    [Fact]
    public void Empty_or_non_finite_scores_are_refused()
    {
        Assert.Throws<ArgumentException>(() => DetCurve.Compute([], [0.1]));
        Assert.Throws<ArgumentException>(() => DetCurve.Compute([0.1], [double.NaN]));
        Assert.Throws<ArgumentOutOfRangeException>(() => DetCurve.Compute([0.1], [0.2], minFmr: 0));
    }
}
