namespace Lineup.Core.Evaluation;

/// <summary>One operating point: at <see cref="Threshold"/>, the false-accept and true-accept rates.</summary>
public readonly record struct OperatingPoint(double Threshold, double Far, double Tar)
{
    public double Frr => 1 - Tar;
}

/// <summary>1:1 verification accuracy computed from genuine and impostor similarity scores.</summary>
public sealed record VerificationReport(
    int Genuine,
    int Impostor,
    double Auc,
    double Eer,
    double EerThreshold,
    OperatingPoint AtFar1Percent,
    OperatingPoint AtFar01Percent,
    IReadOnlyList<OperatingPoint> Curve);

public static class VerificationMetrics
{
    /// <summary>
    /// ROC AUC (Mann–Whitney, ties counted half), EER and the TAR at fixed FARs. A pair is accepted when
    /// its score is ≥ the threshold; the threshold for a target FAR is the smallest score that keeps the
    /// impostor acceptance at or below it.
    /// </summary>
    public static VerificationReport Compute(IReadOnlyList<double> genuine, IReadOnlyList<double> impostor)
    {
        if (genuine.Count == 0 || impostor.Count == 0)
        {
            throw new ArgumentException("Verification metrics need at least one genuine and one impostor score.");
        }

        var g = genuine.OrderBy(s => s).ToArray();
        var im = impostor.OrderBy(s => s).ToArray();

        // AUC = P(genuine > impostor) + ½ P(equal), by a merge over both sorted lists.
        double wins = 0;
        int lo = 0, hi = 0;
        foreach (var s in g)
        {
            while (lo < im.Length && im[lo] < s)
            {
                lo++;
            }

            hi = Math.Max(hi, lo);
            while (hi < im.Length && im[hi] <= s)
            {
                hi++;
            }

            wins += lo + ((hi - lo) * 0.5);
        }

        var auc = wins / ((double)g.Length * im.Length);

        // Every distinct score is a candidate threshold; walk them in descending order.
        var thresholds = g.Concat(im).Distinct().OrderByDescending(s => s).ToArray();
        var curve = new List<OperatingPoint>(thresholds.Length + 1) { new(double.PositiveInfinity, 0, 0) };
        foreach (var t in thresholds)
        {
            curve.Add(new OperatingPoint(t, FractionAtOrAbove(im, t), FractionAtOrAbove(g, t)));
        }

        var eerPoint = curve.MinBy(p => Math.Abs(p.Far - p.Frr));
        var eer = (eerPoint.Far + eerPoint.Frr) / 2;
        return new VerificationReport(g.Length, im.Length, auc, eer, eerPoint.Threshold,
            AtFar(curve, 0.01), AtFar(curve, 0.001), curve);
    }

    /// <summary>The highest-TAR point whose FAR does not exceed <paramref name="far"/>.</summary>
    public static OperatingPoint AtFar(IReadOnlyList<OperatingPoint> curve, double far) =>
        curve.Where(p => p.Far <= far).MaxBy(p => p.Tar);

    private static double FractionAtOrAbove(double[] sortedAscending, double threshold)
    {
        var index = Array.BinarySearch(sortedAscending, threshold);
        if (index < 0)
        {
            index = ~index;
        }
        else
        {
            while (index > 0 && sortedAscending[index - 1] >= threshold)
            {
                index--;
            }
        }

        return (sortedAscending.Length - index) / (double)sortedAscending.Length;
    }
}
