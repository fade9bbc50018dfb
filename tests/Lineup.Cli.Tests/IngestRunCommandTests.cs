using System.Diagnostics;
using System.Text.Json;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

/// <summary><c>lineup ingest</c> runs as a user sees them: listed, inspected, resumed, and one at a time.</summary>
[Trait("Category", "Data")]
public sealed class IngestRunCommandTests
{
    [SkippableFact]
    public async Task Runs_are_listed_and_shown_with_their_problems_and_a_finished_run_is_not_resumed()
    {
        using var dir = new TempDirectory("runs-cli");
        await TestPaths.ModelsAsync();
        var gallery = Engines.Gallery(dir, "gallery",
            "lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg",
            "lfw_deepfunneled/images/Nicole_Kidman/Nicole_Kidman_0001.jpg");
        await File.WriteAllTextAsync(Path.Combine(gallery, "notes.jpg"), "not a photo");
        string[] common = ["--data", dir.Combine("data"), "--models", TestPaths.ModelCache];

        var ingest = await CliProcess.RunAsync([.. common, "ingest", gallery, "--collection", "c", "--lawful-basis", "test", "--jurisdiction", "de"]);
        Assert.Equal(ExitCodes.Partial, ingest.ExitCode);
        Assert.Contains("Ingest run 1", ingest.Stdout, StringComparison.Ordinal);
        Assert.Contains("refused: notes.jpg", ingest.Stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(dir.Combine("data", "runs", "run-1.json")));

        var list = await CliProcess.RunAsync([.. common, "runs", "list"]);
        Assert.Equal(ExitCodes.Ok, list.ExitCode);
        Assert.Contains("completed", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("folder", list.Stdout, StringComparison.Ordinal);

        var show = await CliProcess.RunAsync([.. common, "runs", "show", "1"]);
        Assert.Equal(ExitCodes.Ok, show.ExitCode);
        Assert.Contains("notes.jpg", show.Stdout, StringComparison.Ordinal);

        var json = await CliProcess.RunAsync([.. common, "runs", "show", "1", "--json"]);
        Assert.Equal(ExitCodes.Ok, json.ExitCode);
        using var report = JsonDocument.Parse(json.Stdout);
        Assert.Equal(3, report.RootElement.GetProperty("counts").GetProperty("items").GetInt64());
        Assert.Equal(2, report.RootElement.GetProperty("counts").GetProperty("ingested").GetInt64());
        using (var stats = JsonDocument.Parse((await CliProcess.RunAsync([.. common, "stats", "--json"])).Stdout))
        {
            Assert.Equal("DE", stats.RootElement.GetProperty("collections")[0].GetProperty("jurisdiction").GetString());
        }

        var problem = Assert.Single(report.RootElement.GetProperty("problems").EnumerateArray());
        Assert.Equal("notes.jpg", problem.GetProperty("name").GetString());
        Assert.Equal("refused", problem.GetProperty("status").GetString());

        var all = await CliProcess.RunAsync([.. common, "runs", "show", "1", "--all"]);
        Assert.Contains("Tiger_Woods_0001.jpg", all.Stdout, StringComparison.Ordinal);

        var unknown = await CliProcess.RunAsync([.. common, "runs", "show", "99"]);
        Assert.Equal(ExitCodes.NotFound, unknown.ExitCode);
        Assert.Contains("99", unknown.Stderr, StringComparison.Ordinal);

        var finished = await CliProcess.RunAsync([.. common, "ingest", "--resume", "1"]);
        Assert.Equal(ExitCodes.BadInput, finished.ExitCode);
        Assert.Contains("only an interrupted or failed run can be resumed", finished.Stderr, StringComparison.Ordinal);
        var both = await CliProcess.RunAsync([.. common, "ingest", gallery, "--resume", "1"]);
        Assert.Equal(ExitCodes.BadInput, both.ExitCode);

        // The same folder again is a new run in which every photo is a duplicate.
        var again = await CliProcess.RunAsync([.. common, "ingest", gallery, "--collection", "c", "--lawful-basis", "test", "--jurisdiction", "DE"]);
        Assert.Contains("Ingest run 2", again.Stdout, StringComparison.Ordinal);
        using var second = JsonDocument.Parse(await File.ReadAllTextAsync(dir.Combine("data", "runs", "run-2.json")));
        Assert.Equal(2, second.RootElement.GetProperty("counts").GetProperty("duplicates").GetInt64());
    }

    [SkippableFact]
    public async Task A_killed_run_is_resumed_by_id_and_a_second_ingest_on_the_same_data_waits_its_turn()
    {
        using var dir = new TempDirectory("resume-cli");
        await TestPaths.ModelsAsync();
        // Enough photos (several seconds of work) that the run is still going when the busy check and the kill come,
        // even when a loaded machine is slow to start the second process.
        var photos = Engines.Identities.Keys.Where(k => k.StartsWith("lfw_deepfunneled/", StringComparison.Ordinal)).Take(400).ToArray();
        var gallery = Engines.Gallery(dir, "gallery", photos);
        var data = dir.Combine("data");
        string[] common = ["--data", data, "--models", TestPaths.ModelCache];
        string[] ingest = [.. common, "ingest", gallery, "--collection", "c", "--lawful-basis", "test", "--jurisdiction", "DE"];

        using (var process = Process.Start(CliProcess.StartInfo(ingest))!)
        {
            var started = new TaskCompletionSource();
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data?.StartsWith("Ingest run", StringComparison.Ordinal) == true)
                {
                    started.TrySetResult();
                }
            };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await started.Task.WaitAsync(TimeSpan.FromMinutes(2));

            // While it runs, a second ingest into the same data directory is turned away.
            var busy = await CliProcess.RunAsync(ingest);
            Assert.Equal(ExitCodes.Busy, busy.ExitCode);
            Assert.Contains(data, busy.Stderr, StringComparison.Ordinal);

            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        // Its process is gone, so the run is shown as interrupted (whoever can take the ingest lock says so).
        var list = await CliProcess.RunAsync([.. common, "runs", "list"]);
        Assert.Contains("interrupted", list.Stdout, StringComparison.Ordinal);

        var resumed = await CliProcess.RunAsync([.. common, "ingest", "--resume", "1"]);
        Assert.Equal(ExitCodes.Ok, resumed.ExitCode);
        Assert.Contains("Resuming ingest run 1", resumed.Stdout, StringComparison.Ordinal);
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(data, "runs", "run-1.json")));
        var run = report.RootElement.GetProperty("run");
        Assert.Equal("completed", run.GetProperty("status").GetString());
        Assert.Equal(1, run.GetProperty("resumes").GetInt32());
        // Every photo is accounted for exactly once across the killed and the resumed part (not every one of these
        // 400 LFW photos ends up "ingested": one is catalogued as a near-duplicate or without a face).
        var counts = report.RootElement.GetProperty("counts");
        Assert.Equal(photos.Length, run.GetProperty("itemsDone").GetInt64());
        Assert.Equal(photos.Length, counts.GetProperty("ingested").GetInt64() + counts.GetProperty("nearDuplicates").GetInt64()
            + counts.GetProperty("duplicates").GetInt64() + counts.GetProperty("noFace").GetInt64());
        Assert.Equal(0, counts.GetProperty("failed").GetInt64());
    }
}
