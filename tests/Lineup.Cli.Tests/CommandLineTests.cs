using System.Text.Json;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary>The <c>lineup</c> command as a user runs it: exit codes, messages, JSON, and crash safety.</summary>
[Trait("Category", "Data")]
public sealed class CommandLineTests
{
    [SkippableFact]
    public async Task Ingest_search_stats_and_rebuild_work_from_the_command_line_with_meaningful_exit_codes()
    {
        using var dir = new TempDirectory("cli");
        await TestPaths.ModelsAsync();
        var gallery = Engines.Gallery(dir, "gallery",
            "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg",
            "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg");
        await File.WriteAllTextAsync(Path.Combine(gallery, "notes.jpg"), "not a photo");
        string[] common = ["--data", dir.Combine("data"), "--models", TestPaths.ModelCache, "--quiet"];

        var missingBasis = await CliProcess.RunAsync([.. common, "ingest", gallery, "--collection", "c"]);
        Assert.Equal(ExitCodes.BadInput, missingBasis.ExitCode);
        Assert.Contains("--lawful-basis", missingBasis.Stderr, StringComparison.Ordinal);
        var missingJurisdiction = await CliProcess.RunAsync([.. common, "ingest", gallery, "--collection", "c", "--lawful-basis", "test"]);
        Assert.Equal(ExitCodes.BadInput, missingJurisdiction.ExitCode);
        Assert.Contains("--jurisdiction", missingJurisdiction.Stderr, StringComparison.Ordinal);
        var badJurisdiction = await CliProcess.RunAsync([.. common, "ingest", gallery, "--collection", "c", "--lawful-basis", "test", "--jurisdiction", "Germany"]);
        Assert.Equal(ExitCodes.BadInput, badJurisdiction.ExitCode);
        Assert.Contains("ISO 3166", badJurisdiction.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.Combine("data", "catalog.db")), "nothing may be written before the collection's legal basis is known");

        var ingest = await CliProcess.RunAsync([.. common, "ingest", gallery, "--collection", "c", "--lawful-basis", "test", "--jurisdiction", "DE"]);
        Assert.Equal(ExitCodes.Partial, ingest.ExitCode);
        Assert.Contains("notes.jpg", ingest.Stderr, StringComparison.Ordinal);
        await TestCases.PrepareCliAsync(common);

        var search = await CliProcess.RunAsync([.. common, "search", TestPaths.Face("lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg"), .. TestCases.CliSearch, "--json", "--top", "2"]);
        Assert.Equal(ExitCodes.Ok, search.ExitCode);
        using var json = JsonDocument.Parse(search.Stdout);
        var first = json.RootElement.GetProperty("candidates")[0];
        Assert.EndsWith("Tiger_Woods_0001.jpg", first.GetProperty("image").GetProperty("provenance").GetProperty("originalPath").GetString(), StringComparison.Ordinal);

        var noFace = await CliProcess.RunAsync([.. common, "search", Path.Combine(gallery, "notes.jpg"), .. TestCases.CliSearch]);
        Assert.Equal(ExitCodes.BadInput, noFace.ExitCode);
        Assert.Contains("notes.jpg", noFace.Stderr, StringComparison.Ordinal);

        var missing = await CliProcess.RunAsync([.. common, "search", dir.Combine("nope.jpg"), .. TestCases.CliSearch]);
        Assert.Equal(ExitCodes.BadInput, missing.ExitCode);

        var stats = await CliProcess.RunAsync([.. common, "stats", "--json"]);
        Assert.Equal(ExitCodes.Ok, stats.ExitCode);
        using var statsJson = JsonDocument.Parse(stats.Stdout);
        Assert.Equal(2, statsJson.RootElement.GetProperty("stats").GetProperty("images").GetInt64());

        // The default engine's file (Lineup:Index:Kind ivf) is gone: the rebuild makes it again from the catalog, and it
        // answers exactly as before, since the index always holds the vectors as the catalog gives them back.
        File.Delete(Directory.EnumerateFiles(dir.Combine("data", "index")).Single(f => f.EndsWith(".ivf", StringComparison.Ordinal)));
        var rebuild = await CliProcess.RunAsync([.. common, "index", "rebuild"]);
        Assert.Equal(ExitCodes.Ok, rebuild.ExitCode);
        var again = await CliProcess.RunAsync([.. common, "search", TestPaths.Face("lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0002.jpg"), .. TestCases.CliSearch, "--json", "--top", "2"]);
        using var againJson = JsonDocument.Parse(again.Stdout);
        Assert.Equal(json.RootElement.GetProperty("candidates").GetRawText(), againJson.RootElement.GetProperty("candidates").GetRawText());
        Assert.Equal(json.RootElement.GetProperty("searchId").GetInt64() + 1, againJson.RootElement.GetProperty("searchId").GetInt64());
    }

    [Fact]
    public async Task A_missing_model_that_cannot_be_fetched_names_the_command_that_fixes_it()
    {
        using var dir = new TempDirectory("nomodels");
        // No npm on PATH (an empty folder): the automatic first-use fetch cannot run.
        var noTools = dir.Combine("empty-path");
        Directory.CreateDirectory(noTools);
        var photo = dir.Combine("a.jpg");
        await File.WriteAllBytesAsync(photo, [0xFF, 0xD8, 0xFF]);
        var models = await CliProcess.RunAsync(
            ["--data", dir.Combine("data"), "--models", dir.Combine("models"), "verify", photo, photo],
            new Dictionary<string, string> { ["PATH"] = noTools });
        Assert.Equal(ExitCodes.Models, models.ExitCode);
        Assert.Contains("lineup models fetch", models.Stderr, StringComparison.Ordinal);

        var verify = await CliProcess.RunAsync(["--models", dir.Combine("models"), "models", "verify"]);
        Assert.Equal(ExitCodes.Models, verify.ExitCode);
        Assert.Contains("lineup models fetch", verify.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_configuration_is_refused_at_start_with_the_setting_named()
    {
        using var dir = new TempDirectory("badconfig");
        var result = await CliProcess.RunAsync(
            ["--data", dir.Combine("data"), "stats"],
            new Dictionary<string, string> { ["LINEUP__Lineup__Index__Quantization"] = "q4" });
        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Contains("Quantization", result.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.Combine("data", "catalog.db")));
    }
}
