using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json;
using Lineup.Core.Evaluation;
using Lineup.Core.Faces;
using Lineup.Core.Numerics;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Lineup.Vision.Imaging;
using Lineup.Vision.Models;
using Spectre.Console;

namespace Lineup.Cli.Commands;

/// <summary>What <c>lineup eval</c> is asked to do.</summary>
/// <param name="Manifest">CSV path,identity (paths relative to its folder).</param>
/// <param name="Pairs">CSV path1,path2,same[,protocol].</param>
/// <param name="Degrade">Also measure the standard probe degradations (<see cref="Degradation.Standard"/>).</param>
/// <param name="DistractorMultipliers">Gallery sizes, as multiples of the real gallery, for the synthetic-distractor scaling.</param>
/// <param name="WriteCalibration">A model-pack manifest (model-pack.json) whose calibration is replaced by this run's.</param>
public sealed record EvalRequest(
    string Manifest,
    string Pairs,
    string OutDir,
    string? Groups = null,
    bool Degrade = false,
    IReadOnlyList<int>? DistractorMultipliers = null,
    string? WriteCalibration = null);

/// <summary>
/// <c>lineup eval</c>: NIST-style accuracy of the loaded pack on a labelled photo set. 1:1 verification over a
/// pairs file (ROC AUC, EER, TAR at FAR 1 % and 0.1 %, DET); the score calibration (similarity → false-match rate
/// and true-match rate) fitted on every labelled pair, with a half-on-half check; open-set 1:N identification
/// (CMC, FNIR against FPIR), the same per probe-quality stratum, error-versus-discard curves, gallery-size scaling
/// with synthetic distractors and, with <c>--degrade</c>, the effect of each standard probe degradation.
/// Each photo's face is its most prominent one (<see cref="FaceSelection.MostProminent"/>); a photo without a face
/// counts as an error for every pair and search it takes part in (failure to enrol is not hidden).
/// </summary>
public static class EvalCommand
{
    /// <summary>The operating point every FNIR in the report is given at.</summary>
    private const double ReferenceFpir = 0.01;

