using System.Text.Json;
using Lineup.Cli.Commands;
using Lineup.Hosting;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

[Trait("Category", "Data")]
public sealed class EvalTests
{
    [SkippableFact]
    public async Task Eval_writes_a_report_plots_pair_scores_and_a_degradation_table_for_a_small_labelled_set()
    {
        var faces = TestPaths.RequireFaces();
        using var dir = new TempDirectory("eval");
        string[] photos =
        [
            "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg,Tiger_Woods",
            "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg,Tiger_Woods",
            "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg,Nicole_Kidman",
            "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0002.jpg,Nicole_Kidman",
            "deepface/images/Angelina_Jolie/img1.jpg,Angelina_Jolie",
            "deepface/images/Angelina_Jolie/img10.jpg,Angelina_Jolie",
        ];
        // Paths in the CSVs are relative to the manifest's folder: write both next to a link to the photos.
        var root = dir.Combine("set");
        Directory.CreateDirectory(root);
        foreach (var top in new[] { "lfw_deepfunneled", "deepface" })
        {
            Directory.CreateSymbolicLink(Path.Combine(root, top), Path.Combine(faces, top));
        }

        await File.WriteAllLinesAsync(Path.Combine(root, "manifest.csv"), ["path,identity", .. photos]);
        await File.WriteAllLinesAsync(Path.Combine(root, "pairs.csv"),
        [
            "path1,path2,same,protocol",
            "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg,lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg,1,t",
            "deepface/images/Angelina_Jolie/img1.jpg,deepface/images/Angelina_Jolie/img10.jpg,1,t",
            "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg,lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg,0,t",
            "deepface/images/Angelina_Jolie/img1.jpg,lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg,0,t",
        ]);

        await using var engine = await LineupEngine.OpenForAnalysisAsync(await Engines.OptionsAsync(dir));
        var output = dir.Combine("out");
        var report = await EvalCommand.RunAsync(
            engine, new EvalRequest(Path.Combine(root, "manifest.csv"), Path.Combine(root, "pairs.csv"), output, Degrade: true), new Progress<string>(), default);

        Assert.Equal(2, report.Verification.Genuine);
        Assert.Equal(2, report.Verification.Impostor);
        Assert.Equal(1.0, report.Verification.Auc, 6);
        Assert.Equal(6, report.Identification.Probes);
        Assert.True(report.Identification.Rank1 >= 5 / 6.0, $"rank-1 {report.Identification.Rank1}");
        Assert.True(new FileInfo(Path.Combine(output, "det.png")).Length > 1000);
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")));
        Assert.Equal(2, json.RootElement.GetProperty("verification").GetProperty("genuine").GetInt32());
        Assert.Equal(5, (await File.ReadAllLinesAsync(Path.Combine(output, "pair-scores.csv"))).Length);
        var markdown = await File.ReadAllTextAsync(Path.Combine(output, "report.md"));
        Assert.Contains("ROC AUC", markdown, StringComparison.Ordinal);

        // Three identities with two photos each: three enrolled faces, three mated probes, no single-photo identity.
        Assert.NotNull(report.OpenSet);
        Assert.Equal(3, report.OpenSet.Report.Mated);
        Assert.Equal(3, report.OpenSet.Gallery);

        // Too few pairs to calibrate: no calibration (and no scaling, which needs one) rather than a meaningless fit.
        Assert.Null(report.Calibration);
        Assert.Null(report.Scaling);

        // --degrade: one row per standard degradation, each over the three probes, in the report and its JSON.
        Assert.Equal(Lineup.Vision.Imaging.Degradation.Standard.Select(d => d.Name), report.Degradations.Select(d => d.Degradation));
        Assert.All(report.Degradations, d => Assert.Equal(3, d.Probes));
        Assert.All(report.Degradations, d => Assert.Contains($"| {d.Degradation} |", markdown, StringComparison.Ordinal));
        var smallest = report.Degradations.Single(d => d.Degradation == "inter-eye 16 px");
        Assert.True(smallest.MedianQuality < report.Quality.MedianQuality, "a 16-px probe's quality falls below the undegraded median");
        foreach (var plot in new[] { "det.png", "cmc.png", "fnir-fpir.png", "error-vs-discard.png" })
        {
            Assert.True(new FileInfo(Path.Combine(output, plot)).Length > 1000, plot);
        }
    }

    [SkippableFact]
    public async Task A_missing_photo_in_the_manifest_is_named_before_any_work()
    {
        TestPaths.RequireFaces();
        using var dir = new TempDirectory("eval-missing");
        await File.WriteAllLinesAsync(dir.Combine("manifest.csv"), ["path,identity", "nowhere/a.jpg,X"]);
        await File.WriteAllLinesAsync(dir.Combine("pairs.csv"), ["path1,path2,same"]);
        await using var engine = await LineupEngine.OpenForAnalysisAsync(await Engines.OptionsAsync(dir));
        var e = await Assert.ThrowsAsync<FileNotFoundException>(() => EvalCommand.RunAsync(
            engine, new EvalRequest(dir.Combine("manifest.csv"), dir.Combine("pairs.csv"), dir.Combine("out")), new Progress<string>(), default));
        Assert.Contains("nowhere/a.jpg", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.Combine("out")));
    }
}
