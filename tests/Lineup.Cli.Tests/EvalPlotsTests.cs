using System.Buffers.Binary;
using Lineup.Cli.Commands;
using Lineup.Core.Evaluation;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary>Every evaluation plot writes an 800 × 600 PNG from synthetic metric data (no photos or models needed).</summary>
public sealed class EvalPlotsTests
{
    private static readonly byte[] s_pngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    [Fact]
    public void Every_plot_writes_a_valid_PNG()
    {
        using var dir = new TempDirectory("plots");
        var random = new Random(1);
        double[] Normal(int count, double mean, double sd) =>
            Enumerable.Range(0, count)
                .Select(_ => mean + (sd * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())))
                .ToArray();

        var genuine = Normal(2_000, 0.6, 0.12);
        var impostor = Normal(50_000, 0, 0.1);
        var det = DetCurve.Compute(genuine, impostor);
        EvalPlots.Det(det, dir.File("det.png"));
        EvalPlots.Det([("model A", det), ("model B", DetCurve.Compute(Normal(2_000, 0.5, 0.15), impostor))], dir.File("det2.png"));

        var mated = genuine.Take(500).Select((s, i) => i % 10 == 9 ? MatedSearch.Miss : new MatedSearch(1 + (i % 7), (float)s)).ToList();
        var nonMated = impostor.Take(1_000).Select(s => new NonMatedSearch((float)(s + 0.25))).ToList();
        var openSet = OpenSetIdentification.Create(mated, nonMated);
        EvalPlots.Cmc(openSet.Cmc, dir.File("cmc.png"));
        EvalPlots.FnirFpir(openSet.Curve(), dir.File("fnir-fpir.png"));
        EvalPlots.FnirFpir([("rank 1", openSet.Curve(rank: 1)), ("rank 50", openSet.Curve(rank: 50))], dir.File("fnir-fpir2.png"));

        var pairs = genuine.Select(s => new QualityPair(s, true, random.NextDouble(), random.NextDouble())).ToList();
        EvalPlots.ErrorVersusDiscard(ErrorVersusDiscard.Fnmr(pairs, 0.45), dir.File("edc.png"));

        EvalPlots.GalleryScaling([1, 10, 100], [("FPIR 1%", [0.05, 0.08, 0.12]), ("FPIR 0.1%", [0.1, 0.15, 0.22])], dir.File("scaling.png"));

        var calibration = ScoreCalibration.Fit(genuine, impostor, "synthetic", DateTimeOffset.UnixEpoch);
        var check = CalibrationCheck.Run(calibration, genuine, Normal(50_000, 0, 0.1), CalibrationCheck.TargetGrid(1e-4));
        EvalPlots.Calibration(check.Points, dir.File("calibration.png"));

        foreach (var name in new[] { "det", "det2", "cmc", "fnir-fpir", "fnir-fpir2", "edc", "scaling", "calibration" })
        {
            var png = File.ReadAllBytes(dir.File($"{name}.png"));
            Assert.True(png.Length > 10_000, $"{name}.png has only {png.Length} bytes");
            Assert.Equal(s_pngSignature, png[..8]);
            // IHDR: width and height, big-endian, right after the chunk length and type.
            Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
            Assert.Equal(800, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
            Assert.Equal(600, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        }
    }

    [Fact]
    public void Plots_refuse_missing_or_mismatched_data()
    {
        using var dir = new TempDirectory("plots");
        Assert.Throws<ArgumentException>(() => EvalPlots.Det([], dir.File("x.png")));
        Assert.Throws<ArgumentException>(() => EvalPlots.Calibration([], dir.File("x.png")));
        Assert.Throws<ArgumentException>(() => EvalPlots.GalleryScaling([1, 10], [("FPIR 1%", [0.1])], dir.File("x.png")));
        Assert.False(File.Exists(dir.File("x.png")));
    }
}
