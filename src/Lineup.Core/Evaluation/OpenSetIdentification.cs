namespace Lineup.Core.Evaluation;

/// <summary>
/// A search whose person is enrolled in the gallery: the 1-based rank and the score of the first candidate of
/// that person in the returned list, or <see cref="Miss"/> when the list does not hold them.
/// </summary>
public readonly record struct MatedSearch(int MateRank, float MateScore)
{
    /// <summary>The mate was not returned (rank 0, score −∞).</summary>
    public static MatedSearch Miss { get; } = new(0, float.NegativeInfinity);

    public bool Found => MateRank >= 1;
}

/// <summary>A search whose person is not in the gallery: the score of its top candidate (−∞ for an empty list).</summary>
public readonly record struct NonMatedSearch(float TopScore);

/// <summary>One threshold of the open-set trade-off: a search returns candidates scoring ≥ <see cref="Threshold"/>.</summary>
public readonly record struct FnirFpirPoint(double Threshold, double Fpir, double Fnir);

/// <summary>Summary of an open-set identification evaluation, ready to serialise.</summary>
/// <param name="Cmc">Cmc[r − 1] = share of mated searches with their mate at rank ≤ r (threshold ignored).</param>
/// <param name="Rank">The rank limit R of <see cref="Curve"/> and the operating points.</param>
/// <param name="AtFpir1Percent">FNIR at FPIR ≤ 1%; null without non-mated searches.</param>
/// <param name="AtFpir01Percent">FNIR at FPIR ≤ 0.1%; null without non-mated searches.</param>
public sealed record OpenSetReport(
    int Mated,
    int NonMated,
    double Rank1,
    double Rank10,
    IReadOnlyList<double> Cmc,
    int Rank,
    IReadOnlyList<FnirFpirPoint> Curve,
    FnirFpirPoint? AtFpir1Percent,
    FnirFpirPoint? AtFpir01Percent);

/// <summary>
/// 1:N open-set identification accuracy in the terms of NIST FRVT 1:N (NISTIR 8271): a mated search fails at
/// threshold T and rank R when its mate is not returned at rank ≤ R with score ≥ T (FNIR); a non-mated search
/// raises a false positive when its top candidate scores ≥ T (FPIR). With T = −∞ and R = 50 this is the
/// investigative (candidate list) mode; with a high T and R = 1 the identification mode.
/// </summary>
public sealed class OpenSetIdentification
{
    private readonly MatedSearch[] _mated;
    private readonly double[] _nonMatedTop;
    private readonly double[] _cmc;

    private OpenSetIdentification(MatedSearch[] mated, double[] nonMatedTop, int maxRank)
    {
        _mated = mated;
        _nonMatedTop = nonMatedTop;
        _cmc = new double[maxRank];
        foreach (var m in mated)
        {
            if (m.Found && m.MateRank <= maxRank)
            {
                _cmc[m.MateRank - 1]++;
            }
        }

        double cumulative = 0;
        for (var r = 0; r < maxRank; r++)
        {
            cumulative += _cmc[r];
            _cmc[r] = cumulative / mated.Length;
        }
    }

    public int MatedCount => _mated.Length;

    public int NonMatedCount => _nonMatedTop.Length;

    /// <summary>Cumulative match characteristic: Cmc[r − 1] = share of mated searches with the mate at rank ≤ r, r = 1 … maxRank.</summary>
    public IReadOnlyList<double> Cmc => _cmc;

    public double Rank1 => _cmc[0];

    /// <summary>Share of mates at rank ≤ 10 (≤ maxRank when that is smaller).</summary>
    public double Rank10 => _cmc[Math.Min(10, _cmc.Length) - 1];

    /// <summary>
    /// Prepares the evaluation (sorts the non-mated scores once).
    /// </summary>
    /// <param name="mated">At least one; ranks are 1-based, 0 for a mate that was not returned.</param>
    /// <param name="nonMated">May be empty (closed-set evaluation); FPIR is then undefined.</param>
    /// <param name="maxRank">Length of the CMC (the candidate list length the searches were run with).</param>
    /// <exception cref="ArgumentException">No mated searches, a negative rank, or a returned mate with a NaN score.</exception>
    public static OpenSetIdentification Create(IReadOnlyList<MatedSearch> mated, IReadOnlyList<NonMatedSearch> nonMated, int maxRank = 50)
    {
        ArgumentNullException.ThrowIfNull(mated);
        ArgumentNullException.ThrowIfNull(nonMated);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRank);
        if (mated.Count == 0)
        {
            throw new ArgumentException("Open-set identification needs at least one mated search.", nameof(mated));
        }

