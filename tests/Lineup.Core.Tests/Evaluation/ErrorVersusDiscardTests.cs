using Lineup.Core.Evaluation;

namespace Lineup.Core.Tests.Evaluation;

public sealed class ErrorVersusDiscardTests
{
    private const double Threshold = 0.4;

    // Ten genuine pairs of pair quality 1 … 10 (the worse side), misses (score < 0.4) at qualities 1, 2 and 5,
    // and impostor pairs of low quality that an FNMR curve must ignore.
    private static QualityPair[] Pairs() =>
    [
        .. Enumerable.Range(1, 10).Select(q => new QualityPair(q is 1 or 2 or 5 ? 0.2 : 0.7, true, q, q + 100)),
        new QualityPair(0.1, false, 0, 0),
        new QualityPair(0.5, false, 0.5, 9),
    ];

    [Fact]
    public void FNMR_falls_as_the_lowest_quality_genuine_pairs_are_discarded()
    {
        var points = ErrorVersusDiscard.Fnmr(Pairs(), Threshold, [0, 0.1, 0.2, 0.3, 0.5]);

        Assert.Equal([10, 9, 8, 7, 5], points.Select(p => p.Kept));
        Assert.Equal([3, 2, 1, 1, 0], points.Select(p => p.Errors));
        Assert.Equal([0.3, 2 / 9.0, 0.125, 1 / 7.0, 0.0], points.Select(p => p.ErrorRate));
        Assert.Equal([0, 0.1, 0.2, 0.3, 0.5], points.Select(p => p.DiscardedFraction));
        Assert.Equal(6, points[^1].QualityCutoff);
    }

    [Fact]
    public void Samples_of_equal_quality_are_kept_or_discarded_together()
    {
        QualityProbe[] samples = [new(1, true), new(1, false), new(1, true), .. Enumerable.Range(2, 7).Select(q => new QualityProbe(q, false))];
        var points = ErrorVersusDiscard.Compute(samples, [0.1, 0.3, 1.0]);

        Assert.Equal(new EdcPoint(0.1, 0.0, 1, 10, 2, 0.2), points[0]);
        Assert.Equal(new EdcPoint(0.3, 0.3, 2, 7, 0, 0.0), points[1]);
        Assert.Equal(0, points[2].Kept);
        Assert.True(double.IsNaN(points[2].ErrorRate));
    }

    [Fact]
    public void An_informative_quality_has_a_smaller_area_than_a_random_one()
    {
        var random = new Random(3);
        var informative = new List<QualityProbe>();
        var uninformative = new List<QualityProbe>();
        for (var i = 0; i < 5_000; i++)
        {
            var quality = random.NextDouble();
            var error = random.NextDouble() < 0.3 * (1 - quality);
            informative.Add(new QualityProbe(quality, error));
            uninformative.Add(new QualityProbe(random.NextDouble(), error));
        }

        var good = ErrorVersusDiscard.PartialArea(ErrorVersusDiscard.Compute(informative));
        var bad = ErrorVersusDiscard.PartialArea(ErrorVersusDiscard.Compute(uninformative));
        Assert.True(good < 0.8 * bad, $"informative {good}, random {bad}");
        Assert.Equal(51, ErrorVersusDiscard.Compute(informative).Count);
    }

    [Fact]
    public void Quantile_strata_are_equal_sized_and_cut_bands_keep_empty_strata()
    {
        var samples = Enumerable.Range(0, 100).Select(q => new QualityProbe(q, q < 10)).ToList();
        var quartiles = QualityStrata.ByQuantiles(samples, s => s.Quality, 4);
        Assert.Equal([25, 25, 25, 25], quartiles.Select(s => s.Members.Count));
        Assert.Equal(new double?[] { null, 25, 50, 75 }, quartiles.Select(s => s.Lower));
        Assert.Equal(new double?[] { 25, 50, 75, null }, quartiles.Select(s => s.Upper));

        var rates = QualityStrata.ErrorRates(samples, 4);
        Assert.Equal([0.4, 0, 0, 0], rates.Select(r => r.ErrorRate));

        var bands = QualityStrata.ByCuts(samples, s => s.Quality, [10, 50, 200]);
        Assert.Equal([10, 40, 50, 0], bands.Select(s => s.Members.Count));
        Assert.All(bands[1].Members, m => Assert.InRange(m.Quality, 10, 49));

        var constant = QualityStrata.ByQuantiles(Enumerable.Repeat(new QualityProbe(3, false), 10).ToList(), s => s.Quality, 5);
        Assert.Single(constant);
    }

    [Fact]
    public void Invalid_inputs_are_refused()
    {
        Assert.Throws<ArgumentException>(() => ErrorVersusDiscard.Fnmr([new QualityPair(0.1, false, 1, 1)], Threshold));
        Assert.Throws<ArgumentException>(() => ErrorVersusDiscard.Compute([]));
        Assert.Throws<ArgumentException>(() => ErrorVersusDiscard.Compute([new QualityProbe(double.NaN, true)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ErrorVersusDiscard.Compute([new QualityProbe(1, true)], [1.5]));
        Assert.Throws<ArgumentException>(() => QualityStrata.ByCuts([1.0], q => q, [2, 1]));
    }
}
