using System.CommandLine;
using System.Text.Json;
using Lineup.Core.Catalog;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary><c>lineup worker</c>: one distributed ingest worker (claims queued items from the catalog, analyses, commits).</summary>
public static class WorkerCommand
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Build()
    {
        var name = new Option<string?>("--name")
        {
            Description = "This worker's name, unique in the deployment (default: <host>-<process id>)",
        };
        var untilIdle = new Option<bool>("--until-idle")
        {
            Description = "Stop when no running run has an item left to claim (default: wait for new runs until Ctrl+C)",
        };
        var workers = new Option<int?>("--workers") { Description = "Analysis threads in this worker (default: number of cores)" };
        var lease = new Option<int?>("--lease") { Description = "Seconds a claim lasts without a heartbeat (default: Lineup:Distributed:LeaseSeconds, 60)" };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON" };
        var command = new Command("worker", "Ingest worker of the distributed backend: claims queued items (`lineup ingest --queue`) under a lease and commits each exactly once")
        {
            name, untilIdle, workers, lease, json,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            if (!options.IsDistributed)
            {
                return GlobalOptions.Fail(ExitCodes.BadInput,
                    "workers need the distributed backend: give --backend distributed with --postgres and --garnet (or Lineup:Backend in configuration).");
            }

            if (parse.GetValue(workers) is { } w)
            {
                options.Workers = w;
            }

            if (parse.GetValue(lease) is { } seconds)
            {
                options.Distributed.LeaseSeconds = seconds;
                options.Validate();
            }

            var workerName = parse.GetValue(name) is { Length: > 0 } given ? given : $"{Environment.MachineName}-{Environment.ProcessId}";
            var quiet = parse.GetValue(GlobalOptions.Quiet);
            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            long done = 0, faces = 0, problems = 0;
            var observer = new IngestObserver
            {
                Item = outcome =>
                {
                    var n = Interlocked.Increment(ref done);
                    Interlocked.Add(ref faces, outcome.Faces);
                    if (outcome.Status is IngestStatus.Failed or IngestStatus.Refused)
                    {
                        Interlocked.Increment(ref problems);
                        if (!quiet)
                        {
                            Console.Error.WriteLine($"{outcome.Status.ToString().ToLowerInvariant()}: {outcome.Reason}");
                        }
                    }

                    if (!quiet && n % 100 == 0)
                    {
                        Console.Error.WriteLine($"{workerName}: {n:N0} items committed, {Interlocked.Read(ref faces):N0} faces");
                    }
                },
            };

            if (!quiet)
            {
                Console.Error.WriteLine($"{workerName}: working (lease {options.Distributed.LeaseSeconds} s, {options.Workers} analysis threads)");
            }

            WorkerSummary summary;
            try
            {
                summary = await engine.WorkAsync(workerName, parse.GetValue(untilIdle), observer, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Console.Error.WriteLine($"{workerName}: stopped; {done:N0} items committed, claims handed back.");
                return ExitCodes.Ok;
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(summary, s_json));
            }
            else if (!quiet)
            {
                AnsiConsole.MarkupLineInterpolated(
                    $"[bold]{summary.Worker}[/]: claimed {summary.Claimed:N0}, committed {summary.Committed:N0} ({summary.Faces:N0} faces), indexed for dead workers {summary.Reindexed:N0}, lost to other workers {summary.LostLeases:N0}, in {summary.Elapsed.TotalSeconds:0.0} s");
            }

            return Interlocked.Read(ref problems) > 0 ? ExitCodes.Partial : ExitCodes.Ok;
        }));
        return command;
    }
}