        var m = mated.ToArray();
        foreach (var search in m)
        {
            if (search.MateRank < 0 || (search.Found && float.IsNaN(search.MateScore)))
            {
                throw new ArgumentException($"Invalid mated search {search}: the rank is ≥ 0 (0 = not returned) and a returned mate has a score.", nameof(mated));
            }
        }

        var top = new double[nonMated.Count];
        for (var i = 0; i < top.Length; i++)
        {
            top[i] = float.IsNaN(nonMated[i].TopScore)
                ? throw new ArgumentException("A non-mated search has a NaN top score (use −∞ for an empty candidate list).", nameof(nonMated))
                : nonMated[i].TopScore;
        }

        Array.Sort(top);
        return new OpenSetIdentification(m, top, maxRank);
    }

    /// <summary>FNIR(T, R): share of mated searches whose mate is not returned at rank ≤ <paramref name="rank"/> with score ≥ <paramref name="threshold"/>.</summary>
    public double Fnir(double threshold, int rank = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        var hits = 0;
        foreach (var m in _mated)
        {
            if (m.Found && m.MateRank <= rank && m.MateScore >= threshold)
            {
                hits++;
            }
        }

        return 1 - (hits / (double)_mated.Length);
    }

    /// <summary>FPIR(T): share of non-mated searches whose top candidate scores ≥ <paramref name="threshold"/>.</summary>
    /// <exception cref="InvalidOperationException">There are no non-mated searches.</exception>
    public double Fpir(double threshold)
    {
        RequireNonMated();
        return SortedScores.CountAtOrAbove(_nonMatedTop, threshold) / (double)_nonMatedTop.Length;
    }

    /// <summary>
    /// The lowest observed score T with FPIR(T) ≤ <paramref name="fpir"/> (the rule of
    /// <see cref="VerificationMetrics.AtFar"/>) and FNIR(T, <paramref name="rank"/>) there.
    /// </summary>
    /// <exception cref="InvalidOperationException">There are no non-mated searches.</exception>
    public FnirFpirPoint FnirAtFpir(double fpir, int rank = 1)
    {
        RequireNonMated();
        if (!(fpir >= 0 && fpir <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(fpir), fpir, "FPIR is in [0, 1].");
        }

        return Point(SortedScores.ThresholdAtRate(_nonMatedTop, MateScores(rank), fpir), rank);
    }

    /// <summary>
    /// FNIR against FPIR at the FPIR levels 10^(−j / <paramref name="pointsPerDecade"/>) from 1 down to
    /// max(<paramref name="minFpir"/>, 1 / non-mated searches), one point per distinct threshold, in order of
    /// decreasing FPIR. Empty without non-mated searches.
    /// </summary>
    public IReadOnlyList<FnirFpirPoint> Curve(int rank = 1, double minFpir = 1e-4, int pointsPerDecade = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pointsPerDecade);
        if (_nonMatedTop.Length == 0)
        {
            return [];
        }

        var mates = MateScores(rank);
        var points = new List<FnirFpirPoint>();
        foreach (var level in SortedScores.LogGrid(Math.Max(minFpir, 1.0 / _nonMatedTop.Length), pointsPerDecade))
        {
            var threshold = SortedScores.ThresholdAtRate(_nonMatedTop, mates, level);
            if (points.Count == 0 || points[^1].Threshold != threshold)
            {
                points.Add(Point(threshold, rank));
            }
        }

        return points;
    }

    /// <summary>CMC, rank-1 and rank-10, and the FNIR/FPIR curve and operating points at rank <paramref name="rank"/>.</summary>
    public OpenSetReport ToReport(int rank = 1) =>
        new(MatedCount, NonMatedCount, Rank1, Rank10, _cmc, rank, Curve(rank),
            NonMatedCount == 0 ? null : FnirAtFpir(0.01, rank),
            NonMatedCount == 0 ? null : FnirAtFpir(0.001, rank));

    private FnirFpirPoint Point(double threshold, int rank) => new(threshold, Fpir(threshold), Fnir(threshold, rank));

    /// <summary>Sorted scores of the mates returned at rank ≤ <paramref name="rank"/>: the thresholds that change FNIR.</summary>
    private double[] MateScores(int rank)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        var scores = _mated.Where(m => m.Found && m.MateRank <= rank && !float.IsNegativeInfinity(m.MateScore))
            .Select(m => (double)m.MateScore).ToArray();
        Array.Sort(scores);
        return scores;
    }

    private void RequireNonMated()
    {
        if (_nonMatedTop.Length == 0)
        {
            throw new InvalidOperationException("FPIR needs non-mated searches; none were given.");
        }
    }
}
