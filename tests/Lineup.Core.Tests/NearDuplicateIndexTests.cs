using System.Numerics;
using Lineup.Core.Imaging;

namespace Lineup.Core.Tests;

public sealed class NearDuplicateIndexTests
{
    private const ulong Hash = 0x0123_4567_89AB_CDEF;

    [Fact]
    public void An_empty_index_finds_nothing()
    {
        var index = new NearDuplicateIndex();
        Assert.Equal(0, index.Count);
        Assert.False(index.TryFind(Hash, 1f, out var id, out var distance));
        Assert.Equal(0, id);
        Assert.Equal(-1, distance);
    }

    [Fact]
    public void An_added_image_is_found_by_its_own_hash()
    {
        var index = new NearDuplicateIndex();
        index.Add(42, Hash, 1.5f);
        Assert.Equal(1, index.Count);
        Assert.True(index.TryFind(Hash, 1.5f, out var id, out var distance));
        Assert.Equal(42, id);
        Assert.Equal(0, distance);
    }

    [Fact]
    public void The_default_radius_is_the_near_duplicate_distance()
    {
        var index = new NearDuplicateIndex();
        Assert.Equal(PerceptualHash.NearDuplicateDistance, index.MaxDistance);
        index.Add(1, Hash, 1f);
        var t = PerceptualHash.NearDuplicateDistance;
        Assert.True(index.TryFind(Hash ^ LowBits(t), 1f, out _, out var distance));
        Assert.Equal(t, distance);
        Assert.False(index.TryFind(Hash ^ LowBits(t + 1), 1f, out _, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(10)]
    [InlineData(13)]
    public void A_hash_exactly_at_the_radius_is_found_and_one_bit_further_is_not(int maxDistance)
    {
        var index = new NearDuplicateIndex(maxDistance);
        index.Add(7, Hash, 1f);

        // Spread the flipped bits evenly over the four bands: the case the per-band probing must still catch.
        var atRadius = Hash ^ SpreadBits(maxDistance);
        Assert.True(index.TryFind(atRadius, 1f, out var id, out var distance));
        Assert.Equal((7L, maxDistance), (id, distance));
        Assert.False(index.TryFind(Hash ^ SpreadBits(maxDistance + 1), 1f, out _, out _));
    }

    [Fact]
    public void The_closest_image_wins_and_ties_go_to_the_first_added()
    {
        var index = new NearDuplicateIndex(10);
        index.Add(1, Hash ^ LowBits(6), 1f);
        index.Add(2, Hash ^ (LowBits(3) << 40), 1f);
        index.Add(3, Hash ^ (LowBits(3) << 20), 1f);
        Assert.True(index.TryFind(Hash, 1f, out var id, out var distance));
        Assert.Equal((2L, 3), (id, distance));
    }

    [Fact]
    public void Aspect_ratios_must_agree_within_the_tolerance()
    {
        var index = new NearDuplicateIndex();
        index.Add(1, Hash, 4f / 3);
        var tolerance = NearDuplicateIndex.AspectRatioTolerance;
        Assert.True(index.TryFind(Hash, 4f / 3 * (1 + ((tolerance - 1) / 2)), out _, out _));
        Assert.True(index.TryFind(Hash, 4f / 3 / (1 + ((tolerance - 1) / 2)), out _, out _));
        Assert.False(index.TryFind(Hash, 4f / 3 * tolerance * 1.01f, out _, out _));
        Assert.False(index.TryFind(Hash, 3f / 4, out _, out _));
    }

    [Fact]
    public void A_closer_image_of_another_shape_does_not_hide_a_farther_one_of_the_right_shape()
    {
        var index = new NearDuplicateIndex(10);
        index.Add(1, Hash, 1f);
        index.Add(2, Hash ^ LowBits(4), 16f / 9);
        Assert.True(index.TryFind(Hash, 16f / 9, out var id, out var distance));
        Assert.Equal((2L, 4), (id, distance));
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-1f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void A_non_positive_or_non_finite_aspect_ratio_is_refused_naming_the_parameter(float aspectRatio)
    {
        var index = new NearDuplicateIndex();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => index.Add(1, Hash, aspectRatio));
        Assert.Equal("aspectRatio", e.ParamName);
        Assert.Equal(0, index.Count);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(float.NaN)]
    public void A_lookup_with_a_non_positive_or_non_finite_aspect_ratio_is_refused_naming_the_parameter(float aspectRatio)
    {
        var index = new NearDuplicateIndex();
        index.Add(1, Hash, 1f);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => index.TryFind(Hash, aspectRatio, out _, out _));
        Assert.Equal("aspectRatio", e.ParamName);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(25)]
    public void A_radius_outside_0_to_24_is_refused_naming_the_parameter(int maxDistance)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new NearDuplicateIndex(maxDistance));
        Assert.Equal("maxDistance", e.ParamName);
    }

    /// <summary>
    /// 200,000 random hashes, a planted neighbour for each of 1,000 queries at every distance up to the radius
    /// (bits flipped at random, or spread evenly over the bands), and 250 queries with nothing planted:
    /// every answer equals a brute-force scan's (closest within the radius with an agreeing aspect ratio, the
    /// first added on a tie).
    /// </summary>
    [Theory]
    [InlineData(PerceptualHash.NearDuplicateDistance)]
    [InlineData(7)]
    [InlineData(12)]
    public void Two_hundred_thousand_random_hashes_give_the_brute_force_answer(int maxDistance)
    {
        const int catalogued = 200_000;
        var random = new Random(20_240_601 + maxDistance);
        float[] shapes = [1f, 4f / 3, 3f / 4, 16f / 9];
        var hashes = new ulong[catalogued];
        var aspects = new float[catalogued];
        var index = new NearDuplicateIndex(maxDistance);
        for (var i = 0; i < catalogued; i++)
        {
            hashes[i] = (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63);
            aspects[i] = shapes[random.Next(shapes.Length)];
            index.Add(1_000_000 + i, hashes[i], aspects[i]);
        }

        Assert.Equal(catalogued, index.Count);
        var queries = new List<(ulong Hash, float Aspect)>();
        for (var q = 0; q < 1_000; q++)
        {
            var target = random.Next(catalogued);
            var distance = q % (maxDistance + 1);
            var flips = q % 2 == 0 ? RandomBits(random, distance) : SpreadBits(distance, rotate: random.Next(64));
            // One query in eight asks with another shape: the planted neighbour must then be passed over.
            var aspect = q % 8 == 7 ? shapes[(Array.IndexOf(shapes, aspects[target]) + 1) % shapes.Length] : aspects[target];
            queries.Add((hashes[target] ^ flips, aspect));
        }

        for (var q = 0; q < 250; q++)
        {
            queries.Add(((ulong)random.NextInt64(), shapes[random.Next(shapes.Length)]));
        }

        var found = 0;
        foreach (var (hash, aspect) in queries)
        {
            var expected = BruteForce(hashes, aspects, hash, aspect, maxDistance);
            var actualFound = index.TryFind(hash, aspect, out var id, out var distance);
            Assert.Equal(expected.Index >= 0, actualFound);
            if (actualFound)
            {
                found++;
                Assert.Equal((1_000_000L + expected.Index, expected.Distance), (id, distance));
            }
        }

        Assert.True(found >= 850, $"only {found} queries had a neighbour");
    }

    [Fact]
    public async Task Lookups_running_beside_adds_always_find_what_was_added_before_them()
    {
        const int catalogued = 60_000;
        var random = new Random(5);
        var hashes = new ulong[catalogued];
        for (var i = 0; i < hashes.Length; i++)
        {
            hashes[i] = (ulong)random.NextInt64();
        }

        var index = new NearDuplicateIndex();
        var failures = 0;
        var lookups = 0;
        using var done = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 2).Select(r => Task.Run(() =>
        {
            var local = new Random(r);
            while (!done.IsCancellationRequested)
            {
                var count = index.Count;
                if (count == 0)
                {
                    continue;
                }

                var i = local.Next(count);
                if (!index.TryFind(hashes[i], 1f, out var id, out var distance) || id != i || distance != 0)
                {
                    Interlocked.Increment(ref failures);
                }

                Interlocked.Increment(ref lookups);
            }
        })).ToArray();

        for (var i = 0; i < catalogued; i++)
        {
            index.Add(i, hashes[i], 1f);
            if (i % 5_000 == 0)
            {
                // Make sure lookups really run between adds, however the readers get scheduled.
                var seen = Volatile.Read(ref lookups);
                SpinWait.SpinUntil(() => Volatile.Read(ref lookups) > seen + 10);
            }
        }

        done.Cancel();
        await Task.WhenAll(readers);
        Assert.Equal(0, failures);
        Assert.True(lookups > 0);
    }

    private static (int Index, int Distance) BruteForce(ulong[] hashes, float[] aspects, ulong hash, float aspect, int maxDistance)
    {
        var (best, bestDistance) = (-1, int.MaxValue);
        for (var i = 0; i < hashes.Length; i++)
        {
            var d = BitOperations.PopCount(hashes[i] ^ hash);
            if (d <= maxDistance && d < bestDistance && NearDuplicateIndex.AspectRatiosAgree(aspects[i], aspect))
            {
                (best, bestDistance) = (i, d);
            }
        }

        return (best, bestDistance);
    }

    private static ulong LowBits(int count) => count == 64 ? ulong.MaxValue : (1UL << count) - 1;

    private static ulong RandomBits(Random random, int count)
    {
        var bits = 0UL;
        while (BitOperations.PopCount(bits) < count)
        {
            bits |= 1UL << random.Next(64);
        }

        return bits;
    }

    /// <summary><paramref name="count"/> bits dealt round-robin over the four 16-bit bands, rotated.</summary>
    private static ulong SpreadBits(int count, int rotate = 0)
    {
        var bits = 0UL;
        for (var k = 0; k < count; k++)
        {
            bits |= 1UL << (((k % 4) * 16) + (k / 4));
        }

        return BitOperations.RotateLeft(bits, rotate);
    }
}
