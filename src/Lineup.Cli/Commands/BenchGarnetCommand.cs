using System.CommandLine;
using System.Text.Json;
using Lineup.Index.Garnet;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup bench garnet</c>: the distributed index on its own — insert rate, recall@10 against exact search in the same
/// run, latency, and resident memory per face — on 512-d clustered synthetic unit vectors under a throwaway key prefix.
/// </summary>
public static class BenchGarnetCommand
{
    public static Command Build()
    {
        var faces = new Option<int>("--faces") { Description = "Vectors to index (default 100000)", DefaultValueFactory = _ => 100_000 };
        var queries = new Option<int>("--queries") { Description = "Queries measured (default 1000)", DefaultValueFactory = _ => 1_000 };
        var shards = new Option<int?>("--shards") { Description = "Vector-set keys (default: Lineup:Distributed:Shards)" };
        var sweep = new Option<string?>("--sweep") { Description = "Extra search breadths (EF) to measure, e.g. 20,50,200" };
        var json = new Option<string?>("--json") { Description = "Also write the results to this JSON file" };
        var command = new Command("garnet", "The Garnet cluster index alone: inserts/s, recall@10 against exact search, p50/p99 latency and memory per face")
        {
            faces, queries, shards, sweep, json,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var settings = GlobalOptions.Resolve(parse);
            if (string.IsNullOrWhiteSpace(settings.Distributed.Garnet))
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, "give the cluster with --garnet host:port,... (or Lineup:Distributed:Garnet).");
            }

            var options = new GarnetIndexOptions
            {
                Endpoints = settings.Distributed.Garnet,
                KeyPrefix = "bench:" + Guid.NewGuid().ToString("N")[..12],
                Shards = parse.GetValue(shards) ?? settings.Distributed.Shards,
                Dimensions = 512,
            };
            var extra = (parse.GetValue(sweep) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => int.TryParse(t, out var ef) && ef > 0 ? ef : throw new ArgumentException($"--sweep: '{t}' is not a search breadth."))
                .ToArray();
            var result = await GarnetIndexBenchmark.RunAsync(options, parse.GetValue(faces), parse.GetValue(queries), 20261129,
                GlobalOptions.Progress(parse), extra, ct);

            var table = new Table().AddColumns("measure", "value");
            table.AddRow("faces × dimensions", $"{result.Faces:N0} × {result.Dimensions}");
            table.AddRow("shards / primaries", $"{result.Shards} / {result.Primaries}");
            table.AddRow("build: EF / links / storage", $"{result.BuildEf} / {result.Links} / {result.Quantisation}");
            table.AddRow("[bold]inserts/s[/] (wall, replicas included)", result.InsertsPerSecond.ToString("N0"));
            table.AddRow("exact search baseline, ms/query (1 thread, same run)", result.ExactSearchMs.ToString("0.00"));
            foreach (var point in result.Sweep)
            {
                table.AddRow($"[bold]EF {point.SearchEf}[/]: recall@10 / p50 / p99 ms / speed-up over exact (p50)",
                    $"{point.RecallAt10:0.0000} / {point.P50Ms:0.00} / {point.P99Ms:0.00} / {result.ExactSearchMs / point.P50Ms:0.0}×");
            }

            table.AddRow("resident memory per face: primaries / whole cluster",
                $"{result.PrimaryBytesPerFace?.ToString("N0") ?? "?"} B / {result.ClusterBytesPerFace?.ToString("N0") ?? "?"} B");
            AnsiConsole.Write(table);
            if (parse.GetValue(json) is { } path)
            {
                await File.WriteAllTextAsync(path, JsonSerializer.Serialize(result, SearchCommands.Json), ct);
            }

            return ExitCodes.Ok;
        }));
        return command;
    }
}
