using System.Globalization;
using Lineup.Core.Evaluation;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Lineup.Cli.Commands;

/// <summary>
/// PNG plots of the evaluation metrics (ScottPlot, 800 × 600). ScottPlot 5 has no logarithmic axis: log axes
/// plot log10 of the values with tick labels at the powers of ten, and rates of 0 (not drawable on a log
/// axis) are drawn at half the smallest positive rate of the plot.
/// Every function takes plain data and the output path; the multi-series overloads draw one line per label.
/// </summary>
public static class EvalPlots
{
    private const int Width = 800;
    private const int Height = 600;

    /// <summary>Detection error trade-off: FNMR against FMR, both log axes.</summary>
    public static void Det(DetCurve curve, string path) => Det([("DET", curve)], path);

    /// <inheritdoc cref="Det(DetCurve, string)"/>
    public static void Det(IReadOnlyList<(string Label, DetCurve Curve)> curves, string path)
    {
        RequireSeries(curves, nameof(curves));
        var floorFmr = 0.5 / curves.Max(c => c.Curve.Impostor);
        var floorFnmr = 0.5 / curves.Max(c => c.Curve.Genuine);
        var plot = new Plot();
        foreach (var (label, curve) in curves)
        {
            AddLine(plot, label,
                curve.Points.Select(p => Log(p.Fmr, floorFmr)).ToArray(),
                curve.Points.Select(p => Log(p.Fnmr, floorFnmr)).ToArray());
        }

        LogAxis(plot.Axes.Bottom);
        LogAxis(plot.Axes.Left);
        plot.Axes.SetLimits(Math.Log10(floorFmr), 0, Math.Log10(floorFnmr), 0);
        Save(plot, path, "DET: false non-match rate vs false match rate", "false match rate (FMR)", "false non-match rate (FNMR)", curves.Count > 1);
    }

    /// <summary>Cumulative match characteristic: identification rate at rank ≤ r, r = 1 … cmc.Count.</summary>
    public static void Cmc(IReadOnlyList<double> cmc, string path) => Cmc([("CMC", cmc)], path);

    /// <inheritdoc cref="Cmc(IReadOnlyList{double}, string)"/>
    public static void Cmc(IReadOnlyList<(string Label, IReadOnlyList<double> Cmc)> series, string path)
    {
        RequireSeries(series, nameof(series));
        var plot = new Plot();
        foreach (var (label, cmc) in series)
        {
            AddLine(plot, label, Enumerable.Range(1, cmc.Count).Select(r => (double)r).ToArray(), cmc.ToArray());
        }

        var lowest = series.SelectMany(s => s.Cmc).DefaultIfEmpty(0).Min();
        plot.Axes.SetLimits(1, Math.Max(2, series.Max(s => s.Cmc.Count)), Math.Max(0, lowest - 0.05), 1.005);
        Save(plot, path, "CMC: identification rate by rank", "rank", "identification rate (mate at rank ≤ r)", series.Count > 1, Alignment.LowerRight);
    }

    /// <summary>Open-set trade-off: FNIR against FPIR (log FPIR, linear FNIR).</summary>
    public static void FnirFpir(IReadOnlyList<FnirFpirPoint> curve, string path) => FnirFpir([("FNIR vs FPIR", curve)], path);

    /// <inheritdoc cref="FnirFpir(IReadOnlyList{FnirFpirPoint}, string)"/>
    public static void FnirFpir(IReadOnlyList<(string Label, IReadOnlyList<FnirFpirPoint> Curve)> series, string path)
    {
        RequireSeries(series, nameof(series));
        var floor = HalfSmallestPositive(series.SelectMany(s => s.Curve).Select(p => p.Fpir));
        var plot = new Plot();
        foreach (var (label, curve) in series)
        {
            AddLine(plot, label, curve.Select(p => Log(p.Fpir, floor)).ToArray(), curve.Select(p => p.Fnir).ToArray());
        }

        LogAxis(plot.Axes.Bottom);
        plot.Axes.SetLimits(Math.Log10(floor), 0, 0, 1.005);
        Save(plot, path, "Open-set identification: FNIR vs FPIR", "false positive identification rate (FPIR)",
            "false negative identification rate (FNIR)", series.Count > 1);
    }

    /// <summary>Error versus discard: error rate (e.g. FNMR) against the fraction of lowest-quality samples discarded.</summary>
    public static void ErrorVersusDiscard(IReadOnlyList<EdcPoint> points, string path, string errorName = "FNMR") =>
        ErrorVersusDiscard([("quality", points)], path, errorName);

    /// <inheritdoc cref="ErrorVersusDiscard(IReadOnlyList{EdcPoint}, string, string)"/>
    public static void ErrorVersusDiscard(IReadOnlyList<(string Label, IReadOnlyList<EdcPoint> Points)> series, string path, string errorName = "FNMR")
    {
        RequireSeries(series, nameof(series));
        var plot = new Plot();
        foreach (var (label, points) in series)
        {
            var drawn = points.Where(p => !double.IsNaN(p.ErrorRate)).ToArray();
            AddLine(plot, label, drawn.Select(p => p.DiscardedFraction).ToArray(), drawn.Select(p => p.ErrorRate).ToArray());
        }

        var highest = series.SelectMany(s => s.Points).Select(p => p.ErrorRate).Where(e => !double.IsNaN(e)).DefaultIfEmpty(0).Max();
        var right = series.SelectMany(s => s.Points).Select(p => p.DiscardedFraction).DefaultIfEmpty(0).Max();
        plot.Axes.SetLimits(0, Math.Max(right, 0.05), 0, Math.Max(highest * 1.05, 1e-3));
        Save(plot, path, $"Error versus discard: {errorName} as low-quality samples are discarded", "fraction discarded",
            errorName, series.Count > 1);
    }

