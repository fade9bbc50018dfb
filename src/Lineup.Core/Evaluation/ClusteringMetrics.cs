namespace Lineup.Core.Evaluation;

/// <summary>How well a clustering matches known labels: pairwise and BCubed precision, recall and F1.</summary>
/// <param name="Items">Labelled items scored.</param>
/// <param name="Labels">Distinct labels among them.</param>
/// <param name="Clusters">Distinct clusters among them.</param>
/// <param name="MergedClusters">Clusters holding items of two or more labels.</param>
public sealed record ClusteringScore(
    int Items,
    int Labels,
    int Clusters,
    int MergedClusters,
    double PairwisePrecision,
    double PairwiseRecall,
    double PairwiseF1,
    double BCubedPrecision,
    double BCubedRecall,
    double BCubedF1);

/// <summary>
/// Clustering metrics over labelled items (Amigó et al. 2009, "A comparison of extrinsic clustering evaluation metrics
/// based on formal constraints", for BCubed). Pairwise counts every unordered pair of items once; BCubed averages, per
/// item, the share of its cluster that has its label (precision) and the share of its label that is in its cluster
/// (recall).
/// </summary>
public static class ClusteringMetrics
{
    /// <param name="items">Each item's true label and assigned cluster.</param>
    public static ClusteringScore Score<TLabel, TCluster>(IReadOnlyList<(TLabel Label, TCluster Cluster)> items)
        where TLabel : notnull
        where TCluster : notnull
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return new ClusteringScore(0, 0, 0, 0, 1, 1, 1, 1, 1, 1);
        }

        var byCell = new Dictionary<(TLabel, TCluster), long>();
        var byLabel = new Dictionary<TLabel, long>();
        var byCluster = new Dictionary<TCluster, long>();
        var labelsOfCluster = new Dictionary<TCluster, HashSet<TLabel>>();
        foreach (var (label, cluster) in items)
        {
            byCell[(label, cluster)] = byCell.GetValueOrDefault((label, cluster)) + 1;
            byLabel[label] = byLabel.GetValueOrDefault(label) + 1;
            byCluster[cluster] = byCluster.GetValueOrDefault(cluster) + 1;
            if (!labelsOfCluster.TryGetValue(cluster, out var set))
            {
                labelsOfCluster[cluster] = set = [];
            }

            set.Add(label);
        }

        static double Pairs(long n) => n * (n - 1) / 2.0;
        var together = byCell.Values.Sum(Pairs);
        var sameCluster = byCluster.Values.Sum(Pairs);
        var sameLabel = byLabel.Values.Sum(Pairs);
        var pairwisePrecision = sameCluster == 0 ? 1 : together / sameCluster;
        var pairwiseRecall = sameLabel == 0 ? 1 : together / sameLabel;

        // BCubed: an item in cell (l, c) has precision n(l,c)/n(c) and recall n(l,c)/n(l); every item of the cell alike.
        double precision = 0, recall = 0;
        foreach (var ((label, cluster), n) in byCell)
        {
            precision += n * (double)n / byCluster[cluster];
            recall += n * (double)n / byLabel[label];
        }

        precision /= items.Count;
        recall /= items.Count;
        return new ClusteringScore(
            items.Count,
            byLabel.Count,
            byCluster.Count,
            labelsOfCluster.Values.Count(s => s.Count > 1),
            pairwisePrecision,
            pairwiseRecall,
            F1(pairwisePrecision, pairwiseRecall),
            precision,
            recall,
            F1(precision, recall));
    }

    private static double F1(double precision, double recall) =>
        precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
}
