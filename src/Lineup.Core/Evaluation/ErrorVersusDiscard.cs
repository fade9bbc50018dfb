namespace Lineup.Core.Evaluation;

/// <summary>A comparison with the quality score of each of its two faces (higher = better).</summary>
public readonly record struct QualityPair(double Score, bool Same, double QualityA, double QualityB)
{
    /// <summary>The pair's quality: the worse of its two faces (ISO/IEC 29794-1 uses the minimum).</summary>
    public double PairQuality => Math.Min(QualityA, QualityB);
}

/// <summary>A sample (a probe, or a pair reduced to its quality) and whether it ended in an error.</summary>
public readonly record struct QualityProbe(double Quality, bool Error);

/// <summary>
/// One point of an error-versus-discard characteristic: samples with quality below <see cref="QualityCutoff"/>
/// were discarded (<see cref="DiscardedFraction"/> of them, at most <see cref="RequestedFraction"/> because
/// samples of equal quality are kept or discarded together), and <see cref="Errors"/> of the
/// <see cref="Kept"/> remaining samples were errors.
/// </summary>
/// <param name="ErrorRate">Errors / Kept; NaN when nothing is kept.</param>
public readonly record struct EdcPoint(
    double RequestedFraction, double DiscardedFraction, double QualityCutoff, int Kept, int Errors, double ErrorRate);

/// <summary>
/// Error-versus-discard characteristic (ISO/IEC 29794-1:2024, EDC): how the error rate falls as the
/// lowest-quality samples are discarded. A quality measure is useful when the curve falls faster than the
/// error rate would by discarding at random (which leaves it flat).
/// </summary>
public static class ErrorVersusDiscard
{
    /// <summary>0, 0.01, …, 0.5: the range of discard fractions ISO/IEC 29794-1 plots.</summary>
    public static IReadOnlyList<double> DefaultFractions { get; } = Enumerable.Range(0, 51).Select(i => i / 100.0).ToArray();

    /// <summary>
    /// FNMR-EDC: genuine pairs only (impostors are ignored), an error is a score below
    /// <paramref name="threshold"/> (fixed before discarding, e.g. the threshold at FMR 0.1% over all pairs),
    /// the pair's quality is <see cref="QualityPair.PairQuality"/>.
    /// </summary>
    /// <exception cref="ArgumentException">No genuine pair, a NaN quality or score, or a fraction outside [0, 1].</exception>
    public static IReadOnlyList<EdcPoint> Fnmr(IReadOnlyList<QualityPair> pairs, double threshold, IReadOnlyList<double>? fractions = null)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var genuine = pairs.Where(p => p.Same).ToList();
        if (genuine.Count == 0)
        {
            throw new ArgumentException("An FNMR error-versus-discard curve needs at least one genuine pair.", nameof(pairs));
        }

        if (genuine.Any(p => double.IsNaN(p.Score)))
        {
            throw new ArgumentException("A genuine pair has a NaN score.", nameof(pairs));
        }

        return Compute(genuine.Select(p => new QualityProbe(p.PairQuality, p.Score < threshold)).ToList(), fractions);
    }

    /// <summary>
    /// For each fraction f (default <see cref="DefaultFractions"/>): discard the samples whose quality is below
    /// that of the ⌊f·n⌋-th lowest (so ties are never split), and report the error rate of the rest.
    /// </summary>
    /// <exception cref="ArgumentException">No samples, a NaN quality, or a fraction outside [0, 1].</exception>
    public static IReadOnlyList<EdcPoint> Compute(IReadOnlyList<QualityProbe> samples, IReadOnlyList<double>? fractions = null)
    {
        var (quality, errorsBelow) = SortByQuality(samples);
        var n = quality.Length;
        var points = new List<EdcPoint>();
        foreach (var f in fractions ?? DefaultFractions)
        {
            if (!(f >= 0 && f <= 1))
            {
                throw new ArgumentOutOfRangeException(nameof(fractions), f, "A discard fraction is in [0, 1].");
            }

            var target = (int)Math.Floor((f * n) + 1e-9);
            var cutoff = target == 0 ? quality[0] : target >= n ? Math.BitIncrement(quality[^1]) : quality[target];
            var discarded = SortedScores.CountBelow(quality, cutoff);
            var kept = n - discarded;
            var errors = errorsBelow[n] - errorsBelow[discarded];
            points.Add(new EdcPoint(f, discarded / (double)n, cutoff, kept, errors, kept == 0 ? double.NaN : errors / (double)kept));
        }

        return points;
    }

    /// <summary>
    /// Partial area under the curve over the requested fractions (trapezoid rule, error rate × fraction): one
    /// number to rank quality measures by; lower is better. Points with nothing kept are skipped.
    /// </summary>
    public static double PartialArea(IReadOnlyList<EdcPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var valid = points.Where(p => !double.IsNaN(p.ErrorRate)).OrderBy(p => p.RequestedFraction).ToList();
        double area = 0;
        for (var i = 1; i < valid.Count; i++)
        {
            area += (valid[i].RequestedFraction - valid[i - 1].RequestedFraction) * (valid[i].ErrorRate + valid[i - 1].ErrorRate) / 2;
        }

        return area;
    }

    /// <summary>Qualities sorted ascending, and errorsBelow[i] = errors among the i lowest.</summary>
    internal static (double[] Quality, int[] ErrorsBelow) SortByQuality(IReadOnlyList<QualityProbe> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0)
        {
            throw new ArgumentException("At least one sample is needed.", nameof(samples));
        }

        var sorted = samples.ToArray();
        if (sorted.Any(s => double.IsNaN(s.Quality)))
        {
            throw new ArgumentException("A sample has a NaN quality.", nameof(samples));
        }

        // The order inside a quality tie never matters: a tie is always kept or discarded as a whole.
        Array.Sort(sorted, (a, b) => a.Quality.CompareTo(b.Quality));
        var quality = new double[sorted.Length];
        var errorsBelow = new int[sorted.Length + 1];
        for (var i = 0; i < sorted.Length; i++)
        {
            quality[i] = sorted[i].Quality;
            errorsBelow[i + 1] = errorsBelow[i] + (sorted[i].Error ? 1 : 0);
        }

        return (quality, errorsBelow);
    }
}

