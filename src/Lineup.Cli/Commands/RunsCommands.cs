using System.CommandLine;
using System.Text.Json;
using Lineup.Core.Catalog;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary><c>lineup runs list|show</c>: the recorded ingest runs and what happened to their items.</summary>
public static class RunsCommands
{
    public static Command Build()
    {
        var limit = new Option<int>("--limit") { Description = "Most runs to list, newest first", DefaultValueFactory = _ => 50 };
        var list = new Command("list", "List ingest runs, newest first") { limit };
        list.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            await using var engine = await LineupEngine.OpenAsync(GlobalOptions.Resolve(parse), GlobalOptions.Progress(parse), ct);
            var runs = await engine.Ledger.ListRunsAsync(parse.GetValue(limit), ct);
            var collections = (await engine.Catalog.ListCollectionsAsync(ct)).ToDictionary(c => c.Id, c => c.Name);
            var table = new Table().AddColumns("run", "status", "items", "collection", "kind", "source", "started", "updated");
            foreach (var run in runs)
            {
                table.AddRow(
                    run.Id.ToString(),
                    run.Status.ToString().ToLowerInvariant(),
                    run.TotalItems is { } total ? $"{run.ItemsDone:N0}/{total:N0}" : run.ItemsDone.ToString("N0"),
                    Markup.Escape(collections.GetValueOrDefault(run.CollectionId, "?")),
                    run.SourceKind,
                    Markup.Escape(run.Source),
                    run.StartedAt.ToString("u"),
                    run.UpdatedAt.ToString("u"));
            }

            AnsiConsole.Write(table);
            if (runs.Any(r => r.Status is IngestRunStatus.Interrupted or IngestRunStatus.Failed))
            {
                AnsiConsole.MarkupLine("[grey]Continue an interrupted or failed run with: lineup ingest --resume RUN[/]");
            }

            return ExitCodes.Ok;
        }));

        var runId = new Argument<long>("run") { Description = "Run id (see `lineup runs list`)" };
        var json = new Option<bool>("--json") { Description = "Print the run's full JSON report" };
        var all = new Option<bool>("--all") { Description = "List every item, not only the refused and failed ones" };
        var show = new Command("show", "Show one run: totals, and the items that were refused or failed with their reasons") { runId, json, all };
        show.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            await using var engine = await LineupEngine.OpenAsync(GlobalOptions.Resolve(parse), GlobalOptions.Progress(parse), ct);
            var id = parse.GetValue(runId);
            if (await engine.Ledger.GetRunAsync(id, ct) is null)
            {
                return GlobalOptions.Fail(ExitCodes.NotFound, $"ingest run {id} does not exist (see `lineup runs list`).");
            }

            var report = await IngestReport.BuildAsync(engine.Catalog, engine.Ledger, id, null, ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(report, IngestReport.Json));
                return ExitCodes.Ok;
            }

            var run = report.Run;
            var c = report.Counts;
            var table = new Table().AddColumns($"run {run.Id}", "");
            table.AddRow("status", run.Status.ToString().ToLowerInvariant() + (run.Error is { } error ? $": {Markup.Escape(error)}" : ""));
            table.AddRow("source", $"{Markup.Escape(run.Source)} ({run.SourceKind})");
            table.AddRow("collection", Markup.Escape(report.Collection));
            table.AddRow("items done", run.TotalItems is { } total ? $"{run.ItemsDone:N0} of {total:N0}" : run.ItemsDone.ToString("N0"));
            table.AddRow("stored with faces / no face", $"{c.Ingested:N0} / {c.NoFace:N0}");
            table.AddRow("duplicates / near-duplicates", $"{c.Duplicates:N0} / {c.NearDuplicates:N0}");
            table.AddRow("refused / failed", $"{c.Refused:N0} / {c.Failed:N0}");
            table.AddRow("faces", c.Faces.ToString("N0"));
            table.AddRow("started / updated", $"{run.StartedAt:u} / {run.UpdatedAt:u}");
            table.AddRow("resumed", $"{run.Resumes} time(s)");
            AnsiConsole.Write(table);

            var items = parse.GetValue(all) ? await engine.Ledger.GetRunItemsAsync(id, null, int.MaxValue, ct) : report.Problems;
            foreach (var item in items)
            {
                var detail = item.Reason ?? (item.Faces > 0 ? $"{item.Faces} face(s), image {item.ImageId}" : $"image {item.ImageId}");
                Console.WriteLine($"{item.Sequence + 1,8}  {IngestCommand.Label(item.Status),-14}  {item.Name}  {detail}");
            }

            return ExitCodes.Ok;
        }));

        return new Command("runs", "Recorded ingest runs: list them, inspect one") { list, show };
    }
}
