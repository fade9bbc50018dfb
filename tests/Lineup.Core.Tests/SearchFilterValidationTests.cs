using Lineup.Core.Catalog;
using Lineup.Core.Indexing;

namespace Lineup.Core.Tests;

public sealed class SearchFilterValidationTests
{
    [Fact]
    public void A_filter_with_nothing_set_or_only_empty_lists_is_empty()
    {
        Assert.True(SearchFilter.None.IsEmpty);
        Assert.True(new SearchFilter([], [], []).IsEmpty);
        Assert.False(new SearchFilter(Collections: ["press"]).IsEmpty);
        Assert.False(new SearchFilter(CapturedTo: DateTimeOffset.UnixEpoch).IsEmpty);
        Assert.Null(new SearchFilter([], [], []).Normalize().Collections);
    }

    [Fact]
    public void Normalize_trims_names_upper_cases_codes_lower_cases_domains_and_drops_repeats()
    {
        var filter = new SearchFilter(
            [" press ", "press", "archive"], ["de", " US-il "], ["Example.COM.", "example.com", "bücher.de"]).Normalize();

        Assert.Equal(["press", "archive"], filter.Collections);
        Assert.Equal(["DE", "US-IL"], filter.Jurisdictions);
        Assert.Equal(["example.com", "xn--bcher-kva.de"], filter.SourceDomains);
        Assert.Equal(filter, filter.Normalize());
    }

    [Theory]
    [InlineData("https://example.com", "is a URL")]
    [InlineData("example.com/photos", "'/'")]
    [InlineData("example.com:8080", "':'")]
    [InlineData("*.example.com", "wildcard")]
    [InlineData("exa mple.com", "' '")]
    [InlineData("example..com", "example..com")]
    [InlineData("-bad.example.com", "'-bad'")]
    [InlineData("3.4", "IPv4")]
    [InlineData("1.2.3.400", "IPv4")]
    [InlineData("   ", "empty")]
    public void A_domain_that_is_not_a_bare_host_is_refused_with_the_value_in_the_message(string domain, string expected)
    {
        var error = Assert.Throws<FormatException>(() => new SearchFilter(SourceDomains: [domain]).Normalize());
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("example.com", "example.com")]
    [InlineData("IMG.Example.com", "img.example.com")]
    [InlineData("1.2.3.4", "1.2.3.4")]
    [InlineData("localhost", "localhost")]
    [InlineData("my_host.example.com", "my_host.example.com")]
    public void Valid_domains_normalise(string domain, string expected) =>
        Assert.Equal(expected, SourceDomain.Normalize(domain));

