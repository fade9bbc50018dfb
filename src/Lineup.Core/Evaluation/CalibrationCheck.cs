namespace Lineup.Core.Evaluation;

/// <summary>
/// A calibration tested on held-out scores at one target FMR: the threshold the calibration gives for the
/// target, the FMR it predicts there and the FMR observed on the held-out impostors.
/// </summary>
/// <param name="Accepted">Held-out impostor scores at or above <see cref="Threshold"/>.</param>
public readonly record struct CalibrationCheckPoint(
    double TargetFmr,
    double Threshold,
    double PredictedFmr,
    double ObservedFmr,
    int Accepted,
    int Impostors,
    double PredictedTmr,
    double ObservedTmr)
{
    /// <summary>Observed over predicted FMR: 1 is perfect, 0 when no held-out impostor was accepted.</summary>
    public double Ratio => ObservedFmr / PredictedFmr;

    /// <summary>Held-out impostors the calibration expects at or above the threshold; below about 10 the ratio is mostly counting noise.</summary>
    public double ExpectedAccepted => PredictedFmr * Impostors;

    /// <summary>Whether observed and predicted FMR differ by at most <paramref name="factor"/> either way.</summary>
    public bool WithinFactor(double factor) => Ratio >= 1 / factor && Ratio <= factor;
}

/// <summary>
/// Held-out check of a <see cref="ScoreCalibration"/>: fit on one half of an evaluation set (split by
/// identity), then call <see cref="Run"/> with the other half's scores.
/// </summary>
public sealed record CalibrationCheck(int Genuine, int Impostors, IReadOnlyList<CalibrationCheckPoint> Points)
{
    /// <summary>The operating points reported for a model: FMR 1% and 0.1%.</summary>
    public static IReadOnlyList<double> StandardTargets { get; } = [0.01, 0.001];

    /// <summary>Whether every point's observed FMR is within <paramref name="factor"/> of the predicted one.</summary>
    public bool WithinFactor(double factor) => Points.All(p => p.WithinFactor(factor));

    /// <summary>
    /// For each target FMR (default <see cref="StandardTargets"/>): threshold = calibration.SimilarityAtFmr(target),
    /// predicted = calibration.Fmr(threshold), observed = share of held-out impostors ≥ threshold, and the
    /// predicted and observed TMR. For a predicted-vs-observed plot pass <see cref="TargetGrid"/>.
    /// </summary>
    /// <param name="genuine">Held-out genuine scores; may be empty (observed TMR is then NaN).</param>
    /// <param name="impostor">Held-out impostor scores; at least one.</param>
    public static CalibrationCheck Run(
        ScoreCalibration calibration, IReadOnlyList<double> genuine, IReadOnlyList<double> impostor, IReadOnlyList<double>? targets = null)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(genuine);
        var im = SortedScores.Sort(impostor, nameof(impostor));
        var g = genuine.Count == 0 ? [] : SortedScores.Sort(genuine, nameof(genuine));
        var points = new List<CalibrationCheckPoint>();
        foreach (var target in targets ?? StandardTargets)
        {
            var threshold = calibration.SimilarityAtFmr(target);
            var accepted = SortedScores.CountAtOrAbove(im, threshold);
            points.Add(new CalibrationCheckPoint(
                target,
                threshold,
                calibration.Fmr(threshold),
                accepted / (double)im.Length,
                accepted,
                im.Length,
                calibration.Tmr(threshold),
                g.Length == 0 ? double.NaN : SortedScores.CountAtOrAbove(g, threshold) / (double)g.Length));
        }

        return new CalibrationCheck(g.Length, im.Length, points);
    }

    /// <summary>Target FMRs 10^(−j / <paramref name="perDecade"/>) from 10% down to <paramref name="minFmr"/>.</summary>
    public static IReadOnlyList<double> TargetGrid(double minFmr, int perDecade = 4)
    {
        if (!(minFmr > 0 && minFmr <= 0.1))
        {
            throw new ArgumentOutOfRangeException(nameof(minFmr), minFmr, "The lowest target FMR is in (0, 0.1].");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perDecade);
        return SortedScores.LogGrid(minFmr, perDecade).Where(f => f <= 0.1 * (1 + 1e-9)).ToArray();
    }
}
