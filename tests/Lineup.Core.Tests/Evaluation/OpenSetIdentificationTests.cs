using System.Text.Json;
using Lineup.Core.Evaluation;

namespace Lineup.Core.Tests.Evaluation;

public sealed class OpenSetIdentificationTests
{
    // Five mated searches: mates at rank 1 (0.9), rank 2 (0.8), rank 1 (0.4), not returned, rank 15 (0.5).
    private static readonly MatedSearch[] s_mated = [new(1, 0.9f), new(2, 0.8f), new(1, 0.4f), MatedSearch.Miss, new(15, 0.5f)];

    // Four non-mated searches with these top scores.
    private static readonly NonMatedSearch[] s_nonMated = [new(0.7f), new(0.3f), new(0.2f), new(0.1f)];

    private static OpenSetIdentification Evaluation() => OpenSetIdentification.Create(s_mated, s_nonMated);

    [Fact]
    public void CMC_rank_1_and_rank_10_count_mates_by_rank_regardless_of_score()
    {
        var e = Evaluation();
        Assert.Equal(50, e.Cmc.Count);
        Assert.Equal(0.4, e.Rank1, 12);
        Assert.Equal(0.6, e.Cmc[1], 12);
        Assert.Equal(0.6, e.Rank10, 12);
        Assert.Equal(0.6, e.Cmc[13], 12);
        Assert.Equal(0.8, e.Cmc[14], 12);
        Assert.Equal(0.8, e.Cmc[49], 12);
        Assert.Equal(IdentificationMetrics.FromMateRanks(s_mated.Select(m => m.MateRank).ToList()).Cmc, e.Cmc);
    }

    [Fact]
    public void FNIR_needs_the_mate_within_the_rank_and_at_or_above_the_threshold()
    {
        var e = Evaluation();
        Assert.Equal(0.8, e.Fnir(0.5, rank: 1), 12);
        Assert.Equal(0.4, e.Fnir(0.5, rank: 50), 12);
        Assert.Equal(0.6, e.Fnir(0.4f, rank: 1), 12);
        Assert.Equal(0.2, e.Fnir(double.NegativeInfinity, rank: 50), 12);
        Assert.Equal(1.0, e.Fnir(0.95), 12);
    }

    [Fact]
    public void FPIR_counts_non_mated_searches_whose_top_candidate_reaches_the_threshold()
    {
        var e = Evaluation();
        Assert.Equal(0.25, e.Fpir(0.5), 12);
        Assert.Equal(0.25, e.Fpir(0.7f), 12);
        Assert.Equal(0.0, e.Fpir(0.71), 12);
        Assert.Equal(1.0, e.Fpir(0.1f), 12);
    }

    [Fact]
    public void FNIR_at_FPIR_takes_the_lowest_observed_threshold_within_the_FPIR()
    {
        var e = Evaluation();
        // One false positive of four allowed: the threshold must exclude 0.3; the next score is the rank-1 mate at 0.4.
        Assert.Equal(new FnirFpirPoint(0.4f, 0.25, 0.6), e.FnirAtFpir(0.25));
        // None allowed: above 0.7 the next rank-1 mate score is 0.9.
        Assert.Equal(new FnirFpirPoint(0.9f, 0.0, 0.8), e.FnirAtFpir(0));
        // At rank ≤ 2 the mate at 0.8 is a candidate threshold too.
        Assert.Equal(new FnirFpirPoint(0.8f, 0.0, 0.6), e.FnirAtFpir(0, rank: 2));
    }

    [Fact]
    public void The_curve_runs_from_FPIR_1_to_the_smallest_measurable_FPIR()
    {
        var curve = Evaluation().Curve();
        Assert.Equal(1.0, curve[0].Fpir);
        Assert.Equal(Evaluation().FnirAtFpir(0.25), curve[^1]);
        for (var i = 1; i < curve.Count; i++)
        {
            Assert.True(curve[i].Threshold > curve[i - 1].Threshold);
            Assert.True(curve[i].Fpir <= curve[i - 1].Fpir && curve[i].Fnir >= curve[i - 1].Fnir);
        }
    }

    [Fact]
    public void An_empty_candidate_list_is_never_a_false_positive_and_the_report_serialises()
    {
        var e = OpenSetIdentification.Create(s_mated, [new(float.NegativeInfinity), new(0.6f)]);
        Assert.Equal(0.5, e.Fpir(-1e30), 12);
        var report = e.ToReport(rank: 50);
        Assert.All(report.Curve, p => Assert.True(double.IsFinite(p.Threshold)));
        Assert.Equal(0.0, report.AtFpir01Percent!.Value.Fpir);
        var json = JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web));
        Assert.Contains("\"rank1\":0.4", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_non_mated_searches_only_the_closed_set_metrics_exist()
    {
        var e = OpenSetIdentification.Create(s_mated, []);
        Assert.Throws<InvalidOperationException>(() => e.Fpir(0.5));
        Assert.Throws<InvalidOperationException>(() => e.FnirAtFpir(0.01));
        var report = e.ToReport();
        Assert.Empty(report.Curve);
        Assert.Null(report.AtFpir1Percent);
        Assert.Equal(0.4, report.Rank1, 12);
    }

    [Fact]
    public void Invalid_searches_are_refused()
    {
        Assert.Throws<ArgumentException>(() => OpenSetIdentification.Create([], s_nonMated));
        Assert.Throws<ArgumentException>(() => OpenSetIdentification.Create([new(-1, 0.5f)], s_nonMated));
        Assert.Throws<ArgumentException>(() => OpenSetIdentification.Create([new(1, float.NaN)], s_nonMated));
        Assert.Throws<ArgumentException>(() => OpenSetIdentification.Create(s_mated, [new(float.NaN)]));
    }
}
