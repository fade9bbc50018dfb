using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Lineup.Core.Imaging;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup bench</c>: end-to-end measurements. The machine is shared and noisy, so every figure comes
/// with a baseline measured in the same run (here: decoding the same photos with the same workers).
/// </summary>
public static class BenchCommands
{
    public static Command Build()
    {
        var folder = new Argument<string>("folder") { Description = "Folder of photos to ingest" };
        var workers = new Option<int?>("--workers") { Description = "Analysis workers (default: number of cores)" };
        var json = new Option<string?>("--json") { Description = "Also write the results to this JSON file" };
        var ingest = new Command("ingest", "Ingest a folder into a fresh temporary data directory and report throughput and per-stage medians")
        {
            folder, workers, json,
        };
        ingest.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var root = parse.GetValue(folder)!;
            if (!Directory.Exists(root))
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, $"{root}: no such folder.");
            }

            var options = GlobalOptions.Resolve(parse);
            var scratch = Path.Combine(Path.GetTempPath(), $"lineup-bench-{Guid.NewGuid():N}");
            options.ModelsDirectory = options.FullModelsDirectory;
            options.DataDirectory = scratch;
            if (parse.GetValue(workers) is { } w)
            {
                options.Workers = w;
            }

            try
            {
                return await RunIngestAsync(options, root, parse.GetValue(json), GlobalOptions.Progress(parse), ct);
            }
            finally
            {
                Directory.Delete(scratch, recursive: true);
            }
        }));
        return new Command("bench", "Benchmarks (figures with a same-run baseline)") { ingest };
    }

    private static async Task<int> RunIngestAsync(LineupOptions options, string root, string? jsonPath, IProgress<string> progress, CancellationToken ct)
    {
        await using var engine = await LineupEngine.OpenAsync(options, progress, ct);

        // Baseline: read and decode every photo with the same number of workers, no models.
        progress.Report($"baseline: decoding every photo in {root} with {options.Workers} workers…");
        var files = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).ToList();
        var decoder = engine.Decoder;
        var decodeClock = Stopwatch.StartNew();
        var decoded = 0;
        await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = options.Workers, CancellationToken = ct }, async (file, c) =>
        {
            var bytes = await File.ReadAllBytesAsync(file, c);
            try
            {
                using var image = decoder.Decode(bytes, options.Limits);
                Interlocked.Increment(ref decoded);
            }
            catch (ImageRejectedException)
            {
            }
        });
        var decodeRate = decoded / decodeClock.Elapsed.TotalSeconds;

        progress.Report($"ingest: {files.Count} files with {options.Workers} workers…");
        var collection = await engine.Catalog.EnsureCollectionAsync("bench", "benchmark run on local test photos", null, ct);
        var summary = await engine.IngestAsync(new FolderSource(root, options.Limits.MaxBytes), collection, null, ct);

        var table = new Table().AddColumns("measure", "value");
        table.AddRow("photos", summary.Items.ToString());
        table.AddRow("faces", summary.Faces.ToString());
        table.AddRow("workers", options.Workers.ToString());
        table.AddRow("[bold]ingest photos/s[/]", summary.ImagesPerSecond.ToString("0.0"));
        table.AddRow("[bold]ingest faces/s[/]", summary.FacesPerSecond.ToString("0.0"));
        table.AddRow("baseline decode-only photos/s", decodeRate.ToString("0.0"));
        table.AddRow("ingest / decode-only", (summary.ImagesPerSecond / decodeRate).ToString("0.00"));
        var m = summary.MedianTimings;
        table.AddRow("median decode ms", m.DecodeMs.ToString("0.0"));
        table.AddRow("median detect ms", m.DetectMs.ToString("0.0"));
        table.AddRow("median landmarks ms", m.LandmarksMs.ToString("0.0"));
        table.AddRow("median align ms", m.AlignMs.ToString("0.0"));
        table.AddRow("median embed ms", m.EmbedMs.ToString("0.0"));
        table.AddRow("refused / failed", $"{summary.Refused} / {summary.Failed}");
        AnsiConsole.Write(table);
        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new
            {
                summary,
                summary.ImagesPerSecond,
                summary.FacesPerSecond,
                baselineDecodePerSecond = decodeRate,
                workers = options.Workers,
            }, SearchCommands.Json), ct);
        }

        return ExitCodes.Ok;
    }
}
