using System.ComponentModel.DataAnnotations;
using Lineup.Hosting;

namespace Lineup.Cli.Tests;

/// <summary>The search settings this issue added or changed are checked at start, naming the setting.</summary>
public sealed class SearchSettingTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(21)]
    public void A_rerank_factor_outside_1_to_20_is_refused_naming_the_setting(int factor)
    {
        var refused = Assert.Throws<ValidationException>(new LineupOptions { Search = new SearchSettings { Rerank = factor } }.Validate);
        Assert.StartsWith("Lineup:Search:Rerank:", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_graph_by_default_widens_its_search_breadth_with_the_gallery_size_without_a_rerank()
    {
        var options = new LineupOptions { Index = new IndexSettings { Kind = "usearch" } };
        options.Validate();
        Assert.Null(options.Index.ExpansionSearch);
        Assert.Null(options.Search.Rerank);
        Assert.Equal(1, options.EffectiveRerank);
    }

    [Fact]
    public void The_default_index_is_the_inverted_file_with_a_rerank_of_4()
    {
        var options = new LineupOptions();
        options.Validate();
        Assert.Equal("ivf", options.Index.Kind);
        Assert.Equal(4, options.EffectiveRerank);
    }

    [Fact]
    public void Unset_the_rerank_is_4_for_an_embedded_int8_index_only_and_a_set_one_wins()
    {
        var options = new LineupOptions { Index = new IndexSettings { Kind = "usearch" } };
        options.Index.Quantization = "i8";
        Assert.Equal(4, options.EffectiveRerank);
        options.Index.Kind = "exact";
        Assert.Equal(1, options.EffectiveRerank);
        options.Index.Kind = "usearch";
        options.Backend = "distributed";
        Assert.Equal(1, options.EffectiveRerank);
        options.Backend = "embedded";
        options.Search.Rerank = 1;
        Assert.Equal(1, options.EffectiveRerank);
        options.Index.Quantization = "f16";
        options.Search.Rerank = 3;
        Assert.Equal(3, options.EffectiveRerank);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5000)]
    public void A_search_breadth_outside_8_to_4096_is_refused_naming_the_setting(int ef)
    {
        var refused = Assert.Throws<ValidationException>(new LineupOptions { Index = new IndexSettings { ExpansionSearch = ef } }.Validate);
        Assert.StartsWith("Lineup:Index:ExpansionSearch:", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_index_kind_must_be_usearch_ivf_or_exact_and_ivf_reranks_by_default()
    {
        var refused = Assert.Throws<ValidationException>(new LineupOptions { Index = new IndexSettings { Kind = "hnsw" } }.Validate);
        Assert.Equal("Lineup:Index:Kind must be usearch, ivf or exact, not 'hnsw'.", refused.Message);
        var ivf = new LineupOptions { Index = new IndexSettings { Kind = "ivf" } };
        ivf.Validate();
        Assert.Equal(4, ivf.EffectiveRerank);
    }

    [Theory]
    [InlineData(0, null, null, "Lists")]
    [InlineData(70_000, null, null, "Lists")]
    [InlineData(null, 0, null, "Probes")]
    [InlineData(null, null, 3, "ScanThreads")]
    [InlineData(null, null, 0, "ScanThreads")]
    public void Inverted_file_settings_outside_their_range_are_refused_naming_the_setting(int? lists, int? probes, int? scanThreads, string setting)
    {
        var refused = Assert.Throws<ValidationException>(
            new LineupOptions { Index = new IndexSettings { Kind = "ivf", Lists = lists, Probes = probes, ScanThreads = scanThreads } }.Validate);
        Assert.StartsWith($"Lineup:Index:{setting}:", refused.Message, StringComparison.Ordinal);
    }
}
