using Lineup.Core.Evaluation;

namespace Lineup.Core.Tests.Network;

/// <summary>Pairwise and BCubed scores of small partitions worked out by hand.</summary>
public sealed class ClusteringMetricsTests
{
    private static ClusteringScore Score(string labels, string clusters) =>
        ClusteringMetrics.Score([.. labels.Zip(clusters, (l, c) => (l, c))]);

    [Fact]
    public void A_partition_equal_to_the_labels_scores_one_everywhere()
    {
        var score = Score("AABBBC", "xxyyyz");
        Assert.Equal((6, 3, 3, 0), (score.Items, score.Labels, score.Clusters, score.MergedClusters));
        Assert.All(
            new[] { score.PairwisePrecision, score.PairwiseRecall, score.PairwiseF1, score.BCubedPrecision, score.BCubedRecall, score.BCubedF1 },
            v => Assert.Equal(1, v, 12));
    }

    [Fact]
    public void A_worked_example_matches_the_hand_computed_scores()
    {
        // Cells (A,x)=2, (A,y)=1, (B,y)=2. Pairs together 1+0+1=2, in one cluster 1+3=4, with one label 3+1=4.
        // BCubed: Σ n²/n(c) = 4/2 + 1/3 + 4/3 = 11/3 and Σ n²/n(l) = 4/3 + 1/3 + 4/2 = 11/3, over 5 items.
        var score = Score("AAABB", "xxyyy");
        Assert.Equal(0.5, score.PairwisePrecision, 12);
        Assert.Equal(0.5, score.PairwiseRecall, 12);
        Assert.Equal(0.5, score.PairwiseF1, 12);
        Assert.Equal(11.0 / 15, score.BCubedPrecision, 12);
        Assert.Equal(11.0 / 15, score.BCubedRecall, 12);
        Assert.Equal(11.0 / 15, score.BCubedF1, 12);
        Assert.Equal(1, score.MergedClusters);
    }

    [Fact]
    public void One_cluster_for_everything_has_full_recall_and_singletons_full_precision()
    {
        var lumped = Score("AAAB", "xxxx");
        Assert.Equal(1, lumped.PairwiseRecall, 12);
        Assert.Equal(1, lumped.BCubedRecall, 12);
        Assert.Equal(3.0 / 6, lumped.PairwisePrecision, 12);
        Assert.Equal(((3 * 3.0 / 4) + (1.0 / 4)) / 4, lumped.BCubedPrecision, 12);
        Assert.Equal(1, lumped.MergedClusters);

        var split = Score("AAAB", "wxyz");
        Assert.Equal(1, split.PairwisePrecision, 12);
        Assert.Equal(1, split.BCubedPrecision, 12);
        Assert.Equal(0, split.PairwiseRecall, 12);
        Assert.Equal(0, split.PairwiseF1, 12);
        Assert.Equal(((3 * (1.0 / 3)) + 1) / 4, split.BCubedRecall, 12);
        Assert.Equal(0, split.MergedClusters);
    }

    [Fact]
    public void The_scores_do_not_depend_on_the_order_of_the_items_or_the_names_of_the_clusters()
    {
        var a = Score("AAABBCCD", "xxyyyzzq");
        var b = ClusteringMetrics.Score([("D", 9), ("C", 3), ("B", 2), ("A", 1), ("C", 3), ("A", 1), ("B", 2), ("A", 2)]);
        Assert.Equal((a.Items, a.Labels, a.Clusters, a.MergedClusters), (b.Items, b.Labels, b.Clusters, b.MergedClusters));

        // The same up to the order of a floating-point sum.
        Assert.Equal(a.PairwiseF1, b.PairwiseF1, 12);
        Assert.Equal(a.BCubedPrecision, b.BCubedPrecision, 12);
        Assert.Equal(a.BCubedRecall, b.BCubedRecall, 12);
        Assert.Equal(5.0 / 6, a.BCubedPrecision, 12);
        Assert.Equal(new ClusteringScore(0, 0, 0, 0, 1, 1, 1, 1, 1, 1), ClusteringMetrics.Score(Array.Empty<(string, int)>()));
    }
}
