using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Lineup.Hosting;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup bench gallery</c> (a synthetic gallery of any size, fitted to the real faces) and <c>lineup bench load</c>
/// (concurrent clients searching a running server, with a single-client baseline measured in the same run).
/// </summary>
public static class BenchLoadCommands
{
    /// <summary>A request slower than this counts as an error (HttpClient's default is 100 s).</summary>
    private static readonly TimeSpan s_requestTimeout = TimeSpan.FromSeconds(120);

    /// <summary>The baseline's measured window after its warm-up.</summary>
    private static readonly TimeSpan s_baselineWindow = TimeSpan.FromSeconds(10);

    private const int ErrorBodiesShown = 5;

    public static Command BuildGallery()
    {
        var faces = new Option<int>("--faces") { Description = "Synthetic faces to add (1 to 100,000,000)", DefaultValueFactory = _ => 100_000 };
        var seed = new Option<int>("--seed") { Description = "Seed: the same seed and real faces give the same synthetic faces", DefaultValueFactory = _ => 1 };
        var withinCosine = new Option<double>("--within-cosine")
        {
            Description = "Median cosine between two faces of one synthetic identity (default: the DEV set's median genuine cosine)",
            DefaultValueFactory = _ => SyntheticGallery.DefaultWithinIdentityCosine,
        };
        var json = new Option<string?>("--json") { Description = "Also write the result to this JSON file" };
        var command = new Command(
            "gallery",
            $"Add synthetic faces (no pixels, no person) to this data directory's catalog and index, in the collection '{SyntheticGallery.CollectionName}': " +
            "identities fitted to the real faces already catalogued (at least 200), 1-5 faces each. For load and scale benchmarks; " +
            $"a search filtered by collection leaves them out.")
        {
            faces, seed, withinCosine, json,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var progress = GlobalOptions.Progress(parse);
            var settings = new SyntheticGalleryOptions
            {
                Faces = parse.GetValue(faces),
                Seed = parse.GetValue(seed),
                WithinIdentityCosine = parse.GetValue(withinCosine),
            };
            try
            {
                settings.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                var option = e.ParamName == nameof(SyntheticGalleryOptions.WithinIdentityCosine) ? "--within-cosine" : "--faces";
                throw new ArgumentException($"{option}: {e.Message}", e);
            }

            await using var engine = await LineupEngine.OpenAsync(options, progress, ct);
            SyntheticGalleryResult result;
            try
            {
                result = await SyntheticGallery.AddAsync(engine, settings, progress, ct);
            }
            catch (SyntheticGalleryException e)
            {
                return GlobalOptions.Fail(ExitCodes.BadInput, e.Message);
            }

            var table = new Table().AddColumns("measure", "value");
            table.AddRow("synthetic faces added", result.FacesAdded.ToString("N0", CultureInfo.InvariantCulture));
            table.AddRow("identities", result.Identities.ToString("N0", CultureInfo.InvariantCulture));
            table.AddRow("synthetic faces in the catalog", result.SyntheticFaces.ToString("N0", CultureInfo.InvariantCulture));
            var fit = result.Fit;
            table.AddRow("real faces (fitted on)", $"{result.RealFaces:N0} ({result.FitFaces:N0}, {fit.PseudoIdentities:N0} pseudo-identities)");
            table.AddRow("cosine to held-out real faces: real impostors / synthetic", string.Create(CultureInfo.InvariantCulture,
                $"mean {fit.RealMean:0.000} / {fit.SyntheticMean:0.000}, 99th pct {fit.Quantile(0.99):0.000} / {fit.Quantile(0.99, synthetic: true):0.000}, KS {fit.KsDistance:0.000}"));
            table.AddRow("catalog faces / indexed faces", $"{result.CatalogFaces:N0} / {result.IndexedFaces:N0}");
            table.AddRow("elapsed: fit / draw / catalog / index wait", string.Create(CultureInfo.InvariantCulture,
                $"{result.Elapsed.TotalSeconds:0.0} s: {result.FitElapsed.TotalSeconds:0.0} / {result.GenerateElapsed.TotalSeconds:0.0} / {result.CatalogElapsed.TotalSeconds:0.0} / {result.IndexWaitElapsed.TotalSeconds:0.0} s"));
            table.AddRow("[bold]faces/s[/]", result.FacesPerSecond.ToString("N0", CultureInfo.InvariantCulture));
            AnsiConsole.Write(table);
            if (parse.GetValue(json) is { } path)
            {
                await File.WriteAllTextAsync(path, JsonSerializer.Serialize(new { settings, result, result.FacesPerSecond }, SearchCommands.Json), ct);
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command BuildLoad()
    {
        var url = new Option<string>("--url") { Description = "The server, e.g. http://127.0.0.1:5080", Required = true };
        var apiKey = new Option<string>("--api-key") { Description = "An API key (lk_...) of a user with the analyst role", Required = true };
        var photos = new Option<string>("--photos") { Description = "Folder of probe JPEGs (each must have a face above the quality floor)", Required = true };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients", DefaultValueFactory = _ => 32 };
        var duration = new Option<int>("--duration") { Description = "Seconds measured with all clients", DefaultValueFactory = _ => 60 };
        var warmup = new Option<int>("--warmup") { Description = "Seconds run, unmeasured, before each measured window", DefaultValueFactory = _ => 5 };
        var json = new Option<string?>("--json") { Description = "Also write the results to this JSON file" };
        var caseNumber = new Option<string>("--case") { Description = "The case the searches are made for (the key's user must be assigned to it)", Required = true };
        var source = new Option<string>("--source") { Description = "The probe attestation sent with every search", DefaultValueFactory = _ => "other" };
        var command = new Command(
            "load",
            "Load-test a running server: each client POSTs the probe photos in turn to /api/search with the API key, for --duration seconds " +
            "after --warmup; first a single sequential client (--warmup + 10 s) as the same-run baseline. Reports requests, errors (any answer " +
            "but 200), throughput and latency percentiles; exits 5 when any request failed. The server's per-user search limit " +
            "(Lineup:Server:SearchesPerMinute, default 30) must be raised for it: start the server with " +
            "LINEUP__Lineup__Server__SearchesPerMinute=100000 lineup serve ... (100,000 is the setting's maximum).")
        {
            url, apiKey, photos, clients, duration, warmup, json, caseNumber, source,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var settings = LoadSettings.From(
                parse.GetValue(url)!, parse.GetValue(apiKey)!, parse.GetValue(photos)!, parse.GetValue(clients), parse.GetValue(duration), parse.GetValue(warmup))
                with { CaseNumber = parse.GetValue(caseNumber)!, Source = parse.GetValue(source)! };
            return await RunLoadAsync(settings, parse.GetValue(json), GlobalOptions.Progress(parse), ct);
        }));
        return command;
    }

    private sealed record LoadSettings(Uri Url, string ApiKey, string PhotoFolder, int Clients, TimeSpan Duration, TimeSpan Warmup)
    {
        public string CaseNumber { get; init; } = "";

        public string Source { get; init; } = "other";

        public static LoadSettings From(string url, string apiKey, string photos, int clients, int duration, int warmup)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                throw new ArgumentException($"--url: '{url}' is not an http(s) URL such as http://127.0.0.1:5080.");
            }

            if (string.IsNullOrWhiteSpace(apiKey))
            {
                throw new ArgumentException("--api-key: give an API key (lineup users key NAME --key-name NAME prints one).");
            }

            if (clients is < 1 or > 1024)
            {
                throw new ArgumentException($"--clients: {clients} is not between 1 and 1024.");
            }

            if (duration is < 1 or > 86_400)
            {
                throw new ArgumentException($"--duration: {duration} is not between 1 and 86400 seconds.");
            }

            if (warmup is < 0 or > 3_600)
            {
                throw new ArgumentException($"--warmup: {warmup} is not between 0 and 3600 seconds.");
            }

            var root = uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
            return new LoadSettings(root, apiKey.Trim(), photos, clients, TimeSpan.FromSeconds(duration), TimeSpan.FromSeconds(warmup));
        }
    }

    private sealed record Probe(string Name, byte[] Bytes);

    /// <summary>One phase's figures: latencies of the requests started in the measured window; errors over the whole phase.</summary>
    private sealed record PhaseResult(
        string Name,
        int Clients,
        double WindowSeconds,
        long Requests,
        long Errors,
        long WarmupRequests,
        double Throughput,
        double MeanMs,
        double P50Ms,
        double P90Ms,
        double P99Ms,
        double MaxMs,
        IReadOnlyDictionary<string, long> Statuses);

    /// <summary>The first few failed answers, kept to be shown; the rest are only counted.</summary>
    private sealed class ErrorLog
    {
        private readonly Lock _gate = new();
        private readonly List<string> _shown = [];

        public bool SawRateLimit { get; private set; }

        public IReadOnlyList<string> Shown
        {
            get
            {
                lock (_gate)
                {
                    return [.. _shown];
                }
            }
        }

        public void Record(int status, string photo, string? body)
        {
            lock (_gate)
            {
                SawRateLimit |= status == (int)HttpStatusCode.TooManyRequests;
                if (_shown.Count < ErrorBodiesShown)
                {
                    var text = (body ?? string.Empty).ReplaceLineEndings(" ");
                    _shown.Add($"{StatusName(status)} for {photo}: {(text.Length > 300 ? text[..300] + "…" : text)}");
                }
            }
        }
    }

    /// <summary>One request's outcome: when it started (Stopwatch ticks), how long it took, and its status (0 = no answer).</summary>
    private readonly record struct Sample(long Started, double Milliseconds, int Status);

    private static async Task<int> RunLoadAsync(LoadSettings settings, string? jsonPath, IProgress<string> progress, CancellationToken ct)
    {
        var probes = await LoadProbesAsync(settings.PhotoFolder, ct);
        using var handler = new SocketsHttpHandler
        {
            // One connection per client (and one spare), kept open: the benchmark measures searches, not TCP handshakes.
            MaxConnectionsPerServer = settings.Clients + 1,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
        };
        using var http = new HttpClient(handler) { BaseAddress = settings.Url, Timeout = s_requestTimeout };
        http.DefaultRequestHeaders.Add("X-Api-Key", settings.ApiKey);

        // Preflight: every probe once. A probe the server cannot search (no face, under the quality floor) or a refused
        // key would otherwise show up as load errors; the benchmark stops before it starts instead.
        progress.Report($"preflight: searching each of the {probes.Count} probe photos once at {settings.Url}…");
        long? gallerySize = null;
        var refused = new List<string>();
        var refusedStatus = 0;
        foreach (var probe in probes)
        {
            var (status, body) = await SearchAsync(http, probe, settings, ct);
            if (status == (int)HttpStatusCode.OK)
            {
                gallerySize ??= GallerySize(body);
            }
            else
            {
                refused.Add($"{probe.Name}: {StatusName(status)} {Shorten(body)}");
                refusedStatus = status;
                if (status is 0 or (int)HttpStatusCode.Unauthorized or (int)HttpStatusCode.Forbidden or (int)HttpStatusCode.TooManyRequests)
                {
                    break;
                }
            }
        }

        if (refused.Count > 0)
        {
            foreach (var line in refused)
            {
                await Console.Error.WriteLineAsync($"lineup: preflight: {line}");
            }

            return refusedStatus switch
            {
                0 => GlobalOptions.Fail(ExitCodes.Error, $"cannot reach {settings.Url}; is `lineup serve` running there?"),
                (int)HttpStatusCode.Unauthorized or (int)HttpStatusCode.Forbidden => GlobalOptions.Fail(
                    ExitCodes.BadInput, "the API key was refused, or its user lacks the search permission (give it the analyst role)."),
                (int)HttpStatusCode.TooManyRequests => GlobalOptions.Fail(ExitCodes.BadInput, RateLimitHint),
                _ => GlobalOptions.Fail(ExitCodes.BadInput, "remove the probe photos the server does not search (listed above) and run again."),
            };
        }

        var errors = new ErrorLog();
        progress.Report($"baseline: 1 client, {settings.Warmup.TotalSeconds:0} s warm-up + {s_baselineWindow.TotalSeconds:0} s measured…");
        var baseline = await RunPhaseAsync(settings, "baseline", http, probes, 1, settings.Warmup, s_baselineWindow, errors, ct);
        progress.Report($"load: {settings.Clients} clients, {settings.Warmup.TotalSeconds:0} s warm-up + {settings.Duration.TotalSeconds:0} s measured…");
        var load = await RunPhaseAsync(settings, "load", http, probes, settings.Clients, settings.Warmup, settings.Duration, errors, ct);

        var throughputRatio = load.Throughput / baseline.Throughput;
        var p50Ratio = load.P50Ms / baseline.P50Ms;
        PrintTable(settings, probes.Count, gallerySize, baseline, load, throughputRatio, p50Ratio);
        foreach (var line in errors.Shown)
        {
            await Console.Error.WriteLineAsync($"lineup: error: {line}");
        }

        if (errors.SawRateLimit)
        {
            await Console.Error.WriteLineAsync($"lineup: {RateLimitHint}");
        }

        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new
            {
                url = settings.Url.AbsoluteUri,
                at = DateTimeOffset.Now,
                photos = probes.Count,
                settings.Clients,
                durationSeconds = settings.Duration.TotalSeconds,
                warmupSeconds = settings.Warmup.TotalSeconds,
                gallerySize,
                processorCount = Environment.ProcessorCount,
                baseline,
                load,
                throughputRatio,
                p50Ratio,
                errors = baseline.Errors + load.Errors,
                firstErrors = errors.Shown,
            }, SearchCommands.Json), ct);
        }

        return baseline.Errors + load.Errors == 0 ? ExitCodes.Ok : ExitCodes.Partial;
    }

    private const string RateLimitHint =
        "the server answered 429 (its per-user search limit): start it with LINEUP__Lineup__Server__SearchesPerMinute=100000.";

    private static async Task<List<Probe>> LoadProbesAsync(string folder, CancellationToken ct)
    {
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"--photos: the folder {folder} does not exist.");
        }

        var probes = new List<Probe>();
        foreach (var path in Directory.EnumerateFiles(folder).Where(IsJpeg).Order(StringComparer.Ordinal))
        {
            probes.Add(new Probe(Path.GetFileName(path), await File.ReadAllBytesAsync(path, ct)));
        }

        return probes.Count > 0 ? probes : throw new ArgumentException($"--photos: {folder} holds no JPEG files (*.jpg, *.jpeg).");

        static bool IsJpeg(string path) =>
            Path.GetExtension(path).ToUpperInvariant() is ".JPG" or ".JPEG";
    }

    /// <summary>
    /// Runs <paramref name="clients"/> closed-loop clients for warm-up + window. Throughput counts the requests started in
    /// the measured window over its length (in a steady closed loop, each client starts window / latency of them);
    /// requests started in the window finish even after it ends, so their latencies are all counted.
    /// </summary>
    private static async Task<PhaseResult> RunPhaseAsync(
        LoadSettings settings, string name, HttpClient http, List<Probe> probes, int clients, TimeSpan warmup, TimeSpan window, ErrorLog errors, CancellationToken ct)
    {
        var start = Stopwatch.GetTimestamp();
        var measureFrom = start + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        var end = measureFrom + (long)(window.TotalSeconds * Stopwatch.Frequency);
        var next = -1;
        var runs = Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            var samples = new List<Sample>();
            while (Stopwatch.GetTimestamp() < end)
            {
                // Round robin over the probes across all clients, so concurrent requests carry different photos.
                var probe = probes[(int)((uint)Interlocked.Increment(ref next) % (uint)probes.Count)];
                var started = Stopwatch.GetTimestamp();
                var (status, body) = await SearchAsync(http, probe, settings, ct);
                samples.Add(new Sample(started, Stopwatch.GetElapsedTime(started).TotalMilliseconds, status));
                if (status != (int)HttpStatusCode.OK)
                {
                    errors.Record(status, probe.Name, body);
                }
            }

            return samples;
        }, ct)).ToList();
        var all = (await Task.WhenAll(runs)).SelectMany(s => s).ToList();
        var measured = all.Where(s => s.Started >= measureFrom && s.Started < end).ToList();
        var latencies = measured.Select(s => s.Milliseconds).Order().ToArray();
        return new PhaseResult(
            name,
            clients,
            window.TotalSeconds,
            measured.Count,
            all.Count(s => s.Status != (int)HttpStatusCode.OK),
            all.Count - measured.Count,
            measured.Count / window.TotalSeconds,
            latencies.Length > 0 ? latencies.Average() : double.NaN,
            Percentile(latencies, 0.50),
            Percentile(latencies, 0.90),
            Percentile(latencies, 0.99),
            latencies.Length > 0 ? latencies[^1] : double.NaN,
            all.GroupBy(s => StatusName(s.Status)).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (long)g.LongCount()));
    }

    /// <summary>One search; the status (0 when no answer came: refused connection, timeout) and the body when it is not 200.</summary>
    private static async Task<(int Status, string? Body)> SearchAsync(HttpClient http, Probe probe, LoadSettings settings, CancellationToken ct)
    {
        try
        {
            using var content = new MultipartFormDataContent();
            var file = new ByteArrayContent(probe.Bytes);
            file.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
            content.Add(file, "photo", probe.Name);
            content.Add(new StringContent(settings.CaseNumber), "case");
            content.Add(new StringContent(settings.Source), "source");
            // PostAsync reads the whole answer before it returns, so the latency covers the full response.
            using var response = await http.PostAsync("api/search", content, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            return ((int)response.StatusCode, body);
        }
        catch (HttpRequestException e)
        {
            return (0, e.Message);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            return (0, $"no answer within {s_requestTimeout.TotalSeconds:0} s ({e.Message})");
        }
    }

    private static long? GallerySize(string? body)
    {
        try
        {
            using var json = JsonDocument.Parse(body ?? "{}");
            return json.RootElement.TryGetProperty("gallerySize", out var size) && size.TryGetInt64(out var value) ? value : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Nearest rank: the smallest latency with at least <paramref name="level"/> of the requests at or below it.</summary>
    private static double Percentile(double[] sorted, double level) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(level * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static string StatusName(int status) => status == 0 ? "no answer" : status.ToString(CultureInfo.InvariantCulture);

    private static string Shorten(string? body)
    {
        var text = (body ?? string.Empty).ReplaceLineEndings(" ");
        return text.Length > 200 ? text[..200] + "…" : text;
    }

    private static void PrintTable(
        LoadSettings settings, int photos, long? gallerySize, PhaseResult baseline, PhaseResult load, double throughputRatio, double p50Ratio)
    {
        AnsiConsole.MarkupLineInterpolated(
            $"Search load on {settings.Url}: gallery {(gallerySize is { } g ? g.ToString("N0", CultureInfo.InvariantCulture) : "?")} faces, {photos} probe photos, {Environment.ProcessorCount} CPUs here.");
        var table = new Table().AddColumns("measure", "1 client (baseline)", $"{load.Clients} clients");
        void Row(string measure, Func<PhaseResult, string> value) => table.AddRow(measure, value(baseline), value(load));
        Row("measured window", p => string.Create(CultureInfo.InvariantCulture, $"{p.WindowSeconds:0} s"));
        Row("requests", p => p.Requests.ToString("N0", CultureInfo.InvariantCulture));
        Row("[bold]errors[/] (warm-up included)", p => p.Errors.ToString("N0", CultureInfo.InvariantCulture));
        Row("[bold]throughput req/s[/]", p => p.Throughput.ToString("0.00", CultureInfo.InvariantCulture));
        Row("latency p50 ms", p => p.P50Ms.ToString("0", CultureInfo.InvariantCulture));
        Row("latency p90 ms", p => p.P90Ms.ToString("0", CultureInfo.InvariantCulture));
        Row("latency p99 ms", p => p.P99Ms.ToString("0", CultureInfo.InvariantCulture));
        Row("latency max ms", p => p.MaxMs.ToString("0", CultureInfo.InvariantCulture));
        Row("statuses", p => string.Join(", ", p.Statuses.Select(s => $"{s.Key}: {s.Value:N0}")));
        table.AddRow("[bold]throughput ratio to baseline[/]", "1.00", throughputRatio.ToString("0.00", CultureInfo.InvariantCulture));
        table.AddRow("p50 ratio to baseline", "1.00", p50Ratio.ToString("0.00", CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
    }
}
