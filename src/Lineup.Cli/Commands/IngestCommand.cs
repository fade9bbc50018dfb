using System.CommandLine;
using Lineup.Hosting;
using Lineup.Ingest;
using Lineup.Ingest.Sources;
using Spectre.Console;

namespace Lineup.Cli.Commands;

public static class IngestCommand
{
    public static Command Build()
    {
        var folder = new Argument<string>("folder") { Description = "Folder of photos (searched recursively; formats are sniffed from content)" };
        var collection = new Option<string>("--collection") { Description = "Collection the photos belong to", Required = true };
        var lawfulBasis = new Option<string>("--lawful-basis") { Description = "Lawful basis for processing these photos (recorded with the collection)", Required = true };
        var jurisdiction = new Option<string?>("--jurisdiction") { Description = "Jurisdiction, ISO 3166 country code (e.g. DE)" };
        var workers = new Option<int?>("--workers") { Description = "Analysis workers (default: number of cores)" };
        var command = new Command("ingest", "Add a folder of photos to the gallery: detect, embed, catalog and index every face")
        {
            folder, collection, lawfulBasis, jurisdiction, workers,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            if (parse.GetValue(workers) is { } w)
            {
                options.Workers = w;
            }

            var progress = GlobalOptions.Progress(parse);
            var root = parse.GetValue(folder)!;
            if (!Directory.Exists(root))
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, $"{root}: no such folder.");
            }

            var basis = parse.GetValue(lawfulBasis)!.Trim();
            if (basis.Length == 0)
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, "--lawful-basis must say why these photos may be processed.");
            }

            await using var engine = await LineupEngine.OpenAsync(options, progress, ct);
            var target = await engine.Catalog.EnsureCollectionAsync(parse.GetValue(collection)!, basis, parse.GetValue(jurisdiction), ct);
            var summary = await RunWithProgressAsync(engine, new FolderSource(root, options.Limits.MaxBytes), target, parse.GetValue(GlobalOptions.Quiet), ct);
            PrintSummary(summary);
            return summary.Refused + summary.Failed > 0 ? ExitCodes.Partial : ExitCodes.Ok;
        }));
        return command;
    }

    internal static async Task<IngestSummary> RunWithProgressAsync(
        LineupEngine engine, IIngestSource source, Core.Catalog.Collection collection, bool quiet, CancellationToken ct)
    {
        var problems = new List<IngestOutcome>();
        IngestSummary? summary = null;
        if (quiet || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            var count = 0;
            summary = await engine.IngestAsync(source, collection, outcome =>
            {
                count++;
                if (outcome.Status is IngestStatus.Refused or IngestStatus.Failed)
                {
                    problems.Add(outcome);
                }

                if (!quiet && count % 100 == 0)
                {
                    Console.WriteLine($"  {count} photos processed…");
                }
            }, ct);
        }
        else
        {
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new SpinnerColumn(), new ElapsedTimeColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask("ingesting").IsIndeterminate();
                    var count = 0;
                    summary = await engine.IngestAsync(source, collection, outcome =>
                    {
                        count++;
                        task.Description = $"ingesting: {count} photos";
                        if (outcome.Status is IngestStatus.Refused or IngestStatus.Failed)
                        {
                            problems.Add(outcome);
                        }
                    }, ct);
                    task.StopTask();
                });
        }

        foreach (var problem in problems)
        {
            Console.Error.WriteLine($"{problem.Status.ToString().ToLowerInvariant()}: {problem.Reason}");
        }

        return summary!;
    }

    internal static void PrintSummary(IngestSummary s)
    {
        var table = new Table().AddColumns("ingest", "count");
        table.AddRow("photos", s.Items.ToString());
        table.AddRow("stored with faces", s.Ingested.ToString());
        table.AddRow("stored, no face", s.NoFace.ToString());
        table.AddRow("duplicates (same bytes)", s.Duplicates.ToString());
        table.AddRow("refused", s.Refused.ToString());
        table.AddRow("failed", s.Failed.ToString());
        table.AddRow("faces", s.Faces.ToString());
        table.AddRow("seconds", s.Elapsed.TotalSeconds.ToString("0.0"));
        table.AddRow("photos/s", s.ImagesPerSecond.ToString("0.0"));
        AnsiConsole.Write(table);
    }
}
