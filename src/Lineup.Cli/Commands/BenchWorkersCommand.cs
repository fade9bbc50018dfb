using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Npgsql;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup bench workers</c>: distributed ingest throughput with 1 and N worker processes against the distributed
/// backend, each on a fresh PostgreSQL schema and Garnet key prefix, the 1-worker run being the same-run baseline.
/// </summary>
public static class BenchWorkersCommand
{
    public static Command Build()
    {
        var source = new Argument<string>("source") { Description = "Photos to ingest (a folder, archive, WARC file or manifest)" };
        var workers = new Option<string?>("--workers") { Description = "Comma-separated worker process counts (default: 1,2)" };
        var threads = new Option<int>("--threads") { Description = "Analysis threads per worker process (default 1)", DefaultValueFactory = _ => 1 };
        var json = new Option<string?>("--json") { Description = "Also write the results to this JSON file" };
        var pin = new Option<bool>("--pin")
        {
            Description = "Run worker i on CPU i only (taskset), as if each worker had a machine of one core: without it a one-thread "
                + "worker also spreads its commits, GC and JIT over the other cores, and the baseline is more than one core",
        };
        var command = new Command("workers", "Distributed ingest with 1 and N `lineup worker` processes on fresh schemas; report items/s and the speed-up")
        {
            source, workers, threads, json, pin,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            if (!options.IsDistributed)
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, "bench workers measures the distributed backend: give --backend distributed --postgres … --garnet ….");
            }

            var counts = (parse.GetValue(workers) ?? "1,2").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(t => int.TryParse(t, out var n) && n is >= 1 and <= 64 ? n : throw new ArgumentException($"--workers: '{t}' is not a count (1-64)."))
                .ToArray();
            if (parse.GetValue(pin) && (!OperatingSystem.IsLinux() || counts.Max() > Environment.ProcessorCount))
            {
                return GlobalOptions.Fail(ExitCodes.BadInput,
                    $"--pin needs Linux (taskset) and no more workers than CPUs ({Environment.ProcessorCount}).");
            }

