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
            await EnsureSampleCaseAsync(engine, DemoUser, createUser: true, progress, ct);
            var result = await engine.SearchAsync(
                new SearchRequest(await File.ReadAllBytesAsync(probe, ct), probe)
                {
                    Top = 5, By = DemoUser, CaseNumber = SampleCase, ProbeSource = Core.Oversight.ProbeSources.Other,
                },
                ct);
            var table = new Table().AddColumns("rank", "similarity", "est. FMR", "photo", "face box");
            foreach (var c in result.Candidates)
            {
                table.AddRow(c.Rank.ToString(), c.Similarity.ToString("0.000"), c.EstimatedFmr is { } fmr ? SearchCommands.Rate(fmr) : "–",
                    Markup.Escape(Path.GetFileName(c.Image.Provenance.OriginalPath ?? c.Image.Id.ToString())), c.Face.Box.ToString());
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine("[grey]Candidates are investigative leads, not identifications.[/]");
            AnsiConsole.MarkupLineInterpolated(
                $"Gallery in {options.FullDataDirectory}. Try: lineup --data {options.DataDirectory} search <photo> --case {SampleCase} --source other --as {DemoUser}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The case the sample gallery is searched under (demo and <c>serve --sample</c>).</summary>
    public const string SampleCase = "SAMPLE-1";

    /// <summary>The analyst <c>lineup demo</c> searches as.</summary>
    public const string DemoUser = "demo-analyst";

    /// <summary>
    /// Opens the sample case (once) and assigns <paramref name="user"/> to it. A sample needs someone who may search, so
    /// a user without a recorded NDA or training is marked current for 30 days — said on the console, and audited as
    /// every clearance change is; on a real installation the operator records them (<c>lineup users clearance</c>).
    /// </summary>
    public static async Task EnsureSampleCaseAsync(LineupEngine engine, string user, bool createUser, IProgress<string> progress, CancellationToken ct)
    {
        const string by = "sample-setup";
        var now = engine.Options.Clock.GetUtcNow();
        var account = await engine.Users.FindUserAsync(user, ct);
        if (account is null)
        {
            if (!createUser)
            {
                return;
            }

            account = await engine.Users.AddUserAsync(user, "Sample analyst", [Core.Security.Role.Analyst], null, ct);
        }

        if (account.NdaUntil is null || account.TrainingUntil is null)
        {
            await engine.Cases.SetClearanceAsync(user, account.NdaUntil ?? now.AddDays(30), account.TrainingUntil ?? now.AddDays(30), by, ct);
            progress.Report($"Sample only: {user}'s NDA and training recorded as current for 30 days (record real ones with `lineup users clearance`).");
        }

        if (await engine.Cases.FindCaseAsync(SampleCase, ct) is null)
        {
            await engine.Cases.OpenCaseAsync(
                new Core.Oversight.NewCase(SampleCase, "missing-person", "Trying Lineup on its sample gallery", "SAMPLE-AUTHORISATION", now.AddDays(30)), by, ct);
            progress.Report($"Opened case {SampleCase} (missing-person, authorised for 30 days) for searching the sample gallery.");
        }

        await engine.Cases.AssignAsync(SampleCase, user, by, ct);
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