    public static Command Build()
    {
        var manifest = new Option<string>("--manifest") { Description = "CSV with columns path,identity (paths relative to the CSV's folder)", Required = true };
        var pairs = new Option<string>("--pairs") { Description = "CSV with columns path1,path2,same (1 = same person)[,protocol]", Required = true };
        var output = new Option<string>("--out") { Description = "Report folder", DefaultValueFactory = _ => "eval-out" };
        var groups = new Option<string?>("--groups") { Description = "Optional CSV with columns path,expected_faces: group photos whose faces are counted" };
        var degrade = new Option<bool>("--degrade") { Description = "Also search with degraded probes (downscaled, blurred, JPEG q10, rotated, masked, low light)" };
        var distractors = new Option<string>("--distractors") { Description = "Gallery-size multipliers for the synthetic-distractor scaling", DefaultValueFactory = _ => "1,10,100" };
        var writeCalibration = new Option<string?>("--write-calibration") { Description = "Replace the calibration in this model-pack.json with the one fitted here" };
        var command = new Command("eval", "Measure verification, identification and calibration on a labelled photo set")
        {
            manifest, pairs, output, groups, degrade, distractors, writeCalibration,
        };
        command.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var multipliers = ParseMultipliers(parse.GetValue(distractors)!);
            var options = GlobalOptions.Resolve(parse);
            await using var engine = await LineupEngine.OpenForAnalysisAsync(options, GlobalOptions.Progress(parse), ct);
            var request = new EvalRequest(
                parse.GetValue(manifest)!, parse.GetValue(pairs)!, parse.GetValue(output)!, parse.GetValue(groups), parse.GetValue(degrade),
                multipliers, parse.GetValue(writeCalibration));
            var report = await RunAsync(engine, request, GlobalOptions.Progress(parse), ct);
            Print(report);
            AnsiConsole.MarkupLineInterpolated($"Report: {Path.Combine(Path.GetFullPath(request.OutDir), "report.md")}");
            if (request.WriteCalibration is not null)
            {
                AnsiConsole.MarkupLineInterpolated($"Calibration written into {request.WriteCalibration}");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static int[] ParseMultipliers(string text)
    {
        var values = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var parsed = new List<int>();
        foreach (var value in values)
        {
            if (!int.TryParse(value, CultureInfo.InvariantCulture, out var m) || m < 1 || m > 10_000)
            {
                throw new ArgumentException($"--distractors: '{value}' is not a multiplier between 1 and 10000.");
            }

            parsed.Add(m);
        }

        return parsed.Count == 0 ? throw new ArgumentException("--distractors needs at least one multiplier, e.g. 1,10,100.") : [.. parsed.Distinct().Order()];
    }

    public static async Task<EvalReport> RunAsync(LineupEngine engine, EvalRequest request, IProgress<string> progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var root = Path.GetDirectoryName(Path.GetFullPath(request.Manifest))!;
        var labels = ReadLabels(request.Manifest);
        var pairRows = ReadPairs(request.Pairs);
        var photos = labels.Keys.Concat(pairRows.SelectMany(p => new[] { p.A, p.B })).Distinct().Order(StringComparer.Ordinal).ToList();
        foreach (var photo in photos.Where(p => !File.Exists(Path.Combine(root, p))))
        {
            throw new FileNotFoundException($"{request.Manifest}: {photo} does not exist under {root}.");
        }

        progress.Report($"Analysing {photos.Count} photos…");
        var faces = await EvalAnalysis.AnalyseAsync(engine.Analyzer, root, photos, engine.Options.Limits, engine.Options.Workers, progress, ct);
        var labelled = labels.Where(l => !l.Value.StartsWith("group:", StringComparison.Ordinal) && l.Value != "noface")
            .Select(l => (Path: l.Key, Identity: l.Value)).OrderBy(l => l.Path, StringComparer.Ordinal).ToList();

        Directory.CreateDirectory(request.OutDir);
        var (verification, qualityPairs, det) = await VerifyAsync(pairRows, faces, request.OutDir, ct);
        var identification = ClosedSetIdentification(labelled, faces);

        progress.Report("Fitting the score calibration…");
        var pairs = LabelledPairs.Score(labelled, faces);
        var calibration = Calibrate(pairs, Path.GetFileName(root) is { Length: > 0 } name ? name : root);

        progress.Report("Open-set identification…");
        var split = OpenSetSplit.Create(labelled, faces);
        var openSet = split.Gallery.Count > 0 && split.Mated.Count > 0 ? OpenSet(split, faces) : null;

        var floor = engine.Options.Search.QualityFloor;
        var qualities = faces.Values.Where(f => f is not null).Select(f => (double)f!.QualityScore).ToList();
        var verificationThreshold = engine.Threshold;
        var quality = new QualitySummary(
            verificationThreshold,
            ErrorVersusDiscard.Fnmr(qualityPairs, verificationThreshold),
            openSet?.Edc ?? [],
            qualities.Count == 0 ? double.NaN : Statistics.Median(qualities),
            floor,
            qualities.Count == 0 ? double.NaN : qualities.Count(q => q < floor) / (double)qualities.Count);

        ScalingSummary? scaling = null;
        if (openSet is not null && calibration is not null)
        {
            progress.Report("Gallery-size scaling with synthetic distractors…");
            scaling = Scale(split, labelled, faces, pairs, request.DistractorMultipliers ?? [1, 10, 100], ct);
        }

        var degradations = new List<DegradationSummary>();
        if (request.Degrade && openSet is not null)
        {
            degradations.AddRange(await DegradeAsync(engine, root, split, faces, openSet, progress, ct));
        }

        var groupCounts = request.Groups is null ? [] : await CountGroupFacesAsync(engine, request.Groups, ct);
        var report = new EvalReport(
            engine.Analyzer.ModelId,
            Path.GetFullPath(request.Manifest),
            Path.GetFullPath(request.Pairs),
            DateTimeOffset.UtcNow,
            photos.Count,
            faces.Count(e => e.Value is null),
            clock.Elapsed.TotalSeconds,
            verification,
            identification,
            openSet?.Summary,
            quality,
            calibration,
            scaling,
            degradations,
            groupCounts);

        await WriteAsync(report, det, request.OutDir, ct);
        if (request.WriteCalibration is not null)
        {
            if (calibration is null)
            {
                throw new ArgumentException($"{request.Manifest}: too few labelled pairs to fit a calibration; {request.WriteCalibration} was left unchanged.");
            }

            await WriteCalibrationAsync(request.WriteCalibration, calibration, ct);
        }

        return report;
    }

    private static Dictionary<string, string> ReadLabels(string manifestPath) =>
        CsvReader.ReadFile(manifestPath).ToDictionary(r => Required(r, "path", manifestPath), r => Required(r, "identity", manifestPath), StringComparer.Ordinal);

    private static List<(string A, string B, bool Same, string Protocol)> ReadPairs(string pairsPath) =>
        CsvReader.ReadFile(pairsPath)
            .Select(r => (A: Required(r, "path1", pairsPath), B: Required(r, "path2", pairsPath), Same: Required(r, "same", pairsPath) is "1" or "true",
                Protocol: r.TryGetValue("protocol", out var protocol) && protocol.Length > 0 ? protocol : "all"))
            .ToList();

    private static async Task<(VerificationSummary, List<QualityPair>, DetCurve)> VerifyAsync(
        List<(string A, string B, bool Same, string Protocol)> pairRows, IReadOnlyDictionary<string, EvalFace?> faces, string outDir, CancellationToken ct)
    {
        var genuine = new List<double>();
        var impostor = new List<double>();
        var byProtocol = new Dictionary<string, (List<double> Genuine, List<double> Impostor)>();
        var qualityPairs = new List<QualityPair>();
        var pairsWithoutFace = 0;
        var scores = new StringBuilder("path1,path2,same,protocol,score,quality1,quality2\n");
        foreach (var (a, b, same, protocol) in pairRows)
        {
            var fa = faces[a];
            var fb = faces[b];

            // A pair whose photo has no face is scored -1: a genuine pair then counts as a miss, an impostor as a reject.
            var score = fa is null || fb is null ? -1 : VectorMath.CosineOfUnit(fa.Embedding, fb.Embedding);
            pairsWithoutFace += fa is null || fb is null ? 1 : 0;
            (same ? genuine : impostor).Add(score);
            qualityPairs.Add(new QualityPair(score, same, fa?.QualityScore ?? 0, fb?.QualityScore ?? 0));
            scores.Append(CultureInfo.InvariantCulture, $"{a},{b},{(same ? 1 : 0)},{protocol},{score:0.0000},{fa?.QualityScore ?? 0:0.0},{fb?.QualityScore ?? 0:0.0}\n");
            if (!byProtocol.TryGetValue(protocol, out var lists))
            {
                byProtocol[protocol] = lists = ([], []);
            }

            (same ? lists.Genuine : lists.Impostor).Add(score);
        }

        await File.WriteAllTextAsync(Path.Combine(outDir, "pair-scores.csv"), scores.ToString(), ct);
        var v = VerificationMetrics.Compute(genuine, impostor);
        var protocols = byProtocol.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => new ProtocolSummary(p.Key, p.Value.Genuine.Count, p.Value.Impostor.Count,
                p.Value.Genuine.Count == 0 ? double.NaN : Statistics.Median(p.Value.Genuine),
                p.Value.Impostor.Count == 0 ? double.NaN : Statistics.Median(p.Value.Impostor),
                p.Value.Genuine.Count > 0 && p.Value.Impostor.Count > 0 ? VerificationMetrics.Compute(p.Value.Genuine, p.Value.Impostor).Auc : double.NaN,
                p.Value.Genuine.Count == 0 ? double.NaN : p.Value.Genuine.Count(s => s >= v.AtFar01Percent.Threshold) / (double)p.Value.Genuine.Count))
            .ToList();
        var summary = new VerificationSummary(v.Genuine, v.Impostor, pairsWithoutFace, v.Auc, v.Eer, v.EerThreshold,
            v.AtFar1Percent.Tar, v.AtFar1Percent.Threshold, v.AtFar01Percent.Tar, v.AtFar01Percent.Threshold, protocols);
        return (summary, qualityPairs, DetCurve.Compute(genuine, impostor));
    }

    /// <summary>Every labelled face of an identity with two or more photos against all other labelled faces.</summary>
    private static IdentificationSummary ClosedSetIdentification(List<(string Path, string Identity)> labelled, IReadOnlyDictionary<string, EvalFace?> faces)
    {
        var gallery = labelled.Where(l => faces[l.Path] is not null).Select(l => (l.Path, l.Identity, Vector: faces[l.Path]!.Embedding)).ToList();
        var multi = labelled.GroupBy(l => l.Identity).Where(g => g.Count() >= 2).Select(g => g.Key).ToHashSet();
        var ranks = new List<int>();
        var probesWithoutFace = 0;
        foreach (var (path, identity) in labelled.Where(l => multi.Contains(l.Identity)))
        {
            if (faces[path] is not { } probe)
            {
                probesWithoutFace++;
                ranks.Add(0);
                continue;
            }

            var ordered = gallery.Where(g => g.Path != path)
                .Select(g => (g.Identity, Score: VectorMath.CosineOfUnit(probe.Embedding, g.Vector)))
                .OrderByDescending(g => g.Score)
                .ToList();
            ranks.Add(ordered.FindIndex(g => g.Identity == identity) + 1);
        }

        var id = IdentificationMetrics.FromMateRanks(ranks);
        return new IdentificationSummary(multi.Count, id.Probes, probesWithoutFace, gallery.Count, id.Rank1Rate, id.Rank10Rate, id.Cmc);
    }

    /// <summary>
    /// Every pair of labelled faces, scored once: same identity → genuine, different → impostor (about a million
    /// impostor pairs on the shared set, against the 860 of pairs.csv, so the tail is measured down to 10⁻⁶).
    /// Identities alternate between halves A and B in name order; the calibration check fits on one half and checks on
    /// the other, and the gallery-scaling distractors are fitted on A's faces and matched to B's impostor scores.
    /// </summary>
    private sealed record LabelledPairs(
        int Faces,
        int Identities,
        HashSet<string> HalfA,
        List<double> Genuine,
        List<double> Impostor,
        (List<double> Genuine, List<double> Impostor)[] Halves)
    {
        public static LabelledPairs Score(List<(string Path, string Identity)> labelled, IReadOnlyDictionary<string, EvalFace?> faces)
        {
            var withFace = labelled.Where(l => faces[l.Path] is not null).ToList();
            var identities = labelled.Select(l => l.Identity).Distinct().Order(StringComparer.Ordinal).ToList();
            var half = identities.Select((identity, i) => (identity, i)).ToDictionary(p => p.identity, p => p.i % 2);
            var pairs = new LabelledPairs(
                withFace.Count, withFace.Select(l => l.Identity).Distinct().Count(), identities.Where(i => half[i] == 0).ToHashSet(), [], [],
                [([], []), ([], [])]);
            for (var i = 0; i < withFace.Count; i++)
            {
                var a = faces[withFace[i].Path]!.Embedding;
                for (var j = i + 1; j < withFace.Count; j++)
                {
                    var score = (double)TensorPrimitives.Dot(a, faces[withFace[j].Path]!.Embedding);
                    var same = withFace[i].Identity == withFace[j].Identity;
                    (same ? pairs.Genuine : pairs.Impostor).Add(score);
                    var hi = half[withFace[i].Identity];
                    if (hi == half[withFace[j].Identity])
                    {
                        (same ? pairs.Halves[hi].Genuine : pairs.Halves[hi].Impostor).Add(score);
                    }
                }
            }

            return pairs;
        }
    }

    /// <summary>The calibration fitted on every labelled pair, and each half's fit checked on the other half.</summary>
    private static CalibrationSummary? Calibrate(LabelledPairs pairs, string dataset)
    {
        var all = (pairs.Genuine, pairs.Impostor);
        var halves = pairs.Halves;
        if (all.Genuine.Count == 0 || halves.Any(h => h.Genuine.Count == 0 || h.Impostor.Count < ScoreCalibration.MinImpostors * 10))
        {
            return null;
        }

        var when = DateTimeOffset.UtcNow;
        var description = $"{dataset}: every pair of {pairs.Faces} labelled faces of {pairs.Identities} identities " +
            $"({all.Genuine.Count:N0} genuine, {all.Impostor.Count:N0} impostor)";
        var full = ScoreCalibration.Fit(all.Genuine, all.Impostor, description, when);
        var onA = ScoreCalibration.Fit(halves[0].Genuine, halves[0].Impostor, "half A", when);
        var onB = ScoreCalibration.Fit(halves[1].Genuine, halves[1].Impostor, "half B", when);
        // The plotted curve stops where ten held-out impostors would be expected: below that the observed rate is noise.
        var grid = CalibrationCheck.TargetGrid(10.0 / halves[1].Impostor.Count);
        return new CalibrationSummary(
            full,
            pairs.Identities,
            pairs.Faces,
            CalibrationCheck.Run(onA, halves[1].Genuine, halves[1].Impostor),
            CalibrationCheck.Run(onB, halves[0].Genuine, halves[0].Impostor),
            full.SimilarityAtFmr(0.001),
            full.SimilarityAtFmr(0.01),
            CalibrationCheck.Run(onA, halves[1].Genuine, halves[1].Impostor, grid).Points);
    }

    /// <summary>Open-set results plus what later steps need: the undegraded searches and the FPIR-1 % threshold.</summary>
    private sealed record OpenSetRun(
        OpenSetSummary Summary,
        IReadOnlyList<MatedSearch> Mated,
        IReadOnlyList<NonMatedSearch> NonMated,
        double Threshold,
        IReadOnlyList<EdcPoint> Edc);

    private static OpenSetRun OpenSet(OpenSetSplit split, IReadOnlyDictionary<string, EvalFace?> faces)
    {
        var mated = new List<MatedSearch>();
        var nonMated = split.NonMated.Select(p => new NonMatedSearch(split.TopScore(faces[p]?.Embedding))).ToList();
        var singletons = nonMated.Count;
        var probeQuality = new List<double>();
        foreach (var (path, identity) in split.Mated)
        {
            var (search, topOther) = split.Search(faces[path]?.Embedding, identity);
            mated.Add(search);
            probeQuality.Add(faces[path]?.QualityScore ?? 0);
            if (faces[path] is not null)
            {
                nonMated.Add(new NonMatedSearch(topOther));
            }
        }

        var open = OpenSetIdentification.Create(mated, nonMated);
        var report = open.ToReport();
        var threshold = open.FnirAtFpir(ReferenceFpir).Threshold;
        var strata = QualityStrata.ByQuantiles(Enumerable.Range(0, mated.Count).ToList(), i => probeQuality[i], 3)
            .Select((s, n) =>
            {
                var members = s.Members.Select(i => mated[i]).ToList();
                var stratum = members.Count == 0 ? null : OpenSetIdentification.Create(members, nonMated);
                return new StratumSummary(
                    new[] { "low", "middle", "high" }[n], s.Lower, s.Upper, members.Count,
                    stratum?.Rank1 ?? double.NaN, stratum?.Fnir(threshold));
            })
            .ToList();

        var edc = ErrorVersusDiscard.Compute(
            mated.Select((m, i) => new QualityProbe(probeQuality[i], !(m.MateRank == 1 && m.MateScore >= threshold))).ToList());
        return new OpenSetRun(
            new OpenSetSummary(split.Gallery.Count, singletons, nonMated.Count - singletons, report, strata), mated, nonMated, threshold, edc);
    }

    /// <summary>
    /// FNIR at FPIR 1 % as the gallery grows to each multiple of its real size with synthetic distractors fitted on
    /// identity half A and matched to half B's impostor scores, for the probes of half B. Distractors are scored in
    /// blocks against every probe, so a 100× gallery costs one pass over the distractors.
    /// </summary>
    private static ScalingSummary Scale(
        OpenSetSplit split, List<(string Path, string Identity)> labelled, IReadOnlyDictionary<string, EvalFace?> faces, LabelledPairs pairs,
        IReadOnlyList<int> multipliers, CancellationToken ct)
    {
        var inA = pairs.HalfA;
        var dims = split.GalleryMatrix.Length / split.Gallery.Count;
        var a = labelled.Where(l => inA.Contains(l.Identity) && faces[l.Path] is not null).Select(l => faces[l.Path]!.Embedding).ToList();
        var b = labelled.Where(l => !inA.Contains(l.Identity) && faces[l.Path] is not null).Select(l => faces[l.Path]!.Embedding).ToList();
        var generator = SyntheticDistractors.Fit(
            a.SelectMany(v => v).ToArray(), b.SelectMany(v => v).ToArray(), dims, pairs.Halves[1].Impostor, seed: 7);

        // Probes: mated probes (with their mate's score) and non-mated probes; per probe, the synthetic scores are
        // reduced to what the metrics need at each gallery size: the top synthetic score and how many beat the mate.
        // Only half B's photos probe: a basis face (half A) sits measurably closer to the synthetic vectors than a new
        // face does, which would overstate the distractors' effect.
        var identityOf = labelled.ToDictionary(l => l.Path, l => l.Identity, StringComparer.Ordinal);
        var probes = split.Mated.Where(m => !inA.Contains(m.Identity)).Select(m => (Vector: faces[m.Path]?.Embedding, m.Identity, Mated: true))
            .Concat(split.NonMated.Where(p => !inA.Contains(identityOf[p])).Select(p => (Vector: faces[p]?.Embedding, Identity: "", Mated: false)))
            .ToList();
        // As in the open-set evaluation, a mated probe with a face is also a non-mated search with its identity left out.
        var searches = probes.Select(p => p.Mated ? split.Search(p.Vector, p.Identity) : (default, split.TopScore(p.Vector))).ToList();
        var baseline = searches.Select(s => s.Item1).ToList();
        var baseTop = searches.Select(s => s.Item2).ToList();
        var sizes = multipliers.Select(m => (m - 1) * split.Gallery.Count).ToArray();
        var maxSynthetic = sizes.Max();
        var topAt = new float[probes.Count, sizes.Length];
        var beatsAt = new int[probes.Count, sizes.Length];
        for (var p = 0; p < probes.Count; p++)
        {
            for (var s = 0; s < sizes.Length; s++)
            {
                topAt[p, s] = float.NegativeInfinity;
            }
        }

        const int Block = 2048;
        var block = new float[Block * dims];
        for (var start = 0; start < maxSynthetic; start += Block)
        {
            ct.ThrowIfCancellationRequested();
            var count = Math.Min(Block, maxSynthetic - start);
            generator.Generate(count, block, start);
            var first = start;
            Parallel.For(0, probes.Count, p =>
            {
                if (probes[p].Vector is not { } v)
                {
                    return;
                }

                var mateScore = baseline[p].Found ? baseline[p].MateScore : float.PositiveInfinity;
                for (var k = 0; k < count; k++)
                {
                    var score = TensorPrimitives.Dot(v, block.AsSpan(k * dims, dims));
                    var index = first + k;
                    for (var s = 0; s < sizes.Length; s++)
                    {
                        if (index < sizes[s])
                        {
                            topAt[p, s] = Math.Max(topAt[p, s], score);
                            beatsAt[p, s] += score > mateScore ? 1 : 0;
                        }
                    }
                }
            });
        }

        var points = new List<ScalingPoint>();
        for (var s = 0; s < sizes.Length; s++)
        {
            var mated = new List<MatedSearch>();
            var nonMated = new List<NonMatedSearch>();
            for (var p = 0; p < probes.Count; p++)
            {
                if (probes[p].Mated)
                {
                    mated.Add(baseline[p].Found ? new MatedSearch(baseline[p].MateRank + beatsAt[p, s], baseline[p].MateScore) : MatedSearch.Miss);
                }

                if (!probes[p].Mated || probes[p].Vector is not null)
                {
                    nonMated.Add(new NonMatedSearch(Math.Max(baseTop[p], topAt[p, s])));
                }
            }

            var open = OpenSetIdentification.Create(mated, nonMated);
            var at = open.FnirAtFpir(ReferenceFpir);
            points.Add(new ScalingPoint(multipliers[s], split.Gallery.Count + sizes[s], open.Rank1, at.Threshold, at.Fpir, at.Fnir));
        }

        return new ScalingSummary(generator.Report, probes.Count(p => p.Mated), probes.Count(p => !p.Mated), points);
    }

    /// <summary>Each standard degradation applied to every mated probe with a face, searched against the undegraded gallery.</summary>
    private static async Task<List<DegradationSummary>> DegradeAsync(
        LineupEngine engine, string root, OpenSetSplit split, IReadOnlyDictionary<string, EvalFace?> faces, OpenSetRun baseline,
        IProgress<string> progress, CancellationToken ct)
    {
        var probes = split.Mated.Select((m, i) => (m.Path, m.Identity, Index: i)).Where(m => faces[m.Path] is not null).ToList();
        var baseMated = probes.Select(p => baseline.Mated[p.Index]).ToList();
        var baseOpen = OpenSetIdentification.Create(baseMated, baseline.NonMated);
        var baseRank1 = baseOpen.Rank1;
        var baseFnir = baseOpen.Fnir(baseline.Threshold);
        var summaries = new List<DegradationSummary>();
        foreach (var degradation in Degradation.Standard)
        {
            progress.Report($"  degraded probes: {degradation.Name}…");
            var results = new (MatedSearch Search, float? Quality)[probes.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, probes.Count), new ParallelOptions { MaxDegreeOfParallelism = engine.Options.Workers, CancellationToken = ct }, async (i, c) =>
            {
                var (path, identity, _) = probes[i];
                var face = faces[path]!;
                var bytes = await File.ReadAllBytesAsync(Path.Combine(root, path), c);
                var degraded = ProbeDegradation.Apply(bytes, degradation, face.Box, face.Landmarks, engine.Options.Limits);
                var found = EvalAnalysis.MostProminent(engine.Analyzer, path, degraded, engine.Options.Limits);
                results[i] = (split.Search(found?.Embedding, identity).Mated, found?.QualityScore);
            });

            var open = OpenSetIdentification.Create(results.Select(r => r.Search).ToList(), baseline.NonMated);
            var fnir = open.Fnir(baseline.Threshold);
            var quality = results.Where(r => r.Quality is not null).Select(r => (double)r.Quality!.Value).ToList();
            summaries.Add(new DegradationSummary(
                degradation.Name, probes.Count, results.Count(r => r.Quality is null),
                quality.Count == 0 ? double.NaN : Statistics.Median(quality),
                open.Rank1, open.Rank1 - baseRank1, fnir, fnir - baseFnir));
        }

        return summaries;
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

    private static async Task WriteAsync(EvalReport report, DetCurve det, string outDir, CancellationToken ct)
    {
        await File.WriteAllTextAsync(Path.Combine(outDir, "report.json"), JsonSerializer.Serialize(report, SearchCommands.Json), ct);
        await File.WriteAllTextAsync(Path.Combine(outDir, "report.md"), EvalMarkdown.Render(report), ct);
        EvalPlots.Det(det, Path.Combine(outDir, "det.png"));
        if (report.OpenSet is { } open)
        {
            EvalPlots.Cmc(open.Report.Cmc, Path.Combine(outDir, "cmc.png"));
            EvalPlots.FnirFpir(open.Report.Curve, Path.Combine(outDir, "fnir-fpir.png"));
        }

        var edc = new List<(string, IReadOnlyList<EdcPoint>)> { ($"1:1 FNMR at cosine {report.Quality.VerificationThreshold:0.000}", report.Quality.Verification) };
        if (report.Quality.Identification.Count > 0)
        {
            edc.Add(("1:N rank-1 miss at FPIR 1 %", report.Quality.Identification));
        }

        EvalPlots.ErrorVersusDiscard(edc, Path.Combine(outDir, "error-vs-discard.png"), "error rate");
        if (report.Scaling is { } scaling)
        {
            EvalPlots.GalleryScaling(
                scaling.Points.Select(p => (double)p.Multiplier).ToList(),
                [("FNIR at FPIR 1 %", scaling.Points.Select(p => p.FnirAtFpir1Percent).ToList())],
                Path.Combine(outDir, "gallery-scaling.png"));
        }

        if (report.Calibration is { } calibration)
        {
            EvalPlots.Calibration(calibration.HeldOutCurve, Path.Combine(outDir, "calibration.png"), "fitted on half A, observed on half B");
            await File.WriteAllTextAsync(
                Path.Combine(outDir, "calibration.json"), JsonSerializer.Serialize(calibration.Calibration, ModelPackManifest.JsonOptions), ct);
        }
    }

    /// <summary>Replaces the calibration of a model-pack manifest file, keeping everything else.</summary>
    private static async Task WriteCalibrationAsync(string manifestPath, CalibrationSummary calibration, CancellationToken ct)
    {
        var manifest = ModelPackManifest.Parse(await File.ReadAllTextAsync(manifestPath, ct));
        var threshold = (float)Math.Round(calibration.ThresholdAtFmr01Percent, 3);
        var source = $"lineup eval, {calibration.Calibration.Date:yyyy-MM-dd}: {calibration.Calibration.Dataset}; threshold = estimated FMR 0.1 % per comparison";
        var updated = manifest with { Calibration = new ModelCalibration(threshold, source) { Scores = calibration.Calibration } };
        var temp = manifestPath + ".tmp";
        await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(updated, ModelPackManifest.JsonOptions) + "\n", ct);
        File.Move(temp, manifestPath, overwrite: true);
    }

