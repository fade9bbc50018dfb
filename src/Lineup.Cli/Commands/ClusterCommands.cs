using System.CommandLine;
using System.Text.Json;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary><c>lineup cluster</c>: the distributed backend's operations (status of every dependency, failover, repopulation).</summary>
public static class ClusterCommands
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Build()
    {
        var json = new Option<bool>("--json") { Description = "Print the status as JSON" };
        var status = new Command("status", "Health of the catalog, every index shard (primary and replica) and the ingest workers; exit 1 when any is unhealthy")
        {
            json,
        };
        status.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            if (!options.IsDistributed)
            {
                return NeedsDistributed("status");
            }

            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            var report = await engine.GetClusterStatusAsync(topology: true, ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    report.Backend,
                    report.Healthy,
                    report.CatalogFaces,
                    report.IndexedFaces,
                    report.Dependencies,
                    report.Shards,
                    report.Queue,
                }, s_json));
            }
            else
            {
                Print(report);
            }

            return report.Healthy ? ExitCodes.Ok : ExitCodes.Error;
        }));

        var shard = new Option<int>("--shard") { Description = "Shard number (see `lineup cluster status`)", Required = true };
        var failover = new Command("failover", "Promote the replica of a shard's failed primary (Garnet does not fail over by itself); its other shards move too")
        {
            shard,
        };
        failover.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            if (!options.IsDistributed)
            {
                return NeedsDistributed("failover");
            }

            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            var done = await engine.FailoverAsync(parse.GetValue(shard), ct);
            AnsiConsole.MarkupLineInterpolated($"{done.NewPrimary} took over from {done.OldPrimary}: shards {string.Join(", ", done.Shards)}.");
            return ExitCodes.Ok;
        }));

        var repopulateShard = new Option<int>("--shard") { Description = "Shard number (see `lineup cluster status`)", Required = true };
        var repopulate = new Command("repopulate", "Re-add one shard's faces from the catalog (after it lost data); other shards keep serving")
        {
            repopulateShard,
        };
        repopulate.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            if (!options.IsDistributed)
            {
                return NeedsDistributed("repopulate");
            }

            await using var engine = await LineupEngine.OpenAsync(options, GlobalOptions.Progress(parse), ct);
            var number = parse.GetValue(repopulateShard);
            var added = await engine.RepopulateShardAsync(number, ct);
            AnsiConsole.MarkupLineInterpolated($"Shard {number} repopulated from the catalog: {added:N0} faces.");
            return ExitCodes.Ok;
        }));

        return new Command("cluster", "The distributed backend: status, failover, shard repopulation") { status, failover, repopulate };
    }

    /// <summary>
    /// Refused before anything is opened: on the embedded backend the engine would create a data directory and catalog
    /// only to find that there is no cluster to report on (status) or operate on (failover and repopulate would end in an
    /// unhandled InvalidOperationException: exit 1 and a stack trace).
    /// </summary>
    private static int NeedsDistributed(string command) => GlobalOptions.Fail(ExitCodes.BadInput,
        $"cluster {command} needs the distributed backend: give --backend distributed with --postgres and --garnet (or Lineup:Backend in configuration).");

    private static void Print(ClusterStatus report)
    {
        AnsiConsole.MarkupLineInterpolated($"Backend [bold]{report.Backend}[/]: {(report.Healthy ? "[green]healthy[/]" : "[red]unhealthy[/]")}");
        var table = new Table().AddColumns("dependency", "state", "detail");
        foreach (var d in report.Dependencies)
        {
            table.AddRow(Markup.Escape(d.Name), d.Healthy ? "[green]ok[/]" : "[red]failing[/]", Markup.Escape(d.Detail));
        }

        AnsiConsole.Write(table);
        if (report.Queue is { } queue && (queue.Runs.Count > 0 || queue.Workers.Count > 0))
        {
            var runs = new Table().AddColumns("run", "status", "pending", "in progress", "lease passed", "done", "source");
            foreach (var r in queue.Runs)
            {
                runs.AddRow(r.RunId.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Status.ToString().ToLowerInvariant(),
                    r.Pending.ToString("N0"), r.Claimed.ToString("N0"), r.Expired.ToString("N0"), r.Done.ToString("N0"), Markup.Escape(r.Source));
            }

            AnsiConsole.Write(runs);
            var workers = new Table().AddColumns("worker", "host", "last heartbeat", "holding", "items done");
            foreach (var w in queue.Workers)
            {
                workers.AddRow(Markup.Escape(w.Name), Markup.Escape(w.Host), w.HeartbeatAt.ToString("u"), w.Claimed.ToString("N0"), w.ItemsDone.ToString("N0"));
            }

            AnsiConsole.Write(workers);
        }
    }
}