    [Theory]
    [InlineData("DEU")]
    [InlineData("D")]
    [InlineData("US-")]
    [InlineData("US-ILLI")]
    [InlineData("12")]
    public void A_jurisdiction_that_is_not_an_iso_3166_code_is_refused_by_name(string code)
    {
        var error = Assert.Throws<FormatException>(() => new SearchFilter(Jurisdictions: [code]).Normalize());
        Assert.Contains($"'{code}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_collection_name_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => new SearchFilter(Collections: ["press", " "]).Normalize());
        Assert.Contains("collection name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_date_range_that_ends_before_it_starts_is_refused_naming_both_ends()
    {
        var from = new DateTimeOffset(2024, 3, 1, 0, 0, 0, TimeSpan.Zero);
        var to = new DateTimeOffset(2023, 12, 31, 0, 0, 0, TimeSpan.Zero);
        var error = Assert.Throws<ArgumentException>(() => new SearchFilter(CapturedFrom: from, CapturedTo: to).Normalize());
        Assert.Contains("2024-03-01", error.Message, StringComparison.Ordinal);
        Assert.Contains("2023-12-31", error.Message, StringComparison.Ordinal);

        // One instant is a valid (inclusive) range.
        Assert.Equal(from, new SearchFilter(CapturedFrom: from, CapturedTo: from).Normalize().CapturedTo);
    }

    [Fact]
    public void Describe_names_every_criterion()
    {
        Assert.Equal("no filter", SearchFilter.None.Describe());
        var text = new SearchFilter(
            ["press"], ["DE", "FR"], ["example.com"],
            new DateTimeOffset(2023, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2023, 6, 30, 12, 0, 0, TimeSpan.FromHours(2))).Describe();
        Assert.Equal(
            "collection press; jurisdictions DE, FR; seen on example.com (with subdomains); captured 2023-01-01 to 2023-06-30 12:00:00 +02:00",
            text);
        Assert.Equal("captured until 2023-01-01", new SearchFilter(CapturedTo: new DateTimeOffset(2023, 1, 1, 0, 0, 0, TimeSpan.Zero)).Describe());
    }

    [Fact]
    public void Filters_with_the_same_values_are_equal()
    {
        Assert.Equal(new SearchFilter(["a", "b"]), new SearchFilter(new List<string> { "a", "b" }));
        Assert.Equal(new SearchFilter(["a", "b"]).GetHashCode(), new SearchFilter(new List<string> { "a", "b" }).GetHashCode());
        Assert.NotEqual(new SearchFilter(["a", "b"]), new SearchFilter(["b", "a"]));
        Assert.Equal("SearchFilter { collection a }", new SearchFilter(["a"]).ToString());
    }

    [Theory]
    [InlineData("example.com", "example.com", true)]
    [InlineData("img.example.com", "example.com", true)]
    [InlineData("a.b.example.com", "example.com", true)]
    [InlineData("badexample.com", "example.com", false)]
    [InlineData("example.com", "img.example.com", false)]
    [InlineData("example.co", "example.com", false)]
    public void A_domain_matches_itself_and_its_subdomains_only(string host, string domain, bool matches) =>
        Assert.Equal(matches, SourceDomain.Matches(host, domain));

    [Theory]
    [InlineData("https://IMG.Example.com:8443/a.jpg?x=1", "img.example.com")]
    [InlineData("http://example.com./", "example.com")]
    [InlineData("https://bücher.de/x", "xn--bcher-kva.de")]
    [InlineData("/data/photos/a.jpg", null)]
    [InlineData("not a url", null)]
    [InlineData(null, null)]
    public void The_host_of_a_url_is_normalised_like_a_filter_domain(string? url, string? host) =>
        Assert.Equal(host, SourceDomain.HostOf(url));

    [Fact]
    public void Reversing_a_host_turns_subdomains_into_a_common_prefix() =>
        Assert.Equal("com.example.img", SourceDomain.Reverse("img.example.com"));
}

public sealed class FaceKeySetTests
{
    [Fact]
    public void A_sparse_set_is_an_array_a_dense_one_a_bitmap_and_both_answer_alike()
    {
        var random = new Random(5);
        var sparseKeys = Enumerable.Range(0, 100).Select(_ => (long)random.Next(1, 1_000_000)).ToArray();
        var denseKeys = Enumerable.Range(1, 100_000).Where(_ => random.NextDouble() < 0.3).Select(i => (long)i).ToArray();

        var sparse = FaceKeySet.FromKeys(sparseKeys);
        var dense = FaceKeySet.FromKeys(denseKeys);

        Assert.False(sparse.IsBitmap);
        Assert.True(dense.IsBitmap);
        Assert.Equal(sparseKeys.Distinct().Order(), sparse);
        Assert.Equal(denseKeys, dense);
        Assert.Equal(sparseKeys.Distinct().Count(), sparse.Count);
        Assert.Equal(denseKeys.Length, dense.Count);
        var denseLookup = denseKeys.ToHashSet();
        for (long key = 0; key < 100_100; key++)
        {
            Assert.Equal(denseLookup.Contains(key), dense.Contains(key));
        }

        Assert.All(sparseKeys, key => Assert.True(sparse.Contains(key)));
        Assert.False(sparse.Contains(0));
        Assert.False(sparse.Contains(-1));
        Assert.False(dense.Contains(-1));
        Assert.False(dense.Contains(long.MaxValue));
    }

    [Fact]
    public void A_builder_given_the_largest_id_switches_to_a_bitmap_without_holding_the_whole_array()
    {
        var builder = new FaceKeySet.Builder(maxKeyHint: 10_000_000);
        for (long key = 1; key <= 5_000_000; key += 2)
        {
            builder.Add(key);
        }

        builder.Add(3);
        var set = builder.Build();
        Assert.True(set.IsBitmap);
        Assert.Equal(2_500_000, set.Count);
        Assert.True(set.Contains(4_999_999));
        Assert.False(set.Contains(5_000_000));
    }

    [Fact]
    public void All_and_empty_are_distinct_sentinels()
    {
        Assert.True(FaceKeySet.All.IsAll);
        Assert.True(FaceKeySet.All.Contains(123));
        Assert.Throws<InvalidOperationException>(() => FaceKeySet.All.Count);
        Assert.False(FaceKeySet.Empty.IsAll);
        Assert.Equal(0, FaceKeySet.Empty.Count);
        Assert.False(FaceKeySet.Empty.Contains(1));
        Assert.Same(FaceKeySet.Empty, FaceKeySet.FromKeys([]));
    }

    [Fact]
    public void The_default_filtered_search_of_an_index_widens_until_enough_allowed_keys_are_found()
    {
        using var index = new ListIndex();
        for (var key = 1; key <= 1000; key++)
        {
            index.Add(key, [MathF.Cos(key * 0.001f), MathF.Sin(key * 0.001f)]);
        }

        // The query is nearest key 1; only every 100th key is allowed, so a 4x over-fetch of k = 5 finds none at first.
        var allowed = FaceKeySet.FromKeys(Enumerable.Range(1, 10).Select(i => (long)i * 100).ToArray());
        var results = new VectorHit[5];
        var found = ((IVectorIndex)index).Search([1f, 0f], results, allowed);

        Assert.Equal(5, found);
        Assert.Equal([100L, 200, 300, 400, 500], results.Select(h => h.Key));
        Assert.Equal(0, ((IVectorIndex)index).Search([1f, 0f], results, FaceKeySet.Empty));
        Assert.Equal(5, ((IVectorIndex)index).Search([1f, 0f], results, FaceKeySet.All));
        Assert.Equal(1, results[0].Key);

        // Fewer allowed keys in the index than asked for: all of them, and the widening stops at the index size.
        var few = FaceKeySet.FromKeys([999, 5000]);
        Assert.Equal(1, ((IVectorIndex)index).Search([1f, 0f], results, few));
        Assert.Equal(999, results[0].Key);
    }

    /// <summary>Brute force over a list: only the members every index must implement, so the default method is used.</summary>
    private sealed class ListIndex : IVectorIndex
    {
        private readonly List<(long Key, float[] Vector)> _rows = [];

        public int Dimensions => 2;

        public long Count => _rows.Count;

        public void Add(long key, ReadOnlySpan<float> vector) => _rows.Add((key, vector.ToArray()));

        public void AddRange(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors) => throw new NotSupportedException();

        public bool Remove(long key) => throw new NotSupportedException();

        public bool Contains(long key) => _rows.Exists(r => r.Key == key);

        public int Search(ReadOnlySpan<float> query, Span<VectorHit> results)
        {
            var q = query.ToArray();
            var best = _rows.Select(r => new VectorHit(r.Key, (r.Vector[0] * q[0]) + (r.Vector[1] * q[1])))
                .OrderByDescending(h => h.Similarity).ThenBy(h => h.Key).Take(results.Length).ToArray();
            best.CopyTo(results);
            return best.Length;
        }

        public void Dispose()
        {
        }
    }
}