    private static void Print(EvalReport r)
    {
        var table = new Table().AddColumns("metric", "value");
        table.AddRow("pairs genuine / impostor", $"{r.Verification.Genuine} / {r.Verification.Impostor}");
        table.AddRow("ROC AUC", r.Verification.Auc.ToString("0.0000", CultureInfo.InvariantCulture));
        table.AddRow("TAR @ FAR 1%", $"{r.Verification.TarAtFar1Percent:P2} @ {r.Verification.ThresholdAtFar1Percent:0.000}");
        table.AddRow("TAR @ FAR 0.1%", $"{r.Verification.TarAtFar01Percent:P2} @ {r.Verification.ThresholdAtFar01Percent:0.000}");
        table.AddRow("closed-set rank-1", r.Identification.Rank1.ToString("P2", CultureInfo.InvariantCulture));
        if (r.OpenSet is { } open)
        {
            table.AddRow("open-set rank-1 / FNIR @ FPIR 1%", $"{open.Report.Rank1:P2} / {open.Report.AtFpir1Percent?.Fnir:P2}");
        }

        if (r.Calibration is { } c)
        {
            table.AddRow("calibration check (observed / predicted FMR)", string.Join(", ",
                c.HalfFitOnA.Points.Select(p => $"{p.TargetFmr:P1}: ×{p.Ratio:0.00}")));
        }

        foreach (var d in r.Degradations)
        {
            table.AddRow($"degraded: {Markup.Escape(d.Degradation)}", $"rank-1 {d.Rank1:P1} ({d.Rank1Change * 100:+0.0;-0.0} pt), FNIR {d.Fnir:P1}");
        }

        table.AddRow("photos without a face", r.PhotosWithoutFace.ToString(CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
    }
}
