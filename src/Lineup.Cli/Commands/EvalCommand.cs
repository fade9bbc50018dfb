using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Lineup.Core.Evaluation;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Numerics;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>
/// <c>lineup eval</c>: 1:1 verification (ROC AUC, EER, TAR at FAR 1% and 0.1%) over a pairs file and
/// 1:N identification (every labelled face against all others: rank-1 and rank-10) over a manifest.
/// Each photo's face is its most prominent one (<see cref="FaceSelection.MostProminent"/>); a photo without a face counts as an error
/// for every pair and search it takes part in (failure to enrol is not hidden).
/// </summary>
public static class EvalCommand
{
    public static Command Build()
    {
        var manifest = new Option<string>("--manifest") { Description = "CSV with columns path,identity (paths relative to the CSV's folder)", Required = true };
        var pairs = new Option<string>("--pairs") { Description = "CSV with columns path1,path2,same (1 = same person)", Required = true };
        var output = new Option<string>("--out") { Description = "Report folder", DefaultValueFactory = _ => "eval-out" };
        var groups = new Option<string?>("--groups") { Description = "Optional CSV with columns path,expected_faces: group photos whose faces are counted" };
        var command = new Command("eval", "Measure verification and identification accuracy on a labelled photo set") { manifest, pairs, output, groups };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            await using var engine = await LineupEngine.OpenForAnalysisAsync(options, GlobalOptions.Progress(parse), ct);
            var report = await RunAsync(engine, parse.GetValue(manifest)!, parse.GetValue(pairs)!, parse.GetValue(output)!, GlobalOptions.Progress(parse), ct, parse.GetValue(groups));
            Print(report);
            AnsiConsole.MarkupLineInterpolated($"Report: {Path.Combine(Path.GetFullPath(parse.GetValue(output)!), "report.md")}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    public sealed record EvalReport(
        string Model,
        string Manifest,
        string Pairs,
        DateTimeOffset When,
        int Photos,
        int PhotosWithoutFace,
        double Seconds,
        VerificationSummary Verification,
        IdentificationSummary Identification,
        IReadOnlyList<GroupCount> Groups);

    /// <summary>Faces found in a group photo against the count its source documents.</summary>
    public sealed record GroupCount(string Path, int Expected, int Found)
    {
        public bool AllFound => Found >= Expected;
    }

    public sealed record VerificationSummary(
        int Genuine,
        int Impostor,
        int PairsWithoutFace,
        double Auc,
        double Eer,
        double EerThreshold,
        double TarAtFar1Percent,
        double ThresholdAtFar1Percent,
        double TarAtFar01Percent,
        double ThresholdAtFar01Percent,
        IReadOnlyList<ProtocolSummary> Protocols);

    /// <summary>Per pair protocol: counts, median scores, AUC (when both kinds exist) and the genuine
    /// acceptance at the overall FAR 0.1% threshold.</summary>
    public sealed record ProtocolSummary(string Protocol, int Genuine, int Impostor, double MedianGenuine, double MedianImpostor, double Auc, double TarAtOverallFar01);

    public sealed record IdentificationSummary(int Identities, int Probes, int ProbesWithoutFace, int Gallery, double Rank1, double Rank10, IReadOnlyList<double> Cmc);

    public static async Task<EvalReport> RunAsync(
        LineupEngine engine, string manifestPath, string pairsPath, string outDir, IProgress<string> progress, CancellationToken ct, string? groupsPath = null)
    {
        var clock = Stopwatch.StartNew();
        var root = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        var labels = CsvReader.ReadFile(manifestPath).ToDictionary(r => Required(r, "path", manifestPath), r => Required(r, "identity", manifestPath));
        var pairRows = CsvReader.ReadFile(pairsPath)
            .Select(r => (A: Required(r, "path1", pairsPath), B: Required(r, "path2", pairsPath), Same: Required(r, "same", pairsPath) is "1" or "true",
                Protocol: r.TryGetValue("protocol", out var protocol) && protocol.Length > 0 ? protocol : "all"))
            .ToList();

        var photos = labels.Keys.Concat(pairRows.SelectMany(p => new[] { p.A, p.B })).Distinct().Order(StringComparer.Ordinal).ToList();
        var embeddings = new ConcurrentDictionary<string, float[]?>();
        var done = 0;
        await Parallel.ForEachAsync(photos, new ParallelOptions { MaxDegreeOfParallelism = engine.Options.Workers, CancellationToken = ct }, async (photo, c) =>
        {
            embeddings[photo] = await EmbedMostProminentAsync(engine.Analyzer, Path.Combine(root, photo), engine.Options.Limits, c);
            if (Interlocked.Increment(ref done) % 200 == 0)
            {
                progress.Report($"  {done}/{photos.Count} photos analysed");
            }
        });

        // 1:1 verification.
        var genuine = new List<double>();
        var impostor = new List<double>();
        var byProtocol = new Dictionary<string, (List<double> Genuine, List<double> Impostor)>();
        var pairsWithoutFace = 0;
        var scores = new StringBuilder("path1,path2,same,protocol,score\n");
        foreach (var (a, b, same, protocol) in pairRows)
        {
            var ea = embeddings[a];
            var eb = embeddings[b];
            // A pair whose photo has no face is scored -1: a genuine pair then counts as a miss, an impostor as a reject.
            var score = ea is null || eb is null ? -1 : VectorMath.CosineOfUnit(ea, eb);
            pairsWithoutFace += ea is null || eb is null ? 1 : 0;
            (same ? genuine : impostor).Add(score);
            scores.Append(CultureInfo.InvariantCulture, $"{a},{b},{(same ? 1 : 0)},{protocol},{score:0.0000}\n");
            if (!byProtocol.TryGetValue(protocol, out var lists))
            {
                byProtocol[protocol] = lists = ([], []);
            }

            (same ? lists.Genuine : lists.Impostor).Add(score);
        }

        var verification = VerificationMetrics.Compute(genuine, impostor);
        var protocols = byProtocol.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => new ProtocolSummary(p.Key, p.Value.Genuine.Count, p.Value.Impostor.Count,
                p.Value.Genuine.Count == 0 ? double.NaN : Statistics.Median(p.Value.Genuine),
                p.Value.Impostor.Count == 0 ? double.NaN : Statistics.Median(p.Value.Impostor),
                p.Value.Genuine.Count > 0 && p.Value.Impostor.Count > 0 ? VerificationMetrics.Compute(p.Value.Genuine, p.Value.Impostor).Auc : double.NaN,
                p.Value.Genuine.Count == 0 ? double.NaN : p.Value.Genuine.Count(s => s >= verification.AtFar01Percent.Threshold) / (double)p.Value.Genuine.Count))
            .ToList();

        // 1:N identification over single-identity photos.
        var labelled = labels.Where(l => !l.Value.StartsWith("group:", StringComparison.Ordinal) && l.Value != "noface").ToList();
        var gallery = labelled.Where(l => embeddings[l.Key] is not null).Select(l => (l.Key, l.Value, Vector: embeddings[l.Key]!)).ToList();
        var multi = labelled.GroupBy(l => l.Value).Where(g => g.Count() >= 2).Select(g => g.Key).ToHashSet();
        var ranks = new List<int>();
        var probesWithoutFace = 0;
        foreach (var (path, identity) in labelled.Where(l => multi.Contains(l.Value)))
        {
            if (embeddings[path] is not { } probe)
            {
                probesWithoutFace++;
                ranks.Add(0);
                continue;
            }

            var ordered = gallery.Where(g => g.Key != path)
                .Select(g => (g.Value, Score: VectorMath.CosineOfUnit(probe, g.Vector)))
                .OrderByDescending(g => g.Score)
                .ToList();
            var rank = ordered.FindIndex(g => g.Value == identity) + 1;
            ranks.Add(rank);
        }

        var identification = IdentificationMetrics.FromMateRanks(ranks);
        var groupCounts = groupsPath is null ? [] : await CountGroupFacesAsync(engine, groupsPath, ct);
        var report = new EvalReport(
            engine.Analyzer.ModelId,
            Path.GetFullPath(manifestPath),
            Path.GetFullPath(pairsPath),
            DateTimeOffset.UtcNow,
            photos.Count,
            embeddings.Count(e => e.Value is null),
            clock.Elapsed.TotalSeconds,
            new VerificationSummary(verification.Genuine, verification.Impostor, pairsWithoutFace, verification.Auc, verification.Eer,
                verification.EerThreshold, verification.AtFar1Percent.Tar, verification.AtFar1Percent.Threshold,
                verification.AtFar01Percent.Tar, verification.AtFar01Percent.Threshold, protocols),
            new IdentificationSummary(multi.Count, identification.Probes, probesWithoutFace, gallery.Count,
                identification.Rank1Rate, identification.Rank10Rate, identification.Cmc),
            groupCounts);

        Directory.CreateDirectory(outDir);
        await File.WriteAllTextAsync(Path.Combine(outDir, "report.json"), JsonSerializer.Serialize(report, SearchCommands.Json), ct);
        await File.WriteAllTextAsync(Path.Combine(outDir, "report.md"), Markdown(report), ct);
        await File.WriteAllTextAsync(Path.Combine(outDir, "pair-scores.csv"), scores.ToString(), ct);
        DetPlot.Save(verification, Path.Combine(outDir, "det.png"));
        return report;
    }

