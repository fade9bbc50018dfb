using System.Text.Json;
using Lineup.Cli.Commands;
using Lineup.Core.Evaluation;
using Lineup.Hosting;
using Lineup.TestSupport;
using Lineup.Vision.Models;

namespace Lineup.Cli.Tests;

/// <summary>
/// The acceptance on the shared photos: one full <c>lineup eval</c> (about two minutes on two cores), then
/// its report, plots, calibration check, error-versus-discard curve and the calibration it writes into a manifest.
/// </summary>
[Trait("Category", "Data")]
public sealed class EvalAcceptanceTests
{
    [SkippableFact]
    public async Task Eval_on_the_shared_photos_calibrates_within_a_factor_of_2_and_its_error_falls_as_low_quality_probes_are_discarded()
    {
        var faces = TestPaths.RequireFaces();
        using var dir = new TempDirectory("eval-full");
        var manifest = dir.Combine("model-pack.json");
        await File.WriteAllTextAsync(manifest, JsonSerializer.Serialize(ModelPackManifest.Default, ModelPackManifest.JsonOptions));
        await using var engine = await LineupEngine.OpenForAnalysisAsync(await Engines.OptionsAsync(dir));
        var output = dir.Combine("out");
        var report = await EvalCommand.RunAsync(
            engine,
            new EvalRequest(Path.Combine(faces, "manifest.csv"), Path.Combine(faces, "pairs.csv"), output, Path.Combine(faces, "groups.csv"),
                DistractorMultipliers: [1, 10], WriteCalibration: manifest),
            new Progress<string>(),
            default);

        // Calibration: fitted on one half of the labelled pairs (by identity), checked on the other, both ways, at
        // FMR 1 % and 0.1 %: the observed false-match rate is within a factor of 2 of the predicted one.
        var calibration = report.Calibration ?? throw new Xunit.Sdk.XunitException("no calibration was fitted");
        foreach (var check in new[] { calibration.HalfFitOnA, calibration.HalfFitOnB })
        {
            Assert.Equal([0.01, 0.001], check.Points.Select(p => p.TargetFmr));
            Assert.All(check.Points, p => Assert.True(p.WithinFactor(2), $"target {p.TargetFmr}: observed {p.ObservedFmr} vs predicted {p.PredictedFmr}"));
            Assert.All(check.Points, p => Assert.True(p.Accepted >= 100, $"target {p.TargetFmr}: only {p.Accepted} impostors accepted, too few to check"));
        }

        // Monotone, and FMR estimates below the smallest observed rate come from the fitted tail, never 0.
        var map = calibration.Calibration;
        Assert.True(map.Fmr(0.2) > map.Fmr(0.3) && map.Fmr(0.3) > map.Fmr(0.5) && map.Fmr(0.5) > map.Fmr(0.8));
        Assert.True(map.Fmr(0.95) > 0);
        Assert.True(map.ImpostorPairs > 500_000, $"{map.ImpostorPairs} impostor pairs");

        // Error against discard: dropping the 10 % lowest-quality pairs (and probes) lowers the error.
        static double At(IReadOnlyList<EdcPoint> edc, double fraction) => edc.MinBy(p => Math.Abs(p.RequestedFraction - fraction)).ErrorRate;
        Assert.True(At(report.Quality.Verification, 0.10) < 0.8 * At(report.Quality.Verification, 0),
            $"1:1 FNMR {At(report.Quality.Verification, 0)} → {At(report.Quality.Verification, 0.10)}");
        Assert.True(At(report.Quality.Identification, 0.10) < 0.9 * At(report.Quality.Identification, 0),
            $"1:N misses {At(report.Quality.Identification, 0)} → {At(report.Quality.Identification, 0.10)}");

        // Open set and per-stratum results: the low-quality tercile does worse than the high one.
        var open = report.OpenSet ?? throw new Xunit.Sdk.XunitException("no open-set result");
        Assert.True(open.Report.Rank1 > 0.9, $"open-set rank-1 {open.Report.Rank1}");
        Assert.NotNull(open.Report.AtFpir1Percent);
        Assert.Equal(3, open.Strata.Count);
        Assert.True(open.Strata[0].Rank1 < open.Strata[2].Rank1);

        // Gallery scaling: more distractors never make identification easier.
        var scaling = report.Scaling ?? throw new Xunit.Sdk.XunitException("no scaling result");
        Assert.Equal([1, 10], scaling.Points.Select(p => p.Multiplier));
        Assert.True(scaling.Points[1].Rank1 <= scaling.Points[0].Rank1);
        Assert.True(scaling.Points[1].FnirAtFpir1Percent >= scaling.Points[0].FnirAtFpir1Percent);
        Assert.True(scaling.MatedProbes > 300, $"{scaling.MatedProbes} mated probes in half B");

        foreach (var file in new[] { "report.md", "report.json", "pair-scores.csv", "calibration.json", "det.png", "cmc.png", "fnir-fpir.png",
                     "error-vs-discard.png", "gallery-scaling.png", "calibration.png" })
        {
            Assert.True(new FileInfo(Path.Combine(output, file)).Length > 500, file);
        }

        // --write-calibration: the manifest keeps its models and gains the map, with the threshold at FMR 0.1 %.
        var written = ModelPackManifest.Parse(await File.ReadAllTextAsync(manifest));
        Assert.Equal(ModelPackManifest.Default.Models.Select(m => m.Sha256), written.Models.Select(m => m.Sha256));
        Assert.NotNull(written.Calibration.Scores);
        Assert.Equal(map.ImpostorPairs, written.Calibration.Scores.ImpostorPairs);
        Assert.Equal(map.SimilarityAtFmr(0.001), written.Calibration.Threshold, 3);
        Assert.Equal(map.Fmr(0.4), written.Calibration.Scores.Fmr(0.4), 9);
    }
}
