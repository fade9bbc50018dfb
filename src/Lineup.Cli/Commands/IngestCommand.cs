using System.CommandLine;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Lineup.Core.Catalog;
using Lineup.Hosting;
using Lineup.Ingest;
using Lineup.Ingest.Sources;
using Spectre.Console;

namespace Lineup.Cli.Commands;

public static partial class IngestCommand
{
    /// <summary>Problems printed at the end of a run; the JSON report lists them all.</summary>
    private const int ProblemsShown = 50;

    public static Command Build()
    {
        var source = new Argument<string?>("source")
        {
            Description = "A folder (recursive), a zip or tar(.gz) archive, a WARC(.gz) file, or a .csv/.jsonl manifest",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var collection = new Option<string?>("--collection") { Description = "Collection the images belong to (required for a new run)" };
        var lawfulBasis = new Option<string?>("--lawful-basis") { Description = "Lawful basis for processing these images, recorded with the collection (required)" };
        var jurisdiction = new Option<string?>("--jurisdiction") { Description = "Jurisdiction whose law the basis rests on: ISO 3166 code, e.g. DE or US-IL (required)" };
        var workers = new Option<int?>("--workers") { Description = "Analysis workers (default: number of cores)" };
        var resume = new Option<long?>("--resume") { Description = "Continue the interrupted or failed run with this id (its source and collection are recorded)" };
        var newRun = new Option<bool>("--new-run") { Description = "Start a new run even if an earlier run of this source was interrupted" };
        var queue = new Option<bool>("--queue")
        {
            Description = "Distributed backend: queue the run's items for `lineup worker` processes instead of analysing them here",
        };
        var command = new Command("ingest", "Add images to the gallery as a recorded, resumable run: detect, embed, catalog and index every face")
        {
            source, collection, lawfulBasis, jurisdiction, workers, resume, newRun, queue,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            if (parse.GetValue(workers) is { } w)
            {
                options.Workers = w;
            }

            var quiet = parse.GetValue(GlobalOptions.Quiet);
            if (parse.GetValue(queue))
            {
                // Checked before the engine opens: on the embedded backend it would create the data directory, its
                // catalog and the collection, and only then find there is no queue (an InvalidOperationException, exit 1).
                if (!options.IsDistributed)
                {
                    return GlobalOptions.Fail(ExitCodes.BadInput,
                        "--queue needs the distributed backend: give --backend distributed with --postgres and --garnet (or Lineup:Backend in configuration); " +
                        "without it, `lineup ingest` analyses the source in this process.");
                }

                if (parse.GetValue(resume) is not null)
                {
                    return GlobalOptions.Fail(ExitCodes.BadInput,
                        "--queue starts a new run for workers and --resume continues a run in this process: give one or the other.");
                }
            }

            if (parse.GetValue(resume) is { } runId)
            {
                if (parse.GetValue(source) is not null)
                {
                    return GlobalOptions.Fail(ExitCodes.BadInput, "--resume continues a recorded run with its own source; give no source with it.");
                }

                await using var resuming = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
                return Report(await RunWithProgressAsync(resuming, observer => resuming.ResumeAsync(runId, observer, ct), quiet));
            }

            var path = parse.GetValue(source);
            if (path is null)
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, "give a source to ingest (a folder, archive, WARC file or manifest), or --resume RUN.");
            }

            var name = parse.GetValue(collection)?.Trim();
            var basis = parse.GetValue(lawfulBasis)?.Trim();
            var place = parse.GetValue(jurisdiction)?.Trim().ToUpperInvariant();
            if (string.IsNullOrEmpty(name) || string.IsNullOrEmpty(basis) || string.IsNullOrEmpty(place))
            {
                return GlobalOptions.Fail(ExitCodes.BadInput,
                    "every gallery image must carry its legal basis: give --collection, --lawful-basis (why these images may be processed) " +
                    "and --jurisdiction (e.g. DE, GB, US-IL).");
            }

            if (!Jurisdiction().IsMatch(place))
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, $"--jurisdiction '{place}' is not an ISO 3166 code such as DE, GB or US-IL.");
            }

            var input = IngestSources.Open(path, options.SourceLimits);
            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            var target = await engine.Catalog.EnsureCollectionAsync(name, basis, place, ct);
            if (parse.GetValue(queue))
            {
                var queued = await engine.QueueAsync(input, target, null, ct);
                if (!quiet)
                {
                    AnsiConsole.MarkupLineInterpolated(
                        $"Queued run [bold]{queued.Id}[/]: {queued.TotalItems ?? 0:N0} items of {input.Description} for workers (`lineup worker`).");
                }
                else
                {
                    Console.WriteLine(queued.Id);
                }

                return ExitCodes.Ok;
            }

            return Report(await RunWithProgressAsync(engine, observer => engine.IngestAsync(input, target, observer, !parse.GetValue(newRun), ct), quiet));
        }));
        return command;
    }

    [GeneratedRegex("^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]
    private static partial Regex Jurisdiction();

    private static int Report(IngestRunResult result)
    {
        PrintSummary(result);
        return result.Counts.Problems > 0 ? ExitCodes.Partial : ExitCodes.Ok;
    }

    /// <summary>
    /// Runs an ingest with a live progress bar (items/s, faces/s, ETA) on a terminal, or a progress line every
    /// few seconds otherwise; refused and failed items are listed when it ends.
    /// </summary>
    internal static async Task<IngestRunResult> RunWithProgressAsync(LineupEngine engine, Func<IngestObserver, Task<IngestRunResult>> ingest, bool quiet)
    {
        var problems = new List<IngestOutcome>();
        var problemCount = 0;
        var clock = Stopwatch.StartNew();
        long done = 0, faces = 0, skipped = 0;
        long? total = null;
        IngestRun? current = null;

        string Line()
        {
            var seconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-3);
            var rate = done / seconds;
            var position = skipped + done;
            var of = total is { } t ? $"{position:N0}/{t:N0}" : $"{position:N0}";
            var eta = total is { } n && rate > 0 ? $", ETA {TimeSpan.FromSeconds((n - position) / rate):hh\\:mm\\:ss}" : "";
            return $"run {current?.Id}: {of} items, {rate:0.0} items/s, {faces / seconds:0.0} faces/s{eta}";
        }

        void OnItem(IngestOutcome outcome)
        {
            done++;
            faces += outcome.Faces;
            if (outcome.Status is IngestStatus.Refused or IngestStatus.Failed)
            {
                problemCount++;
                if (problems.Count < ProblemsShown)
                {
                    problems.Add(outcome);
                }
            }
        }

        void OnStarted(IngestRun run, bool resumed)
        {
            current = run;
            skipped = run.ItemsDone;
            total = run.TotalItems;
            if (!quiet)
            {
                Console.WriteLine(resumed
                    ? $"Resuming ingest run {run.Id} of {run.Source}: {run.ItemsDone:N0} items were already done."
                    : $"Ingest run {run.Id}: {run.Source} ({run.SourceKind}).");
            }
        }

        IngestRunResult result;
        if (quiet || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            var lastLine = Stopwatch.StartNew();
            result = await ingest(new IngestObserver
            {
                Started = OnStarted,
                TotalKnown = n => total = n,
                Item = outcome =>
                {
                    OnItem(outcome);
                    if (!quiet && lastLine.Elapsed.TotalSeconds >= 5)
                    {
                        Console.WriteLine($"  {Line()}");
                        lastLine.Restart();
                    }
                },
            });
        }
        else
        {
            result = null!;
            await AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask("starting…", maxValue: 1).IsIndeterminate();
                    void Refresh()
                    {
                        task.Description = Markup.Escape(Line());
                        if (total is { } t && t > 0)
                        {
                            task.IsIndeterminate = false;
                            task.MaxValue = t;
                            task.Value = Math.Min(t, skipped + done);
                        }
                    }

                    result = await ingest(new IngestObserver
                    {
                        Started = OnStarted,
                        TotalKnown = n =>
                        {
                            total = n;
                            Refresh();
                        },
                        Item = outcome =>
                        {
                            OnItem(outcome);
                            Refresh();
                        },
                    });
                    Refresh();
                    task.StopTask();
                });
        }

        foreach (var problem in problems)
        {
            Console.Error.WriteLine($"{Label(problem.Status)}: {problem.Reason}");
        }

        if (problemCount > problems.Count)
        {
            Console.Error.WriteLine($"… and {problemCount - problems.Count:N0} more; all are in {result.ReportPath}");
        }

        return result;
    }

    internal static string Label(IngestStatus status) => status switch
    {
        IngestStatus.NoFace => "no face",
        IngestStatus.NearDuplicate => "near-duplicate",
        _ => status.ToString().ToLowerInvariant(),
    };

    internal static void PrintSummary(IngestRunResult result)
    {
        var s = result.Summary;
        var c = result.Counts;
        var table = new Table().AddColumns("ingest run " + result.Run.Id, "this time", "whole run");
        table.AddRow("items", s.Items.ToString("N0"), c.Items.ToString("N0"));
        table.AddRow("stored with faces", s.Ingested.ToString("N0"), c.Ingested.ToString("N0"));
        table.AddRow("stored, no face", s.NoFace.ToString("N0"), c.NoFace.ToString("N0"));
        table.AddRow("duplicates (same bytes; sighting added)", s.Duplicates.ToString("N0"), c.Duplicates.ToString("N0"));
        table.AddRow("near-duplicates (linked to the original)", s.NearDuplicates.ToString("N0"), c.NearDuplicates.ToString("N0"));
        table.AddRow("refused", s.Refused.ToString("N0"), c.Refused.ToString("N0"));
        table.AddRow("failed", s.Failed.ToString("N0"), c.Failed.ToString("N0"));
        table.AddRow("faces", s.Faces.ToString("N0"), c.Faces.ToString("N0"));
        if (s.OptedOut > 0)
        {
            // Counted, never named: which person opted out is not the ingest operator's business.
            table.AddRow("faces not stored (opt-out registry)", s.OptedOut.ToString("N0"), "");
        }

        table.AddRow("seconds", s.Elapsed.TotalSeconds.ToString("0.0"), "");
        table.AddRow("items/s", s.ImagesPerSecond.ToString("0.0"), "");
        table.AddRow("faces/s", s.FacesPerSecond.ToString("0.0"), "");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"[grey]status {result.Run.Status.ToString().ToLowerInvariant()}; report: {result.ReportPath}[/]");
    }
}
