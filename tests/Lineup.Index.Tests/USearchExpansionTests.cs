using Lineup.Core.Indexing;

namespace Lineup.Index.Tests;

/// <summary>
/// An index without a configured ef widens its search as it grows (<see cref="USearchVectorIndex.ExpansionSearchFor"/>):
/// the breadth that gives recall 0.96 at 100,000 faces gives 0.77 at a million (docs/performance.md).
/// </summary>
public sealed class USearchExpansionTests : IDisposable
{
    // Eight dimensions: 130,000 adds take seconds, and the graph's breadth does not depend on the width of a vector.
    private const int Dims = 8;

    private readonly TempDirectory _temp = new("expansion");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(0L, 256)]
    [InlineData(100_000L, 256)]
    [InlineData(130_000L, 320)]
    [InlineData(200_000L, 416)]
    [InlineData(1_000_000L, 1_024)]
    [InlineData(2_000_000L, 1_568)]
    [InlineData(10_000_000L, 4_064)]
    [InlineData(20_000_000L, 4_096)]
    [InlineData(long.MaxValue, 4_096)]
    public void The_size_chosen_breadth_is_256_to_100k_then_grows_as_count_to_the_0_6_up_to_4096(long count, int ef) =>
        Assert.Equal(ef, USearchVectorIndex.ExpansionSearchFor(count));

    [Fact]
    public void The_size_chosen_breadth_never_shrinks_as_the_count_grows()
    {
        var previous = 0;
        for (long count = 0; count <= 20_000_000; count += 7_919)
        {
            var ef = USearchVectorIndex.ExpansionSearchFor(count);
            Assert.True(ef >= previous, $"ef {ef} at {count:N0} after {previous}");
            Assert.Equal(0, ef % 32);
            previous = ef;
        }
    }

    [Fact]
    public void Unset_the_breadth_follows_adds_removes_and_reopening_and_a_set_breadth_stays()
    {
        const int Added = 130_000;
        var options = new USearchOptions { Dimensions = Dims, ExpansionSearch = null, Threads = 2 };
        var vectors = Vectors.Clustered(new Random(3), Added, 1_000, Dims);
        var keys = Enumerable.Range(1, Added).Select(i => (long)i).ToArray();
        var path = Path.Combine(_temp.Path, "grown.usearch");

        using (var index = new USearchVectorIndex(options))
        {
            Assert.Equal(256, index.ExpansionSearch);
            index.AddRange(keys.AsSpan(0, 100_000), vectors.AsSpan(0, 100_000 * Dims));
            Assert.Equal(256, index.ExpansionSearch);

            index.AddRange(keys.AsSpan(100_000), vectors.AsSpan(100_000 * Dims));
            Assert.Equal(320, index.ExpansionSearch);

            // The searches run at the new breadth: one over the whole index still answers.
            var hits = new VectorHit[10];
            Assert.Equal(10, index.Search(vectors.AsSpan(0, Dims), hits));
            Assert.Equal(1, hits[0].Key);

            index.Save(path);
            for (var key = Added; key > 100_000; key--)
            {
                Assert.True(index.Remove(key));
            }

            Assert.Equal(256, index.ExpansionSearch);
        }

        // Opened, loaded or mapped, the saved 130,000 get their count's breadth again; a configured one is kept as given.
        using (var loaded = USearchVectorIndex.Open(path, options))
        {
            Assert.Equal(320, loaded.ExpansionSearch);
        }

        using (var view = USearchVectorIndex.Open(path, options, view: true))
        {
            Assert.Equal(320, view.ExpansionSearch);
        }

        using (var configured = USearchVectorIndex.Open(path, options with { ExpansionSearch = 64 }))
        {
            Assert.Equal(64, configured.ExpansionSearch);
            configured.Add(Added + 1, vectors.AsSpan(0, Dims));
            Assert.Equal(64, configured.ExpansionSearch);
        }

        // Set by hand (as bench index does for its sweep), the breadth no longer follows the count.
        using var manual = USearchVectorIndex.Open(path, options);
        manual.ExpansionSearch = 32;
        manual.Add(Added + 2, vectors.AsSpan(Dims, Dims));
        Assert.Equal(32, manual.ExpansionSearch);
    }
}
