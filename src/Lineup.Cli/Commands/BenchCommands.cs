using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Lineup.Core.Imaging;
using Lineup.Hosting;
using Lineup.Ingest;
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
        var folder = new Argument<string>("source") { Description = "Photos to ingest: a folder, archive, WARC file or manifest" };
        var workers = new Option<string?>("--workers")
        {
            Description = "Comma-separated worker counts to measure, each on a fresh gallery (default: 1 and the number of cores)",
        };
        var json = new Option<string?>("--json") { Description = "Also write the results to this JSON file" };
        var ingest = new Command("ingest", "Ingest into fresh temporary data directories with 1 and N workers; report throughput, the scaling ratio and per-stage medians")
        {
            folder, workers, json,
        };
        ingest.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var counts = ParseWorkers(parse.GetValue(workers));
            return await RunIngestAsync(options, parse.GetValue(folder)!, counts, parse.GetValue(json), GlobalOptions.Progress(parse), ct);
        }));
        return new Command("bench", "Benchmarks (figures with a same-run baseline)") { ingest, BenchLoadCommands.BuildGallery(), BenchLoadCommands.BuildLoad(), NetworkBench.Build(), BenchWorkersCommand.Build(), BenchGarnetCommand.Build(), BenchIndexCommand.Build(), BenchIndexCommand.BuildOpen() };
    }

    private static int[] ParseWorkers(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Environment.ProcessorCount > 1 ? [1, Environment.ProcessorCount] : [1];
        }

        var counts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(t => int.TryParse(t, out var n) && n is >= 1 and <= 256 ? n : throw new ArgumentException($"--workers: '{t}' is not a worker count (1-256)."))
            .ToArray();
        return counts.Length > 0 ? counts : throw new ArgumentException("--workers: give at least one worker count.");
    }

    private sealed record Measurement(int Workers, IngestSummary Summary);

    private static async Task<int> RunIngestAsync(LineupOptions options, string path, int[] workerCounts, string? jsonPath, IProgress<string> progress, CancellationToken ct)
    {
        options.ModelsDirectory = options.FullModelsDirectory;
        var limits = options.SourceLimits;
        var source = IngestSources.Open(path, limits);

        // Baseline: read and decode every item with as many workers as the largest measurement, no models.
        var baselineWorkers = workerCounts.Max();
        progress.Report($"baseline: decoding every image of {source.Description} with {baselineWorkers} workers…");
        var baselineRate = await DecodeRateAsync(options, source, baselineWorkers, ct);

        var measurements = new List<Measurement>();
        foreach (var count in workerCounts)
        {
            var scratch = Path.Combine(Path.GetTempPath(), $"lineup-bench-{Guid.NewGuid():N}");
            options.DataDirectory = scratch;
            options.Workers = count;
            try
            {
                await using var engine = await LineupEngine.OpenAsync(options, progress, ct);
                progress.Report($"ingest with {count} worker(s)…");
                var collection = await engine.Catalog.EnsureCollectionAsync("bench", "benchmark run on local test photos", "ZZ", ct);
                var result = await engine.IngestAsync(IngestSources.Open(path, limits), collection, null, false, ct);
                measurements.Add(new Measurement(count, result.Summary));
            }
            finally
            {
                Directory.Delete(scratch, recursive: true);
            }
        }

        var table = new Table().AddColumns(["measure", .. measurements.Select(m => $"{m.Workers} worker(s)")]);
        void Row(string name, Func<Measurement, string> value) => table.AddRow([name, .. measurements.Select(value)]);
        Row("items", m => m.Summary.Items.ToString("N0"));
        Row("faces", m => m.Summary.Faces.ToString("N0"));
        Row("[bold]items/s[/]", m => m.Summary.ImagesPerSecond.ToString("0.0"));
        Row("[bold]faces/s[/]", m => m.Summary.FacesPerSecond.ToString("0.0"));
        var one = measurements.FirstOrDefault(m => m.Workers == 1);
        if (one is not null)
        {
            Row("[bold]speed-up over 1 worker[/]", m => (m.Summary.ImagesPerSecond / one.Summary.ImagesPerSecond).ToString("0.00"));
        }

        Row($"ratio to decode-only baseline ({baselineRate:0.0} items/s, {baselineWorkers} workers)", m => (m.Summary.ImagesPerSecond / baselineRate).ToString("0.000"));
        Row("median decode ms", m => m.Summary.MedianTimings.DecodeMs.ToString("0.0"));
        Row("median detect ms", m => m.Summary.MedianTimings.DetectMs.ToString("0.0"));
        Row("median landmarks ms", m => m.Summary.MedianTimings.LandmarksMs.ToString("0.0"));
        Row("median align ms", m => m.Summary.MedianTimings.AlignMs.ToString("0.0"));
        Row("median embed ms", m => m.Summary.MedianTimings.EmbedMs.ToString("0.0"));
        Row("refused / failed", m => $"{m.Summary.Refused} / {m.Summary.Failed}");
        AnsiConsole.Write(table);
        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new
            {
                source = source.Description,
                baselineDecodePerSecond = baselineRate,
                baselineWorkers,
                measurements = measurements.Select(m => new
                {
                    m.Workers,
                    m.Summary,
                    m.Summary.ImagesPerSecond,
                    m.Summary.FacesPerSecond,
                    speedUp = one is null ? (double?)null : m.Summary.ImagesPerSecond / one.Summary.ImagesPerSecond,
                }),
            }, SearchCommands.Json), ct);
        }

        return ExitCodes.Ok;
    }

    /// <summary>Items per second when only reading and decoding (the same source, no models): the run's yardstick.</summary>
    private static async Task<double> DecodeRateAsync(LineupOptions options, IIngestSource source, int workers, CancellationToken ct)
    {
        var decoder = new Vision.Imaging.SkiaImageDecoder();
        var clock = Stopwatch.StartNew();
        var decoded = 0;
        await Parallel.ForEachAsync(source.ReadAsync(ct), new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct }, async (item, c) =>
        {
            try
            {
                var bytes = await item.ReadAsync(c);
                using var image = decoder.Decode(bytes, options.Limits);
                Interlocked.Increment(ref decoded);
            }
            catch (Exception e) when (e is ImageRejectedException or IngestItemRefusedException or IngestItemFailedException or IOException)
            {
            }
        });
        return decoded / clock.Elapsed.TotalSeconds;
    }
}
