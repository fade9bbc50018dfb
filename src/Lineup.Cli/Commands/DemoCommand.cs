using System.CommandLine;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup demo</c>: the whole job on a small sample gallery, on any machine with npm. The sample photos
/// are the demo images of the npm package <c>@vladmandic/face-api@1.7.15</c> (MIT); they are fetched into
/// the data directory, never committed.
/// </summary>
public static class DemoCommand
{
    private const string SamplePackage = "@vladmandic/face-api@1.7.15";
    private const string SampleTarball = "vladmandic-face-api-1.7.15.tgz";

    /// <summary>ISO 3166 user-assigned code for "unspecified": the demo runs wherever its user is.</summary>
    private const string DemoJurisdiction = "ZZ";

    public static Command Build()
    {
        var from = new Option<string?>("--from") { Description = $"A local copy of {SampleTarball} (for machines without npm)" };
        var command = new Command("demo", "Fetch models and sample photos, ingest them and run a search: the whole job end to end") { from };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var progress = GlobalOptions.Progress(parse);
            await using var engine = await LineupEngine.OpenAsync(options, progress, ct);
            var samples = await IngestSamplesAsync(engine, parse.GetValue(from), progress, parse.GetValue(GlobalOptions.Quiet), ct);

            var probe = Path.Combine(samples, "sample1.jpg");
            AnsiConsole.MarkupLineInterpolated($"\nSearching the gallery with {probe}:");
            var result = await engine.SearchAsync(new SearchRequest(await File.ReadAllBytesAsync(probe, ct), probe) { Top = 5 }, ct);
            var table = new Table().AddColumns("rank", "similarity", "est. FMR", "photo", "face box");
            foreach (var c in result.Candidates)
            {
                table.AddRow(c.Rank.ToString(), c.Similarity.ToString("0.000"), c.EstimatedFmr is { } fmr ? SearchCommands.Rate(fmr) : "–",
                    Markup.Escape(Path.GetFileName(c.Image.Provenance.OriginalPath ?? c.Image.Id.ToString())), c.Face.Box.ToString());
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine("[grey]Candidates are investigative leads, not identifications.[/]");
            AnsiConsole.MarkupLineInterpolated($"Gallery in {options.FullDataDirectory}. Try: lineup --data {options.DataDirectory} search <photo>");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>
    /// Fetches the sample photos into <c>&lt;data&gt;/samples</c> (once) and ingests them into the collection "samples"
    /// (again only what is new); returns the folder. Shared by <c>demo</c> and <c>serve --sample</c>.
    /// </summary>
    public static async Task<string> IngestSamplesAsync(LineupEngine engine, string? from, IProgress<string> progress, bool quiet, CancellationToken ct)
    {
        var samples = Path.Combine(engine.Options.FullDataDirectory, "samples");
        await FetchSamplesAsync(samples, from, progress, ct);
        var collection = await engine.Catalog.EnsureCollectionAsync(
            "samples", $"public demo images from the npm package {SamplePackage} (MIT)", DemoJurisdiction, ct);
        var ingested = await IngestCommand.RunWithProgressAsync(
            engine, observer => engine.IngestAsync(new FolderSource(samples, engine.Options.Limits.MaxBytes), collection, observer, true, ct), quiet);
        IngestCommand.PrintSummary(ingested);
        return samples;
    }

    private static async Task FetchSamplesAsync(string samples, string? from, IProgress<string> progress, CancellationToken ct)
    {
        if (Directory.Exists(samples) && Directory.EnumerateFiles(samples, "sample*.jpg").Any())
        {
            return;
        }

        var staging = samples + ".staging";
        Directory.CreateDirectory(staging);
        try
        {
            var tarball = from;
            if (tarball is null)
            {
                progress.Report($"npm pack {SamplePackage} (sample photos)…");
                using var npm = Process.Start(new ProcessStartInfo("npm", ["pack", SamplePackage, "--pack-destination", staging, "--silent"])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                }) ?? throw new InvalidOperationException("npm could not be started.");
                var stderr = npm.StandardError.ReadToEndAsync(ct);
                await npm.StandardOutput.ReadToEndAsync(ct);
                await npm.WaitForExitAsync(ct);
                if (npm.ExitCode != 0)
                {
                    throw new InvalidOperationException($"npm pack {SamplePackage} failed: {(await stderr).Trim()}. Use --from <{SampleTarball}>.");
                }

                tarball = Path.Combine(staging, SampleTarball);
            }

            await using (var file = File.OpenRead(tarball))
            await using (var gzip = new GZipStream(file, CompressionMode.Decompress))
            using (var reader = new TarReader(gzip))
            {
                while (await reader.GetNextEntryAsync(cancellationToken: ct) is { } entry)
                {
                    var name = entry.Name;
                    if (name.StartsWith("package/demo/sample", StringComparison.Ordinal) && name.EndsWith(".jpg", StringComparison.Ordinal))
                    {
                        await entry.ExtractToFileAsync(Path.Combine(staging, Path.GetFileName(name)), overwrite: true, ct);
                    }
                }
            }

            if (tarball.StartsWith(staging, StringComparison.Ordinal))
            {
                File.Delete(tarball);
            }

            if (Directory.Exists(samples))
            {
                Directory.Delete(samples, recursive: true);
            }

            Directory.Move(staging, samples);
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }
}
