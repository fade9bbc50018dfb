using Lineup.Core.Evaluation;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Lineup.Cli.Commands;

/// <summary>Detection error trade-off curve: FNMR against FMR, both on log axes (ScottPlot).</summary>
public static class DetPlot
{
    public static void Save(VerificationReport report, string path)
    {
        // Rates of zero cannot be drawn on a log axis; clamp them to half the smallest measurable rate.
        var floorFar = 0.5 / report.Impostor;
        var floorFrr = 0.5 / report.Genuine;
        var points = report.Curve.Where(p => !double.IsInfinity(p.Threshold)).ToList();
        var xs = points.Select(p => Math.Log10(Math.Max(p.Far, floorFar))).ToArray();
        var ys = points.Select(p => Math.Log10(Math.Max(p.Frr, floorFrr))).ToArray();

        var plot = new Plot();
        var line = plot.Add.ScatterLine(xs, ys);
        line.LineWidth = 2;
        line.LegendText = $"AUC {report.Auc:0.0000}, EER {report.Eer:P2}";
        plot.Title("DET: false non-match rate vs false match rate");
        plot.XLabel("false match rate (FMR)");
        plot.YLabel("false non-match rate (FNMR)");
        foreach (var axis in new IAxis[] { plot.Axes.Bottom, plot.Axes.Left })
        {
            axis.TickGenerator = new NumericAutomatic
            {
                MinorTickGenerator = new LogMinorTickGenerator(),
                IntegerTicksOnly = true,
                LabelFormatter = v => Math.Pow(10, v).ToString("0.####"),
            };
        }

        plot.Axes.SetLimits(Math.Log10(floorFar), 0, Math.Log10(floorFrr), 0);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 800, 600);
    }
}
