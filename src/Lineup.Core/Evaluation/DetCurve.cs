namespace Lineup.Core.Evaluation;

/// <summary>One point of a detection error trade-off: accepting scores ≥ <see cref="Threshold"/> gives these rates.</summary>
public readonly record struct DetPoint(double Threshold, double Fmr, double Fnmr);

/// <summary>
/// Detection error trade-off (ISO/IEC 19795-1): false non-match rate against false match rate, sampled at
/// log-spaced FMRs so a million impostor scores give a few dozen points (for plots and reports; the full
/// per-threshold curve is <see cref="VerificationMetrics"/>).
/// </summary>
/// <param name="Points">In order of decreasing FMR (increasing threshold); thresholds are distinct.</param>
public sealed record DetCurve(int Genuine, int Impostor, IReadOnlyList<DetPoint> Points)
{
    /// <summary>
    /// For each FMR level 10^(−j / <paramref name="pointsPerDecade"/>) from 1 down to max(<paramref name="minFmr"/>,
    /// 1 / impostors): the lowest observed score that keeps the impostor acceptance at or below the level (the
    /// rule of <see cref="VerificationMetrics.AtFar"/>), with its measured FMR and FNMR. Sorts each list once.
    /// </summary>
    /// <exception cref="ArgumentException">An empty list or a non-finite score.</exception>
    public static DetCurve Compute(IReadOnlyList<double> genuine, IReadOnlyList<double> impostor, double minFmr = 1e-5, int pointsPerDecade = 10)
    {
        var g = SortedScores.Sort(genuine, nameof(genuine));
        var im = SortedScores.Sort(impostor, nameof(impostor));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pointsPerDecade);
        if (!(minFmr > 0 && minFmr <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(minFmr), minFmr, "The lowest FMR is in (0, 1].");
        }

        var points = new List<DetPoint>();
        foreach (var level in SortedScores.LogGrid(Math.Max(minFmr, 1.0 / im.Length), pointsPerDecade))
        {
            var threshold = SortedScores.ThresholdAtRate(im, g, level);
            if (points.Count > 0 && points[^1].Threshold == threshold)
            {
                continue;
            }

            points.Add(new DetPoint(
                threshold,
                SortedScores.CountAtOrAbove(im, threshold) / (double)im.Length,
                SortedScores.CountBelow(g, threshold) / (double)g.Length));
        }

        return new DetCurve(g.Length, im.Length, points);
    }

    /// <summary>The point with the lowest FNMR among those whose FMR is at most <paramref name="fmr"/> (the highest threshold when none is).</summary>
    public DetPoint AtFmr(double fmr)
    {
        var within = Points.Where(p => p.Fmr <= fmr).ToList();
        return within.Count == 0 ? Points[^1] : within.MinBy(p => p.Fnmr);
    }
}

/// <summary>Counting and threshold search over sorted score arrays, shared by the evaluation metrics.</summary>
internal static class SortedScores
{
    /// <summary>A sorted copy; refuses an empty list and non-finite scores.</summary>
    public static double[] Sort(IReadOnlyList<double> scores, string name)
    {
        ArgumentNullException.ThrowIfNull(scores, name);
        if (scores.Count == 0)
        {
            throw new ArgumentException("At least one score is needed.", name);
        }

        var sorted = scores.ToArray();
        foreach (var s in sorted)
        {
            if (!double.IsFinite(s))
            {
                throw new ArgumentException($"Scores must be finite numbers; found {s}.", name);
            }
        }

        Array.Sort(sorted);
        return sorted;
    }

    /// <summary>Number of values strictly below <paramref name="threshold"/> (lower bound).</summary>
    public static int CountBelow(double[] sortedAscending, double threshold)
    {
        int lo = 0, hi = sortedAscending.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sortedAscending[mid] < threshold)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>Number of values at or below <paramref name="value"/> (upper bound).</summary>
    public static int CountAtOrBelow(double[] sortedAscending, double value)
    {
        int lo = 0, hi = sortedAscending.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sortedAscending[mid] <= value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    public static int CountAtOrAbove(double[] sortedAscending, double threshold) =>
        sortedAscending.Length - CountBelow(sortedAscending, threshold);

    /// <summary>
    /// The lowest score, among <paramref name="negatives"/> and <paramref name="positives"/>, at which at most
    /// ⌊rate · n⌋ of the n negatives are at or above it: the lowest score of all when every negative may be
    /// accepted, and just above the highest score that must be refused when no observed score lies above it.
    /// Always finite, so reports that carry it serialise as JSON.
    /// </summary>
    public static double ThresholdAtRate(double[] negatives, double[] positives, double rate)
    {
        var allowed = (long)Math.Floor((rate * negatives.Length) + 1e-9);
        if (allowed >= negatives.Length)
        {
            var lowest = positives.Length == 0 ? negatives[0] : Math.Min(negatives[0], positives[0]);
            return Math.Max(lowest, double.MinValue);
        }

        // Every negative at or above the threshold counts; the (allowed+1)-th highest must fall below it.
        var excluded = negatives[negatives.Length - (int)allowed - 1];
        var next = Math.BitIncrement(excluded);
        var i = CountAtOrBelow(negatives, excluded);
        var j = CountAtOrBelow(positives, excluded);
        if (i < negatives.Length || j < positives.Length)
        {
            next = Math.Min(
                i < negatives.Length ? negatives[i] : double.PositiveInfinity,
                j < positives.Length ? positives[j] : double.PositiveInfinity);
        }

        return next;
    }

    /// <summary>10^(−j / perDecade) for j = 0, 1, … down to <paramref name="min"/>, which is always the last level.</summary>
    public static IEnumerable<double> LogGrid(double min, int perDecade)
    {
        var steps = (int)Math.Floor((-Math.Log10(min) * perDecade) + 1e-9);
        for (var j = 0; j <= steps; j++)
        {
            yield return Math.Pow(10, -j / (double)perDecade);
        }

        if (Math.Pow(10, -steps / (double)perDecade) > min * (1 + 1e-9))
        {
            yield return min;
        }
    }
}
