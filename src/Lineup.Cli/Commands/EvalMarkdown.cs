using System.Globalization;
using System.Text;
using Lineup.Core.Evaluation;

namespace Lineup.Cli.Commands;

/// <summary>Renders an <see cref="EvalReport"/> as the Markdown report next to its plots.</summary>
public static class EvalMarkdown
{
    public static string Render(EvalReport r)
    {
        var md = new StringBuilder();
        void Line(FormattableString text) => md.AppendLine(text.ToString(CultureInfo.InvariantCulture));
        var v = r.Verification;
        var i = r.Identification;
        Line($"# Evaluation: {r.Model}");
        md.AppendLine();
        Line($"{r.Photos} photos ({r.PhotosWithoutFace} without a detected face), {r.Seconds:0} s, {r.When:yyyy-MM-dd}. Each photo's face is its most prominent one; a photo without a face is an error in every pair and search it takes part in.");
        md.AppendLine();

        md.AppendLine("## 1:1 verification (pairs file)");
        md.AppendLine();
        md.AppendLine("| measure | value |");
        md.AppendLine("|---|---|");
        Line($"| genuine / impostor pairs | {v.Genuine} / {v.Impostor} ({v.PairsWithoutFace} with a photo without a face, scored −1) |");
        Line($"| ROC AUC | {v.Auc:0.0000} |");
        Line($"| EER | {v.Eer:P2} at cosine {v.EerThreshold:0.000} |");
        Line($"| TAR @ FAR 1% | {v.TarAtFar1Percent:P2} at cosine {v.ThresholdAtFar1Percent:0.000} |");
        Line($"| TAR @ FAR 0.1% | {v.TarAtFar01Percent:P2} at cosine {v.ThresholdAtFar01Percent:0.000} |");
        md.AppendLine();
        md.AppendLine("| pair protocol | genuine | impostor | median genuine | median impostor | AUC | TAR at the overall FAR 0.1% threshold |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var p in v.Protocols)
        {
            Line($"| {p.Protocol} | {p.Genuine} | {p.Impostor} | {p.MedianGenuine:0.000} | {p.MedianImpostor:0.000} | {p.Auc:0.0000} | {p.TarAtOverallFar01:P1} |");
        }

        md.AppendLine();
        md.AppendLine("![DET: FNMR against FMR](det.png)");
        md.AppendLine();

        if (r.Calibration is { } c)
        {
            md.AppendLine("## Score calibration");
            md.AppendLine();
            Line($"Fitted on {c.Calibration.Dataset}: the empirical impostor tail, with a generalised-Pareto extrapolation above the top {c.Calibration.Tail.Exceedances} impostor scores. Shipped in the model pack's manifest; every search candidate carries its estimated FMR and FMR × gallery size.");
            md.AppendLine();
            md.AppendLine("| estimated FMR per comparison | cosine | estimated TMR |");
            md.AppendLine("|---|---|---|");
            foreach (var fmr in new[] { 1e-2, 1e-3, 1e-4, 1e-5, 1e-6 })
            {
                var s = c.Calibration.SimilarityAtFmr(fmr);
                Line($"| {fmr:0.######} | {s:0.000} | {c.Calibration.Tmr(s):P2} |");
            }

            md.AppendLine();
            md.AppendLine("Check: identities alternate between halves A and B; a calibration fitted on one half's pairs predicts the other half's false-match rate:");
            md.AppendLine();
            md.AppendLine("| fitted on → checked on | target FMR | threshold | predicted FMR | observed FMR | observed / predicted | predicted TMR | observed TMR |");
            md.AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (var (name, check) in new[] { ("A → B", c.HalfFitOnA), ("B → A", c.HalfFitOnB) })
            {
                foreach (var p in check.Points)
                {
                    Line($"| {name} | {p.TargetFmr:P1} | {p.Threshold:0.000} | {p.PredictedFmr:0.00000} | {p.ObservedFmr:0.00000} ({p.Accepted} of {p.Impostors:N0}) | {p.Ratio:0.00} | {p.PredictedTmr:P1} | {p.ObservedTmr:P1} |");
                }
            }

            md.AppendLine();
            md.AppendLine("![calibration: observed against predicted FMR](calibration.png)");
            md.AppendLine();
        }

        md.AppendLine("## 1:N identification");
        md.AppendLine();
        Line($"Closed set (each of {i.Probes} labelled faces of {i.Identities} identities against the other {i.Gallery - 1} faces): rank-1 {i.Rank1:P2}, rank-10 {i.Rank10:P2}.");
        md.AppendLine();
        if (r.OpenSet is { } o)
        {
            var rep = o.Report;
            Line($"Open set: one enrolled photo per identity with two or more photos, plus every other single-photo identity as a distractor ({o.Gallery} gallery faces); {rep.Mated} mated probes; {o.NonMatedSingletons} non-mated probes of identities not in the gallery plus {o.NonMatedLeaveMateOut} mated probes searched with their own identity left out.");
            md.AppendLine();
            md.AppendLine("| measure | value |");
            md.AppendLine("|---|---|");
            Line($"| rank-1 / rank-10 / rank-50 | {rep.Rank1:P2} / {rep.Rank10:P2} / {rep.Cmc[^1]:P2} |");
            if (rep.AtFpir1Percent is { } at1)
            {
                Line($"| FNIR @ FPIR 1% (rank 1) | {at1.Fnir:P2} at cosine {at1.Threshold:0.000} |");
            }

            if (rep.AtFpir01Percent is { } at01)
            {
                Line($"| FNIR @ FPIR 0.1% (rank 1) | {at01.Fnir:P2} at cosine {at01.Threshold:0.000} |");
            }

            md.AppendLine();
            md.AppendLine("![CMC](cmc.png) ![FNIR against FPIR](fnir-fpir.png)");
            md.AppendLine();
            md.AppendLine("Per probe-quality stratum (terciles of the mated probes' quality score; FNIR at the overall FPIR-1% threshold):");
            md.AppendLine();
            md.AppendLine("| stratum | quality | probes | rank-1 | FNIR @ FPIR 1% |");
            md.AppendLine("|---|---|---|---|---|");
            foreach (var s in o.Strata)
            {
                Line($"| {s.Stratum} | {Range(s.QualityFrom, s.QualityTo)} | {s.Probes} | {s.Rank1:P2} | {s.FnirAtFpir1Percent:P2} |");
            }

            md.AppendLine();
        }

        var q = r.Quality;
        md.AppendLine("## Face quality: error against discard");
        md.AppendLine();
        Line($"Median face quality {q.MedianQuality:0.0}/100; {q.FacesUnderFloor:P1} of the faces fall under the probe floor of {q.RecommendedFloor:0}.");
        md.AppendLine();
        md.AppendLine("| lowest-quality share discarded | 1:1 FNMR (pairs by their lower quality) | 1:N rank-1 misses at FPIR 1% |");
        md.AppendLine("|---|---|---|");
        foreach (var fraction in new[] { 0.0, 0.05, 0.1, 0.2, 0.3 })
        {
            Line($"| {fraction:P0} | {At(q.Verification, fraction)} | {At(q.Identification, fraction)} |");
        }

        Line($"(1:1 FNMR at cosine {q.VerificationThreshold:0.000}.)");
        md.AppendLine();
        md.AppendLine("![error against discard](error-vs-discard.png)");
        md.AppendLine();

        if (r.Scaling is { } sc)
        {
            md.AppendLine("## Gallery size");
            md.AppendLine();
            Line($"Synthetic distractors drawn from a Gaussian fitted to identity half A's embeddings, spread α = {sc.Fit.Alpha:0.000} fitted so that their cosines to half B's faces match half B's impostor cosines (KS distance {sc.Fit.KsDistance:0.000}; mean {sc.Fit.SyntheticMean:0.000} against {sc.Fit.RealMean:0.000}). Probes: half B's {sc.MatedProbes} mated probes and {sc.NonMatedProbes} non-mated probes (plus each mated probe with its identity left out), so no probe helped fit the distractors.");
            md.AppendLine();
            md.AppendLine("| gallery | faces | rank-1 | FNIR @ FPIR 1% | threshold |");
            md.AppendLine("|---|---|---|---|---|");
            foreach (var p in sc.Points)
            {
                Line($"| {p.Multiplier}× | {p.GallerySize:N0} | {p.Rank1:P2} | {p.FnirAtFpir1Percent:P2} | {p.Threshold:0.000} |");
            }

            md.AppendLine();
            md.AppendLine("![FNIR against gallery size](gallery-scaling.png)");
            md.AppendLine();
        }

        if (r.Degradations.Count > 0)
        {
            md.AppendLine("## Degraded probes");
            md.AppendLine();
            md.AppendLine("Every mated probe with a face, degraded around that face and analysed again, against the undegraded gallery; FNIR at the undegraded FPIR-1% threshold.");
            md.AppendLine();
            md.AppendLine("| degradation | probes | no face found | median quality | rank-1 | change | FNIR @ FPIR 1% | change |");
            md.AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (var d in r.Degradations)
            {
                Line($"| {d.Degradation} | {d.Probes} | {d.NoFace} | {d.MedianQuality:0.0} | {d.Rank1:P2} | {d.Rank1Change * 100:+0.00;-0.00;0.00} pt | {d.Fnir:P2} | {d.FnirChange * 100:+0.00;-0.00;0.00} pt |");
            }

            md.AppendLine();
        }

        if (r.Groups.Count > 0)
        {
            md.AppendLine("## Group photos");
            md.AppendLine();
            md.AppendLine("| group photo | documented faces | found | |");
            md.AppendLine("|---|---|---|---|");
            foreach (var g in r.Groups)
            {
                Line($"| {g.Path} | {g.Expected} | {g.Found} | {(g.AllFound ? "all found" : "MISSED")} |");
            }

            Line($"| **total** | {r.Groups.Sum(g => g.Expected)} | {r.Groups.Sum(g => Math.Min(g.Found, g.Expected))} found of them | {r.Groups.Count(g => g.AllFound)}/{r.Groups.Count} photos complete |");
        }

        return md.ToString();
    }

    private static string Range(double? from, double? to) =>
        string.Create(CultureInfo.InvariantCulture, $"{(from is { } f ? f.ToString("0.0", CultureInfo.InvariantCulture) : "0")}–{(to is { } t ? t.ToString("0.0", CultureInfo.InvariantCulture) : "100")}");

    private static string At(IReadOnlyList<EdcPoint> points, double fraction)
    {
        if (points.Count == 0)
        {
            return "–";
        }

        var p = points.MinBy(p => Math.Abs(p.RequestedFraction - fraction));
        return string.Create(CultureInfo.InvariantCulture, $"{p.ErrorRate:P2} ({p.Errors} of {p.Kept})");
    }
}