/// <summary>
/// Samples of one quality stratum: quality in [<see cref="Lower"/>, <see cref="Upper"/>); a null bound is an
/// open end (the lowest stratum has no lower bound, the highest no upper bound).
/// </summary>
public sealed record QualityStratum<T>(int Index, double? Lower, double? Upper, IReadOnlyList<T> Members);

/// <summary>A stratum's error rate (from <see cref="QualityStrata.ErrorRates"/>).</summary>
public readonly record struct StratumErrorRate(int Index, double? Lower, double? Upper, int Count, int Errors, double ErrorRate);

/// <summary>
/// Splits samples into quality strata so any metric can be computed per stratum, e.g.
/// <c>QualityStrata.ByQuantiles(pairs, p =&gt; p.PairQuality, 4).Select(s =&gt; VerificationMetrics.Compute(...s.Members...))</c>.
/// </summary>
public static class QualityStrata
{
    /// <summary>
    /// Up to <paramref name="strata"/> strata of about equal size, cut at the quality quantiles j/strata.
    /// Cuts that coincide (many equal qualities) are merged, giving fewer strata; a stratum is never empty.
    /// </summary>
    public static IReadOnlyList<QualityStratum<T>> ByQuantiles<T>(IReadOnlyList<T> items, Func<T, double> quality, int strata)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(quality);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(strata);
        var sorted = Qualities(items, quality);
        Array.Sort(sorted);
        var cuts = new List<double>();
        for (var j = 1; j < strata; j++)
        {
            var cut = sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(j * sorted.Length / (double)strata))];
            if (cut > sorted[0] && (cuts.Count == 0 || cut > cuts[^1]))
            {
                cuts.Add(cut);
            }
        }

        return ByCuts(items, quality, cuts);
    }

    /// <summary>
    /// Fixed bands: (−∞, c₁), [c₁, c₂), …, [cₘ, +∞) for the strictly increasing <paramref name="cuts"/>
    /// (e.g. a quality measure's documented ranges). Empty bands are kept, so the strata line up across models.
    /// </summary>
    public static IReadOnlyList<QualityStratum<T>> ByCuts<T>(IReadOnlyList<T> items, Func<T, double> quality, IReadOnlyList<double> cuts)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(quality);
        ArgumentNullException.ThrowIfNull(cuts);
        for (var i = 0; i < cuts.Count; i++)
        {
            if (!double.IsFinite(cuts[i]) || (i > 0 && cuts[i] <= cuts[i - 1]))
            {
                throw new ArgumentException("Stratum cuts must be finite and strictly increasing.", nameof(cuts));
            }
        }

        var cutArray = cuts.ToArray();
        var qualities = Qualities(items, quality);
        var members = Enumerable.Range(0, cuts.Count + 1).Select(_ => new List<T>()).ToArray();
        for (var i = 0; i < items.Count; i++)
        {
            members[SortedScores.CountAtOrBelow(cutArray, qualities[i])].Add(items[i]);
        }

        return members.Select((m, i) => new QualityStratum<T>(
            i, i == 0 ? null : cutArray[i - 1], i == cutArray.Length ? null : cutArray[i], m)).ToArray();
    }

    /// <summary>Error rate per quantile stratum of <paramref name="samples"/> (lowest quality first).</summary>
    public static IReadOnlyList<StratumErrorRate> ErrorRates(IReadOnlyList<QualityProbe> samples, int strata) =>
        ByQuantiles(samples, s => s.Quality, strata)
            .Select(s =>
            {
                var errors = s.Members.Count(m => m.Error);
                return new StratumErrorRate(s.Index, s.Lower, s.Upper, s.Members.Count, errors,
                    s.Members.Count == 0 ? double.NaN : errors / (double)s.Members.Count);
            })
            .ToArray();

    private static double[] Qualities<T>(IReadOnlyList<T> items, Func<T, double> quality)
    {
        if (items.Count == 0)
        {
            throw new ArgumentException("At least one sample is needed.", nameof(items));
        }

        var values = new double[items.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = quality(items[i]);
            if (double.IsNaN(values[i]))
            {
                throw new ArgumentException($"Sample {i} has a NaN quality.", nameof(items));
            }
        }

        return values;
    }
}
