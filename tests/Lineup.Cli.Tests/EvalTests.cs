using System.Text.Json;
using Lineup.Cli.Commands;
using Lineup.Hosting;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

[Trait("Category", "Data")]
public sealed class EvalTests
{
    [SkippableFact]
    public async Task Eval_writes_a_report_a_DET_plot_and_pair_scores_for_a_small_labelled_set()
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
        var report = await EvalCommand.RunAsync(engine, Path.Combine(root, "manifest.csv"), Path.Combine(root, "pairs.csv"), output, new Progress<string>(), default);

        Assert.Equal(2, report.Verification.Genuine);
        Assert.Equal(2, report.Verification.Impostor);
        Assert.Equal(1.0, report.Verification.Auc, 6);
        Assert.Equal(6, report.Identification.Probes);
        Assert.True(report.Identification.Rank1 >= 5 / 6.0, $"rank-1 {report.Identification.Rank1}");
        Assert.True(new FileInfo(Path.Combine(output, "det.png")).Length > 1000);
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")));
        Assert.Equal(2, json.RootElement.GetProperty("verification").GetProperty("genuine").GetInt32());
        Assert.Equal(5, (await File.ReadAllLinesAsync(Path.Combine(output, "pair-scores.csv"))).Length);
        Assert.Contains("ROC AUC", await File.ReadAllTextAsync(Path.Combine(output, "report.md")), StringComparison.Ordinal);
    }
}