            return await RunAsync(options, Path.GetFullPath(parse.GetValue(source)!), counts, parse.GetValue(threads), parse.GetValue(pin),
                parse.GetValue(json), GlobalOptions.Progress(parse), ct);
        }));
        return command;
    }

    private sealed record Run(int Workers, long Items, long Faces, double WallSeconds, double ItemsPerSecond, double SteadyItemsPerSecond);

    private static async Task<int> RunAsync(
        LineupOptions options, string path, int[] counts, int threads, bool pin, string? jsonPath, IProgress<string> progress, CancellationToken ct)
    {
        options.ModelsDirectory = options.FullModelsDirectory;
        var runs = new List<Run>();
        foreach (var count in counts)
        {
            var schema = "bench_" + Guid.NewGuid().ToString("N")[..12];
            var connection = new NpgsqlConnectionStringBuilder(options.Distributed.Postgres) { SearchPath = schema }.ConnectionString;
            await ExecuteAsync(options.Distributed.Postgres!, $"CREATE SCHEMA {schema}", ct);
            var prefix = "bench:" + schema;
            try
            {
                var run = options.Clone(connection, prefix);
                long items;
                await using (var engine = await LineupEngine.OpenAsync(run, progress, ct))
                {
                    var collection = await engine.Catalog.EnsureCollectionAsync("bench", "benchmark run on local test photos", "ZZ", ct);
                    var queued = await engine.QueueAsync(IngestSources.Open(path, run.SourceLimits), collection, null, ct);
                    items = queued.TotalItems ?? 0;
                }

                progress.Report($"{count} worker process(es) on {items:N0} queued items…");
                var clock = Stopwatch.StartNew();
                var processes = Enumerable.Range(0, count).Select(i => StartWorker(run, $"bench-{i}", threads, pin ? i : null)).ToList();
                foreach (var process in processes)
                {
                    await process.WaitForExitAsync(ct);
                    if (process.ExitCode is not (ExitCodes.Ok or ExitCodes.Partial))
                    {
                        throw new InvalidOperationException($"a worker exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync(ct)}");
                    }

                    process.Dispose();
                }

                var wall = clock.Elapsed.TotalSeconds;
                var (done, faces, steady) = await ReadThroughputAsync(connection, ct);
                runs.Add(new Run(count, done, faces, wall, done / wall, steady));
            }
            finally
            {
                await using (var cleanup = await LineupEngine.OpenAsync(options.Clone(connection, prefix), null, CancellationToken.None))
                {
                    await cleanup.ClearDistributedIndexAsync(CancellationToken.None);
                }

                await ExecuteAsync(options.Distributed.Postgres!, $"DROP SCHEMA IF EXISTS {schema} CASCADE", CancellationToken.None);
            }
        }

        var table = new Table().AddColumns(["measure", .. runs.Select(r => $"{r.Workers} worker(s)")]);
        void Row(string name, Func<Run, string> value) => table.AddRow([name, .. runs.Select(value)]);
        Row("items / faces", r => $"{r.Items:N0} / {r.Faces:N0}");
        Row("wall time s (process start to last exit)", r => r.WallSeconds.ToString("0.0"));
        Row("[bold]items/s (wall)[/]", r => r.ItemsPerSecond.ToString("0.0"));
        Row("items/s (first to last commit)", r => r.SteadyItemsPerSecond.ToString("0.0"));
        var one = runs.FirstOrDefault(r => r.Workers == 1);
        if (one is not null)
        {
            Row("[bold]speed-up over 1 worker (wall)[/]", r => (r.ItemsPerSecond / one.ItemsPerSecond).ToString("0.00"));
            Row("speed-up over 1 worker (commits)", r => (r.SteadyItemsPerSecond / one.SteadyItemsPerSecond).ToString("0.00"));
        }

        AnsiConsole.Write(table);
        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new { source = path, threadsPerWorker = threads, pinned = pin, runs }, SearchCommands.Json), ct);
        }

        return ExitCodes.Ok;
    }

    private static LineupOptions Clone(this LineupOptions options, string postgres, string prefix)
    {
        var copy = new LineupOptions
        {
            DataDirectory = options.DataDirectory,
            ModelsDirectory = options.ModelsDirectory,
            Workers = options.Workers,
            Backend = "distributed",
            Clock = options.Clock,
        };
        copy.Distributed.Postgres = postgres;
        copy.Distributed.Garnet = options.Distributed.Garnet;
        copy.Distributed.KeyPrefix = prefix;
        copy.Distributed.Shards = options.Distributed.Shards;
        copy.Distributed.LeaseSeconds = options.Distributed.LeaseSeconds;
        copy.Distributed.ClaimBatch = options.Distributed.ClaimBatch;
        return copy;
    }

    private static Process StartWorker(LineupOptions options, string name, int threads, int? cpu)
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(cpu is null ? host : "taskset") { RedirectStandardError = true, RedirectStandardOutput = false, UseShellExecute = false };
        if (cpu is { } only)
        {
            // Every thread the runtime starts inherits the mask, which setting the affinity after the start would not give.
            start.ArgumentList.Add("--cpu-list");
            start.ArgumentList.Add(only.ToString(System.Globalization.CultureInfo.InvariantCulture));
            start.ArgumentList.Add(host);
        }

        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(Program).Assembly.Location);
        }

        foreach (var arg in new[]
        {
            "--data", options.FullDataDirectory, "--models", options.FullModelsDirectory, "--backend", "distributed",
            "--postgres", options.Distributed.Postgres!, "--garnet", options.Distributed.Garnet!, "--quiet",
            "worker", "--name", name, "--until-idle", "--workers", threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
        })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["LINEUP__Lineup__Distributed__KeyPrefix"] = options.Distributed.KeyPrefix;
        start.Environment["LINEUP__Lineup__Distributed__Shards"] = options.Distributed.Shards.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Process.Start(start) ?? throw new InvalidOperationException("could not start a worker process");
    }

    /// <summary>Items and faces committed, and items per second between the first and the last commit (startup excluded).</summary>
    private static async Task<(long Items, long Faces, double Steady)> ReadThroughputAsync(string connectionString, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("SELECT count(*), coalesce(sum(faces), 0), min(recorded_at), max(recorded_at) FROM ingest_items", connection);
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var items = reader.GetInt64(0);
        var faces = reader.GetInt64(1);
        if (items < 2 || reader.IsDBNull(2))
        {
            return (items, faces, 0);
        }

        var first = DateTimeOffset.Parse(reader.GetString(2), System.Globalization.CultureInfo.InvariantCulture);
        var last = DateTimeOffset.Parse(reader.GetString(3), System.Globalization.CultureInfo.InvariantCulture);
        var seconds = (last - first).TotalSeconds;
        return (items, faces, seconds > 0 ? (items - 1) / seconds : 0);
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }
}
