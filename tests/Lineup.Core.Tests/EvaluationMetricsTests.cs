using Lineup.Core.Evaluation;

namespace Lineup.Core.Tests;

public sealed class EvaluationMetricsTests
{
    [Fact]
    public void Perfectly_separated_scores_give_AUC_1_and_EER_0()
    {
        var report = VerificationMetrics.Compute([0.9, 0.8, 0.7], [0.1, 0.2, 0.3, 0.4]);
        Assert.Equal(1.0, report.Auc, 6);
        Assert.Equal(0.0, report.Eer, 6);
        Assert.Equal(1.0, report.AtFar01Percent.Tar, 6);
        Assert.Equal(0.7, report.AtFar01Percent.Threshold, 6);
    }

    [Fact]
    public void AUC_counts_ties_as_half_and_matches_the_pairwise_definition()
    {
        double[] genuine = [0.5, 0.6, 0.2];
        double[] impostor = [0.5, 0.1, 0.6, 0.3];
        double wins = 0;
        foreach (var g in genuine)
        {
            foreach (var i in impostor)
            {
                wins += g > i ? 1 : g == i ? 0.5 : 0;
            }
        }

        var report = VerificationMetrics.Compute(genuine, impostor);
        Assert.Equal(wins / (genuine.Length * impostor.Length), report.Auc, 9);
    }

    [Fact]
    public void TAR_at_a_FAR_uses_the_lowest_threshold_that_keeps_impostors_at_or_under_it()
    {
        // 10 impostors: FAR 10% allows one impostor at or above the threshold.
        double[] impostor = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.55];
        double[] genuine = [0.5, 0.6, 0.7, 0.8];
        var curve = VerificationMetrics.Compute(genuine, impostor).Curve;
        var point = VerificationMetrics.AtFar(curve, 0.10);
        Assert.Equal(0.5, point.Threshold, 9);
        Assert.Equal(1.0, point.Tar, 9);
        Assert.Equal(0.75, VerificationMetrics.AtFar(curve, 0.0).Tar, 9);
    }

    [Fact]
    public void Empty_inputs_are_refused()
    {
        Assert.Throws<ArgumentException>(() => VerificationMetrics.Compute([], [0.1]));
    }

    [Fact]
    public void CMC_is_cumulative_and_misses_never_count()
    {
        var report = IdentificationMetrics.FromMateRanks([1, 2, 0, 11, 1], maxRank: 20);
        Assert.Equal(0.4, report.Rank1Rate, 9);
        Assert.Equal(0.6, report.Rank10Rate, 9);
        Assert.Equal(0.6, report.Cmc[1], 9);
        Assert.Equal(0.8, report.Cmc[10], 9);
        Assert.Equal(0.8, report.Cmc[19], 9);
    }
}
