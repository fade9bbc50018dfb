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
    public void The_defaults_search_breadth_256_without_a_rerank()
    {
        var options = new LineupOptions();
        options.Validate();
        Assert.Equal(256, options.Index.ExpansionSearch);
        Assert.Equal(1, options.Search.Rerank);
    }
}