    private static async Task<float[]?> EmbedMostProminentAsync(IPhotoAnalyzer analyzer, string path, DecodeLimits limits, CancellationToken ct)
    {
        var bytes = await File.ReadAllBytesAsync(path, ct);
        try
        {
            var analysis = analyzer.Analyze(bytes, limits);
            return FaceSelection.MostProminent(analysis.Faces, analysis.Info.Width, analysis.Info.Height)?.Embedding;
        }
        catch (ImageRejectedException)
        {
            return null;
        }
    }

    private static async Task<List<GroupCount>> CountGroupFacesAsync(LineupEngine engine, string groupsPath, CancellationToken ct)
    {
        var root = Path.GetDirectoryName(Path.GetFullPath(groupsPath))!;
        var counts = new List<GroupCount>();
        foreach (var row in CsvReader.ReadFile(groupsPath))
        {
            if (!row.TryGetValue("expected_faces", out var expected) || !int.TryParse(expected, CultureInfo.InvariantCulture, out var n))
            {
                continue;
            }

            var path = Required(row, "path", groupsPath);
            var bytes = await File.ReadAllBytesAsync(Path.Combine(root, path), ct);
            counts.Add(new GroupCount(path, n, engine.Analyzer.Analyze(bytes, engine.Options.Limits).Faces.Count));
        }

        return counts;
    }

