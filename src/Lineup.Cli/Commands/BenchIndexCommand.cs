using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lineup.Core.Indexing;
using Lineup.Hosting;
using Lineup.Index;
using Lineup.Index.Ivf;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup bench index</c>: the embedded index on a realistic in-memory gallery (the catalog's real faces plus
/// synthetic identities fitted to them): build rate, memory per face, recall@10 against exact search, latency at one and
/// at N threads, the speed-up over exact search and the cold start of a new process, all measured in one run.
/// </summary>
public static class BenchIndexCommand
{
    /// <summary>The child process's one line of output, read back by the parent.</summary>
    private sealed record OpenReport(double ProcessStartToAnswerMs, double OpenMs, double FirstSearchMs, int Found, long ResidentBytes);

    private static readonly JsonSerializerOptions s_line = new(JsonSerializerDefaults.Web);

    /// <summary>The cold-start child process failed; the message says how.</summary>
    private sealed class ColdStartException(string message) : Exception(message);

    public static Command Build()
    {
        var faces = new Option<int>("--faces") { Description = "Gallery size: real faces plus synthetic ones (1,000 to 100,000,000)", DefaultValueFactory = _ => 100_000 };
        var queries = new Option<int>("--queries") { Description = "Probes per setting: half new faces of gallery identities, half of others", DefaultValueFactory = _ => 1_000 };
        var exactQueries = new Option<int>("--exact-queries") { Description = "Probes timed through exact search (the baseline)", DefaultValueFactory = _ => 20 };
        var quantization = new Option<string>("--quantization") { Description = "Vector storage to compare: f32, f16, i8 (comma-separated)", DefaultValueFactory = _ => "f16,i8" };
        var connectivity = new Option<string>("--connectivity") { Description = "Graph degrees (HNSW M) to compare, comma-separated", DefaultValueFactory = _ => "16" };
        var expansionAdd = new Option<int>("--expansion-add") { Description = "Build breadth (HNSW efConstruction)", DefaultValueFactory = _ => 128 };
        var ef = new Option<string>("--ef") { Description = "Search breadths (HNSW ef) to measure, comma-separated", DefaultValueFactory = _ => "32,64,128" };
        var rerank = new Option<string>("--rerank")
        {
            Description = "Over-fetch factors, comma-separated: R fetches R × 10 and re-ranks them exactly with the catalog's embeddings, int8 with a scale (1: none)",
            DefaultValueFactory = _ => "1",
        };
        var engine = new Option<string>("--engine")
        {
            Description = "Index engines to build, comma-separated: usearch (HNSW graph, per quantization and connectivity) and ivf (inverted file over int8 codes)",
            DefaultValueFactory = _ => "usearch",
        };
        var probes = new Option<string>("--probes")
        {
            Description = "ivf: lists scanned per search to measure, comma-separated; 0 is the index's size-chosen number",
            DefaultValueFactory = _ => "0",
        };
        var lists = new Option<int?>("--lists") { Description = "ivf: list count (default: about the square root of --faces)" };
        var scanThreads = new Option<string>("--scan-threads")
        {
            Description = "ivf: threads one search scans on, comma-separated (1, 2); exact search, the baseline, runs on one",
            DefaultValueFactory = _ => "1,2",
        };
        var threads = new Option<int>("--threads") { Description = "Threads of the concurrent search measurement", DefaultValueFactory = _ => Math.Max(2, Environment.ProcessorCount) };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic faces and the probes", DefaultValueFactory = _ => 1 };
        var noColdStart = new Option<bool>("--no-cold-start") { Description = "Skip saving each index and timing a new process's first answer, and the catalog sample" };
        var catalogSample = new Option<int>("--catalog-sample")
        {
            Description = "Synthetic faces written into a temporary SQLite catalog to measure its bytes per face (0 skips it)",
            DefaultValueFactory = _ => 20_000,
        };
        var json = new Option<string?>("--json") { Description = "Also write the results to this JSON file" };
        var command = new Command(
            "index",
            "The embedded indexes (USearch's HNSW graph, the inverted file) on an in-memory gallery of this data directory's real faces (at least 200) plus synthetic identities " +
            "fitted to them; nothing is written to the catalog. Reports build vectors/s, memory per face, recall@10 against exact search, " +
            "p50/p99 latency and queries/s at 1 and N threads, the speed-up over exact search timed in the same run, and a new process's cold start.")
        {
            faces, queries, exactQueries, quantization, connectivity, expansionAdd, ef, rerank, engine, probes, lists, scanThreads, threads, seed, noColdStart, catalogSample, json,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var progress = GlobalOptions.Progress(parse);
            var coldDirectory = Path.Combine(options.FullDataDirectory, "bench-tmp");
            var settings = new IndexBenchmarkOptions
            {
                Faces = parse.GetValue(faces),
                Queries = parse.GetValue(queries),
                ExactQueries = parse.GetValue(exactQueries),
                Quantizations = ParseList(parse.GetValue(quantization)!, "--quantization", ParseQuantization),
                Connectivities = ParseList(parse.GetValue(connectivity)!, "--connectivity", ParseInt),
                ExpansionAdd = parse.GetValue(expansionAdd),
                ExpansionSearch = ParseList(parse.GetValue(ef)!, "--ef", ParseInt),
                Rerank = ParseList(parse.GetValue(rerank)!, "--rerank", ParseInt),
                Engines = ParseList(parse.GetValue(engine)!, "--engine", static e => e.ToLowerInvariant()),
                Probes = ParseList(parse.GetValue(probes)!, "--probes", ParseInt),
                Lists = parse.GetValue(lists),
                ScanThreads = ParseList(parse.GetValue(scanThreads)!, "--scan-threads", ParseInt),
                Threads = parse.GetValue(threads),
                Seed = parse.GetValue(seed),
                ColdStartDirectory = parse.GetValue(noColdStart) ? null : coldDirectory,
                CatalogSample = parse.GetValue(catalogSample),
            };
            try
            {
                settings.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new ArgumentException($"{OptionName(e.ParamName)}: {e.Message.Split(" (Parameter", 2)[0]}", e);
            }

            if (!Directory.Exists(options.FullDataDirectory))
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, $"--data: {options.FullDataDirectory} does not exist; ingest real photos into it first (lineup ingest FOLDER ...).");
            }

            IndexBenchmarkResult result;
            await using (var engine = await LineupEngine.OpenAsync(options, progress, ct))
            {
                SyntheticGallery.Generator generator;
                try
                {
                    generator = await SyntheticGallery.FitAsync(engine.Catalog, engine.Index.Dimensions, new SyntheticGalleryOptions { Seed = settings.Seed }, progress, ct);
                }
                catch (SyntheticGalleryException e)
                {
                    return GlobalOptions.Fail(ExitCodes.BadInput, e.Message);
                }

                if (generator.RealSample.Count >= settings.Faces)
                {
                    return GlobalOptions.Fail(ExitCodes.BadInput, $"--faces: {settings.Faces:N0} is not more than the {generator.RealSample.Count:N0} real faces the gallery starts with.");
                }

                try
                {
                    result = await IndexBenchmark.RunAsync(generator, settings, ColdStartAsync, progress, ct);
                }
                catch (InsufficientMemoryException e)
                {
                    return GlobalOptions.Fail(ExitCodes.BadInput, $"--faces: {e.Message}");
                }
                catch (ColdStartException e)
                {
                    return GlobalOptions.Fail(ExitCodes.Error, e.Message);
                }
                finally
                {
                    TryDeleteDirectory(coldDirectory);
                }
            }

            Print(result);
            if (parse.GetValue(json) is { } path)
            {
                await File.WriteAllTextAsync(path, JsonSerializer.Serialize(result, SearchCommands.Json), ct);
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>
    /// <c>lineup bench index-open FILE</c> (hidden): the cold-start probe. Opens a saved index (mapped or loaded), searches
    /// one vector, and prints one JSON line with the time since this process started.
    /// </summary>
    public static Command BuildOpen()
    {
        var file = new Argument<string>("file") { Description = "An index file written by lineup bench index" };
        var quantization = new Option<string>("--quantization") { DefaultValueFactory = _ => "f16" };
        var dimensions = new Option<int>("--dimensions") { DefaultValueFactory = _ => 512 };
        var connectivity = new Option<int>("--connectivity") { DefaultValueFactory = _ => 16 };
        var ef = new Option<int?>("--ef") { Description = "Search breadth; unset, chosen by the index size" };
        var mode = new Option<string>("--mode") { Description = "view (USearch, memory-mapped), load (USearch, read in) or ivf (the inverted file, read in)", DefaultValueFactory = _ => "view" };
        var command = new Command("index-open", "Cold-start probe of lineup bench index: open a saved index, search once, print the times as JSON")
        {
            file, quantization, dimensions, connectivity, ef, mode,
        };
        command.Hidden = true;
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = new USearchOptions
            {
                Dimensions = parse.GetValue(dimensions),
                Quantization = ParseQuantization(parse.GetValue(quantization)!),
                Connectivity = parse.GetValue(connectivity),
                ExpansionSearch = parse.GetValue(ef),
            };
            var how = parse.GetValue(mode);
            if (how is not ("view" or "load" or "ivf"))
            {
                throw new ArgumentException($"--mode: '{how}' is not view, load or ivf.");
            }

            var open = Stopwatch.StartNew();
            using IVectorIndex index = how == "ivf"
                ? IvfVectorIndex.Open(parse.GetValue(file)!, new IvfOptions { Dimensions = options.Dimensions })
                : USearchVectorIndex.Open(parse.GetValue(file)!, options, view: how == "view");
            var openMs = open.Elapsed.TotalMilliseconds;
            var query = new float[options.Dimensions];
            query[0] = 1;
            var hits = new VectorHit[10];
            var search = Stopwatch.StartNew();
            var found = index.Search(query, hits);
            var searchMs = search.Elapsed.TotalMilliseconds;
            var sinceStart = (DateTime.Now - Process.GetCurrentProcess().StartTime).TotalMilliseconds;

            // Resident memory once all of the index is in place: a key lookup waits for the inverted file's background
            // key map; a full, compacting collection drops what opening left behind.
            _ = index.Contains(long.MaxValue);
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            using var self = Process.GetCurrentProcess();
            await Console.Out.WriteLineAsync(JsonSerializer.Serialize(new OpenReport(sinceStart, openMs, searchMs, found, self.WorkingSet64), s_line));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static async Task<ColdStartResult> ColdStartAsync(string path, USearchOptions options, string mode, CancellationToken ct)
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (string.Equals(Path.GetFileNameWithoutExtension(host), "dotnet", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(typeof(BenchIndexCommand).Assembly.Location);
        }

        foreach (var arg in new[]
        {
            "bench", "index-open", path, "--quantization", options.Quantization.ToString().ToLowerInvariant(),
            "--dimensions", options.Dimensions.ToString(CultureInfo.InvariantCulture),
            "--connectivity", options.Connectivity.ToString(CultureInfo.InvariantCulture),
            "--mode", mode,
        })
        {
            start.ArgumentList.Add(arg);
        }

        if (options.ExpansionSearch is { } ef)
        {
            start.ArgumentList.Add("--ef");
            start.ArgumentList.Add(ef.ToString(CultureInfo.InvariantCulture));
        }

        using var process = Process.Start(start) ?? throw new ColdStartException($"could not start {host} for the cold-start measurement.");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var output = await stdout;
        if (process.ExitCode != 0)
        {
            throw new ColdStartException($"the cold-start process ({mode}) exited {process.ExitCode}: {(await stderr).Trim()}");
        }

        var report = JsonSerializer.Deserialize<OpenReport>(output.Trim().Split('\n')[^1], s_line)
            ?? throw new ColdStartException($"the cold-start process ({mode}) printed no result.");
        if (report.Found == 0)
        {
            throw new ColdStartException($"the cold-start process ({mode}) found nothing in {path}.");
        }

        return new ColdStartResult(mode, report.ProcessStartToAnswerMs, report.OpenMs, report.FirstSearchMs, report.ResidentBytes);
    }

    private static void Print(IndexBenchmarkResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        if (Console.IsOutputRedirected)
        {
            // A file or pipe has no width; Spectre would assume 80 columns and wrap every figure of the wide tables.
            AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 160);
        }

        AnsiConsole.MarkupLineInterpolated(
            $"Gallery {r.Faces:N0} × {r.Dimensions}-d: {r.RealFaces:N0} real faces + {r.SyntheticFaces:N0} synthetic ({r.Identities:N0} identities); {r.Queries:N0} probes; {r.ProcessorCount} CPUs, USearch kernels '{r.Hardware}'.");
        AnsiConsole.MarkupLineInterpolated(
            $"Exact search ({(r.GalleryPrecision == "float16" ? "float16 rows, float32 arithmetic" : "float32")}, one thread, same run): mean {r.ExactMeanMs.ToString("0.0", inv)} ms, p99 {r.ExactP99Ms.ToString("0.0", inv)} ms per probe. Generated in {r.GenerateSeconds.ToString("0.0", inv)} s; ground truth in {r.GroundTruthSeconds.ToString("0.0", inv)} s.");
        if (r.Catalog is { } c)
        {
            var stored = c.BasisComponents is { } k
                ? $" in the embedding basis ({k} directions; its {(c.BasisBytes / 1024.0).ToString("N0", inv)} KiB, once per catalog, left out; {c.OutsideBasis:N0} faces outside it stay int8). " +
                  $"{c.Int8BytesPerFace.ToString("N0", inv)} with every embedding int8 (before the basis)."
                : " (no embedding basis: every embedding int8).";
            AnsiConsole.MarkupLineInterpolated(
                $"Catalog (SQLite, {c.Faces:N0} synthetic faces written in a temporary catalog at {c.FacesPerSecond.ToString("N0", inv)} faces/s): {c.BytesPerFace.ToString("N0", inv)} bytes per face{stored}");
        }

        var builds = new Table().AddColumns(
            "index", "build vec/s", "build s", "mem B/face", "file B/face", "all-in B/face", "cold start ms (view / load)", "resident B/face (view / load)");
        foreach (var b in r.Builds)
        {
            var cold = b.ColdStarts.Count == 0 ? "-" : string.Join(" / ", b.ColdStarts.Select(c => c.ProcessStartToAnswerMs.ToString("0", inv)));
            var resident = b.ColdStarts.Count == 0 ? "-" : string.Join(" / ", b.ColdStarts.Select(c => ((double)c.ResidentBytes / r.Faces).ToString("N0", inv)));
            builds.AddRow(
                Label(b, withBuild: true),
                b.VectorsPerSecond.ToString("N0", inv),
                b.BuildSeconds.ToString("0.0", inv),
                b.MemoryBytesPerFace.ToString("N0", inv),
                b.FileBytes == 0 ? "-" : ((double)b.FileBytes / r.Faces).ToString("N0", inv),
                b.FileBytes == 0 || r.Catalog is null ? "-" : (((double)b.FileBytes / r.Faces) + r.Catalog.BytesPerFace).ToString("N0", inv),
                cold,
                resident);
        }

        AnsiConsole.Write(builds);
        var searches = new Table().AddColumns(
            "index", "ef / probes", "scan thr", "rerank", "[bold]recall@10[/]", "mated/non", "nearest found", "p50 ms", "[bold]p99 ms[/]", "q/s 1 thr", "q/s N thr", "p99 N thr", "[bold]× exact[/]");
        foreach (var b in r.Builds)
        {
            foreach (var s in b.Searches)
            {
                searches.AddRow(
                    Label(b, withBuild: false),
                    s.ExpansionSearch.ToString(inv),
                    b.Engine == "ivf" ? s.ScanThreads.ToString(inv) : "-",
                    s.Rerank == 1 ? "-" : $"×{s.Rerank}",
                    s.RecallAt10.ToString("0.0000", inv),
                    $"{s.RecallMated.ToString("0.000", inv)}/{s.RecallNonMated.ToString("0.000", inv)}",
                    s.NearestFound.ToString("0.000", inv),
                    s.P50Ms.ToString("0.000", inv),
                    s.P99Ms.ToString("0.000", inv),
                    s.QueriesPerSecond.ToString("N0", inv),
                    $"{s.ConcurrentQueriesPerSecond.ToString("N0", inv)} ({s.Threads})",
                    s.ConcurrentP99Ms.ToString("0.000", inv),
                    s.SpeedupOverExact.ToString("0", inv));
            }
        }

        AnsiConsole.Write(searches);
    }

    private static string Label(IndexBuildResult b, bool withBuild) => b.Engine == "ivf"
        ? $"ivf i8 {b.Lists:N0} lists × {b.CodeDimensions}"
        : withBuild ? $"{b.Quantization} M{b.Connectivity} efA{b.ExpansionAdd}" : $"{b.Quantization} M{b.Connectivity}";

    private static IReadOnlyList<T> ParseList<T>(string text, string option, Func<string, T> parse)
    {
        var items = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0)
        {
            throw new ArgumentException($"{option}: give at least one value.");
        }

        try
        {
            return [.. items.Select(parse).Distinct()];
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"{option}: {e.Message}", e);
        }
    }

    private static int ParseInt(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : throw new FormatException($"'{text}' is not a whole number.");

    private static VectorQuantization ParseQuantization(string text) => text.ToLowerInvariant() switch
    {
        "f32" => VectorQuantization.F32,
        "f16" => VectorQuantization.F16,
        "i8" => VectorQuantization.I8,
        _ => throw new FormatException($"'{text}' is not f32, f16 or i8."),
    };

    private static string OptionName(string? property) => property switch
    {
        nameof(IndexBenchmarkOptions.Faces) => "--faces",
        nameof(IndexBenchmarkOptions.Queries) => "--queries",
        nameof(IndexBenchmarkOptions.ExactQueries) => "--exact-queries",
        nameof(IndexBenchmarkOptions.Quantizations) => "--quantization",
        nameof(IndexBenchmarkOptions.Connectivities) => "--connectivity",
        nameof(IndexBenchmarkOptions.ExpansionAdd) => "--expansion-add",
        nameof(IndexBenchmarkOptions.ExpansionSearch) => "--ef",
        nameof(IndexBenchmarkOptions.Threads) => "--threads",
        nameof(IndexBenchmarkOptions.Rerank) => "--rerank",
        nameof(IndexBenchmarkOptions.CatalogSample) => "--catalog-sample",
        nameof(IndexBenchmarkOptions.Engines) => "--engine",
        nameof(IndexBenchmarkOptions.Probes) => "--probes",
        nameof(IndexBenchmarkOptions.Lists) => "--lists",
        nameof(IndexBenchmarkOptions.ScanThreads) => "--scan-threads",
        _ => property ?? "an option",
    };

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: the files inside were deleted one by one already.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }
}