    /// <summary>
    /// Gallery-size scaling: FNIR at a fixed FPIR against the distractor multiplier (gallery size over the
    /// real gallery's size, log axis); one series per FPIR level or model, each with one FNIR per multiplier.
    /// </summary>
    public static void GalleryScaling(IReadOnlyList<double> distractorMultipliers, IReadOnlyList<(string Label, IReadOnlyList<double> Fnir)> series, string path)
    {
        ArgumentNullException.ThrowIfNull(distractorMultipliers);
        RequireSeries(series, nameof(series));
        if (distractorMultipliers.Count == 0 || distractorMultipliers.Any(m => !(m > 0)) || series.Any(s => s.Fnir.Count != distractorMultipliers.Count))
        {
            throw new ArgumentException("Gallery scaling needs positive multipliers and one FNIR per multiplier in every series.", nameof(series));
        }

        var xs = distractorMultipliers.Select(Math.Log10).ToArray();
        var plot = new Plot();
        foreach (var (label, fnir) in series)
        {
            var line = AddLine(plot, label, xs, fnir.ToArray());
            line.MarkerSize = 7;
        }

        LogAxis(plot.Axes.Bottom);
        var highest = series.SelectMany(s => s.Fnir).Max();
        plot.Axes.SetLimits(xs.Min() - 0.1, Math.Max(xs.Max(), xs.Min() + 1) + 0.1, 0, Math.Max(highest * 1.1, 0.01));
        Save(plot, path, "Gallery-size scaling: FNIR as synthetic distractors are added", "gallery size (× the real gallery)",
            "false negative identification rate (FNIR)", legend: true, Alignment.UpperLeft);
    }

    /// <summary>
    /// Calibration check: observed against predicted FMR on held-out impostors (log-log), with the line of
    /// perfect calibration and the band within a factor of 2 of it.
    /// </summary>
    public static void Calibration(IReadOnlyList<CalibrationCheckPoint> points, string path, string label = "held-out impostors")
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count == 0)
        {
            throw new ArgumentException("A calibration plot needs at least one point.", nameof(points));
        }

        var floor = HalfSmallestPositive(points.SelectMany(p => new[] { p.PredictedFmr, p.ObservedFmr }));
        var low = Math.Log10(floor) - 0.3;
        var high = Math.Min(0, points.Max(p => Math.Max(Log(p.PredictedFmr, floor), Log(p.ObservedFmr, floor))) + 0.3);
        double[] diagonal = [low, high];
        var plot = new Plot();
        var band = plot.Add.FillY(diagonal, diagonal.Select(x => x - Math.Log10(2)).ToArray(), diagonal.Select(x => x + Math.Log10(2)).ToArray());
        band.FillColor = Colors.Green.WithAlpha(0.15);
        band.LineWidth = 0;
        band.LegendText = "within ×2";
        var ideal = plot.Add.Line(low, low, high, high);
        ideal.LinePattern = LinePattern.Dashed;
        ideal.LegendText = "observed = predicted";
        var measured = AddLine(plot, label,
            points.Select(p => Log(p.PredictedFmr, floor)).ToArray(),
            points.Select(p => Log(p.ObservedFmr, floor)).ToArray());
        measured.MarkerSize = 7;
        LogAxis(plot.Axes.Bottom);
        LogAxis(plot.Axes.Left);
        plot.Axes.SetLimits(low, high, low, high);
        Save(plot, path, "Score calibration: observed vs predicted false match rate", "predicted FMR", "observed FMR", legend: true, Alignment.UpperLeft);
    }

    private static ScottPlot.Plottables.Scatter AddLine(Plot plot, string label, double[] xs, double[] ys)
    {
        var line = plot.Add.ScatterLine(xs, ys);
        line.LineWidth = 2;
        line.MarkerSize = 0;
        line.LegendText = label;
        return line;
    }

    private static void Save(Plot plot, string path, string title, string xLabel, string yLabel, bool legend, Alignment corner = Alignment.UpperRight)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        if (legend)
        {
            plot.ShowLegend(corner);
        }
        else
        {
            plot.HideLegend();
        }

        plot.SavePng(path, Width, Height);
    }

    /// <summary>Ticks at integer log10 values labelled with the power of ten they stand for.</summary>
    private static void LogAxis(IAxis axis) =>
        axis.TickGenerator = new NumericAutomatic
        {
            MinorTickGenerator = new LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = v => v >= -3
                ? Math.Pow(10, v).ToString("0.###", CultureInfo.InvariantCulture)
                : string.Create(CultureInfo.InvariantCulture, $"1e{Math.Round(v)}"),
        };

    private static double Log(double rate, double floor) => Math.Log10(Math.Max(rate, floor));

    private static double HalfSmallestPositive(IEnumerable<double> rates) =>
        rates.Where(r => r > 0).DefaultIfEmpty(1e-6).Min() / 2;

    private static void RequireSeries<T>(IReadOnlyList<T> series, string name)
    {
        ArgumentNullException.ThrowIfNull(series, name);
        if (series.Count == 0)
        {
            throw new ArgumentException("A plot needs at least one series.", name);
        }
    }
}