    private static string Required(IReadOnlyDictionary<string, string> row, string column, string file) =>
        row.TryGetValue(column, out var value) && value.Length > 0
            ? value
            : throw new InvalidDataException($"{file}: a row has no '{column}' value.");

    public static string Markdown(EvalReport r)
    {
        var v = r.Verification;
        var i = r.Identification;
        var md = new StringBuilder();
        md.AppendLine($"# Evaluation: {r.Model}");
        md.AppendLine();
        md.AppendLine($"{r.Photos} photos ({r.PhotosWithoutFace} without a detected face), {r.Seconds:0} s, {r.When:yyyy-MM-dd}.");
        md.AppendLine();
        md.AppendLine("| 1:1 verification | value |");
        md.AppendLine("|---|---|");
        md.AppendLine($"| genuine / impostor pairs | {v.Genuine} / {v.Impostor} ({v.PairsWithoutFace} with a photo without a face, scored −1) |");
        md.AppendLine($"| ROC AUC | {v.Auc:0.0000} |");
        md.AppendLine($"| EER | {v.Eer:P2} at cosine {v.EerThreshold:0.000} |");
        md.AppendLine($"| TAR @ FAR 1% | {v.TarAtFar1Percent:P2} at cosine {v.ThresholdAtFar1Percent:0.000} |");
        md.AppendLine($"| TAR @ FAR 0.1% | {v.TarAtFar01Percent:P2} at cosine {v.ThresholdAtFar01Percent:0.000} |");
        md.AppendLine();
        md.AppendLine("| pair protocol | genuine | impostor | median genuine | median impostor | AUC | TAR at the overall FAR 0.1% threshold |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var p in v.Protocols)
        {
            md.AppendLine($"| {p.Protocol} | {p.Genuine} | {p.Impostor} | {p.MedianGenuine:0.000} | {p.MedianImpostor:0.000} | {p.Auc:0.0000} | {p.TarAtOverallFar01:P1} |");
        }

        md.AppendLine();
        md.AppendLine("| 1:N identification | value |");
        md.AppendLine("|---|---|");
        md.AppendLine($"| identities with ≥ 2 photos | {i.Identities} |");
        md.AppendLine($"| probes / gallery faces | {i.Probes} / {i.Gallery} ({i.ProbesWithoutFace} probes without a face) |");
        md.AppendLine($"| rank-1 | {i.Rank1:P2} |");
        md.AppendLine($"| rank-10 | {i.Rank10:P2} |");
        if (r.Groups.Count > 0)
        {
            md.AppendLine();
            md.AppendLine($"| group photo | documented faces | found | |");
            md.AppendLine("|---|---|---|---|");
            foreach (var g in r.Groups)
            {
                md.AppendLine($"| {g.Path} | {g.Expected} | {g.Found} | {(g.AllFound ? "all found" : "MISSED")} |");
            }

            md.AppendLine($"| **total** | {r.Groups.Sum(g => g.Expected)} | {r.Groups.Sum(g => Math.Min(g.Found, g.Expected))} found of them | {r.Groups.Count(g => g.AllFound)}/{r.Groups.Count} photos complete |");
        }

        md.AppendLine();
        md.AppendLine("![DET curve](det.png)");
        return md.ToString();
    }

    private static void Print(EvalReport r)
    {
        var table = new Table().AddColumns("metric", "value");
        table.AddRow("pairs genuine / impostor", $"{r.Verification.Genuine} / {r.Verification.Impostor}");
        table.AddRow("ROC AUC", r.Verification.Auc.ToString("0.0000"));
        table.AddRow("EER", $"{r.Verification.Eer:P2} @ {r.Verification.EerThreshold:0.000}");
        table.AddRow("TAR @ FAR 1%", $"{r.Verification.TarAtFar1Percent:P2} @ {r.Verification.ThresholdAtFar1Percent:0.000}");
        table.AddRow("TAR @ FAR 0.1%", $"{r.Verification.TarAtFar01Percent:P2} @ {r.Verification.ThresholdAtFar01Percent:0.000}");
        table.AddRow("1:N probes", r.Identification.Probes.ToString());
        table.AddRow("rank-1", r.Identification.Rank1.ToString("P2"));
        table.AddRow("rank-10", r.Identification.Rank10.ToString("P2"));
        table.AddRow("photos without a face", r.PhotosWithoutFace.ToString());
        if (r.Groups.Count > 0)
        {
            table.AddRow("group photos complete", $"{r.Groups.Count(g => g.AllFound)}/{r.Groups.Count} (faces found/documented {r.Groups.Sum(g => Math.Min(g.Found, g.Expected))}/{r.Groups.Sum(g => g.Expected)})");
        }
        AnsiConsole.Write(table);
    }
}
