namespace Lineup.Core.Evaluation;

/// <summary>1:N accuracy: how often the right identity is at rank 1 and within the first 10.</summary>
public sealed record IdentificationReport(int Probes, int Rank1Hits, int Rank10Hits, IReadOnlyList<double> Cmc)
{
    public double Rank1Rate => Probes == 0 ? 0 : Rank1Hits / (double)Probes;

    public double Rank10Rate => Probes == 0 ? 0 : Rank10Hits / (double)Probes;
}

public static class IdentificationMetrics
{
    /// <summary>
    /// Builds the cumulative match characteristic from the rank (1-based) at which each probe's first
    /// mate appeared, or 0 when no mate was in the candidate list.
    /// </summary>
    public static IdentificationReport FromMateRanks(IReadOnlyList<int> mateRanks, int maxRank = 50)
    {
        var cmc = new double[maxRank];
        foreach (var rank in mateRanks)
        {
            if (rank >= 1 && rank <= maxRank)
            {
                for (var r = rank - 1; r < maxRank; r++)
                {
                    cmc[r]++;
                }
            }
        }

        var n = mateRanks.Count;
        for (var r = 0; r < maxRank; r++)
        {
            cmc[r] = n == 0 ? 0 : cmc[r] / n;
        }

        return new IdentificationReport(
            n,
            mateRanks.Count(r => r == 1),
            mateRanks.Count(r => r is >= 1 and <= 10),
            cmc);
    }
}
