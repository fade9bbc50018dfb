using System.Numerics;
using Lineup.Core.Imaging;

namespace Lineup.Core.Tests;

public sealed class PerceptualHashTests
{
    [Fact]
    public void Distance_counts_the_differing_bits()
    {
        Assert.Equal(0, PerceptualHash.Distance(0x1234_5678_9ABC_DEF0, 0x1234_5678_9ABC_DEF0));
        Assert.Equal(64, PerceptualHash.Distance(0, ulong.MaxValue));
        Assert.Equal(3, PerceptualHash.Distance(0b1011, 0b0110));
        Assert.Equal(PerceptualHash.Distance(0xF0, 0x0F), PerceptualHash.Distance(0x0F, 0xF0));
        Assert.True(PerceptualHash.AreNearDuplicates(0xF0, 0xF0 ^ LowBits(PerceptualHash.NearDuplicateDistance)));
        Assert.False(PerceptualHash.AreNearDuplicates(0xF0, 0xF0 ^ LowBits(PerceptualHash.NearDuplicateDistance + 1)));
    }

    [Fact]
    public void Same_pixels_give_the_same_hash_with_the_DC_bit_and_31_AC_bits_set()
    {
        using var a = Synthetic.Render(640, 480, seed: 1);
        using var b = Synthetic.Render(640, 480, seed: 1);
        var hash = PerceptualHash.Compute(a);
        Assert.Equal(hash, PerceptualHash.Compute(b));
        Assert.Equal(hash, PerceptualHash.Compute(a));

        // Exactly 31 of the 63 AC coefficients lie above their median, and the DC term always does:
        // every hash has 32 bits set, so distances between hashes are even.
        Assert.Equal(1UL, hash & 1);
        Assert.Equal(32, BitOperations.PopCount(hash));
    }

    [Theory]
    [InlineData(160, 120)]
    [InlineData(320, 240)]
    [InlineData(1280, 960)]
    [InlineData(4000, 3000)]
    public void The_same_scene_rendered_at_another_size_is_a_near_duplicate(int width, int height)
    {
        using var reference = Synthetic.Render(640, 480, seed: 2);
        using var resized = Synthetic.Render(width, height, seed: 2);
        var distance = PerceptualHash.Distance(PerceptualHash.Compute(reference), PerceptualHash.Compute(resized));
        Assert.InRange(distance, 0, PerceptualHash.NearDuplicateDistance);
    }

    [Fact]
    public void A_global_brightness_change_leaves_the_hash_unchanged()
    {
        using var image = Synthetic.Render(400, 300, seed: 3, gain: 0.5f, offset: 60);
        using var brighter = Synthetic.Render(400, 300, seed: 3, gain: 0.5f, offset: 60);
        var pixels = brighter.Pixels;
        Assert.True(pixels.IndexOfAnyInRange((byte)236, (byte)255) < 0, "the shift below would clip");
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] += 20;
        }

        // Luma moves by the same amount everywhere: only the DC term changes, and it is not thresholded.
        Assert.Equal(PerceptualHash.Compute(image), PerceptualHash.Compute(brighter));
    }

    [Fact]
    public void A_mirror_image_is_not_a_near_duplicate()
    {
        using var image = Synthetic.Render(400, 300, seed: 4);
        using var mirror = Synthetic.Mirror(image);
        var distance = PerceptualHash.Distance(PerceptualHash.Compute(image), PerceptualHash.Compute(mirror));
        Assert.True(distance >= 16, $"mirror at distance {distance}");
    }

    [Fact]
    public void Different_scenes_are_far_apart()
    {
        var hashes = new List<ulong>();
        for (var seed = 10; seed < 30; seed++)
        {
            using var image = Synthetic.Render(320, 240, seed);
            hashes.Add(PerceptualHash.Compute(image));
        }

        for (var i = 0; i < hashes.Count; i++)
        {
            for (var j = i + 1; j < hashes.Count; j++)
            {
                Assert.True(PerceptualHash.Distance(hashes[i], hashes[j]) > PerceptualHash.NearDuplicateDistance, $"scenes {i} and {j}");
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Sampling_a_large_noisy_image_stays_within_the_threshold_of_the_exact_area_average(int seed)
    {
        // ±10 levels of white noise on every pixel, more than a photograph's: the sampled grid sees
        // different noise than the full average does.
        using var image = Synthetic.Render(2000, 1500, seed, noise: 10);
        var sampled = PerceptualHash.Compute(image);
        var exact = PerceptualHash.Compute(image, samplesPerCell: 0);
        Assert.InRange(PerceptualHash.Distance(sampled, exact), 0, PerceptualHash.NearDuplicateDistance);
    }

    [Fact]
    public void Images_up_to_1024_pixels_a_side_are_read_exactly()
    {
        using var image = Synthetic.Render(1000, 700, seed: 6, noise: 40);
        Assert.Equal(PerceptualHash.Compute(image, samplesPerCell: 0), PerceptualHash.Compute(image));
    }

    [Fact]
    public void Compute_allocates_nothing_on_a_4000_by_3000_image()
    {
        using var image = ImageBuffer.Rent(4000, 3000);
        new Random(7).NextBytes(image.Pixels);
        PerceptualHash.Compute(image); // JIT and the cosine table
        var before = GC.GetAllocatedBytesForCurrentThread();
        PerceptualHash.Compute(image);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 5)]
    [InlineData(31, 33)]
    [InlineData(33, 2)]
    [InlineData(2000, 1)]
    public void Images_smaller_than_the_thumbnail_hash_deterministically(int width, int height)
    {
        using var image = Synthetic.Render(width, height, seed: 8);
        Assert.Equal(PerceptualHash.Compute(image), PerceptualHash.Compute(image));
    }

    [Fact]
    public void A_null_image_is_refused_naming_the_parameter()
    {
        var e = Assert.Throws<ArgumentNullException>(() => PerceptualHash.Compute(null!));
        Assert.Equal("image", e.ParamName);
    }

    [Fact]
    public void A_disposed_image_is_refused()
    {
        var image = Synthetic.Render(64, 64, seed: 9);
        image.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => PerceptualHash.Compute(image));
        Assert.Contains(nameof(ImageBuffer), e.Message, StringComparison.Ordinal);
    }

    private static ulong LowBits(int count) => (1UL << count) - 1;
}

/// <summary>
/// A scene defined over the unit square (a few soft blobs on a gradient, optionally with per-pixel noise),
/// rendered at any size: the same scene at two sizes is a resized copy without any resampler in between.
/// </summary>
internal static class Synthetic
{
    public static ImageBuffer Render(int width, int height, int seed, float gain = 1f, float offset = 0f, int noise = 0)
    {
        var random = new Random(seed);
        var blobs = new (double X, double Y, double Radius, double R, double G, double B)[6];
        for (var i = 0; i < blobs.Length; i++)
        {
            blobs[i] = (random.NextDouble(), random.NextDouble(), 0.08 + (0.25 * random.NextDouble()),
                (random.NextDouble() * 2) - 1, (random.NextDouble() * 2) - 1, (random.NextDouble() * 2) - 1);
        }

        var (gx, gy) = (random.NextDouble() - 0.5, random.NextDouble() - 0.5);
        var pixelNoise = new Random(seed * 7919);
        var image = ImageBuffer.Rent(width, height);
        for (var y = 0; y < height; y++)
        {
            var row = image.Row(y);
            var v = (y + 0.5) / height;
            for (var x = 0; x < width; x++)
            {
                var u = (x + 0.5) / width;
                double r = 0.5 + (gx * u), g = 0.5 + (gy * v), b = 0.5;
                foreach (var blob in blobs)
                {
                    var d2 = (((u - blob.X) * (u - blob.X)) + ((v - blob.Y) * (v - blob.Y))) / (blob.Radius * blob.Radius);
                    var w = 0.4 * Math.Exp(-d2);
                    r += w * blob.R;
                    g += w * blob.G;
                    b += w * blob.B;
                }

                var jitter = noise == 0 ? 0 : pixelNoise.Next(-noise, noise + 1);
                row[x * 3] = Channel(r, gain, offset, jitter);
                row[(x * 3) + 1] = Channel(g, gain, offset, jitter);
                row[(x * 3) + 2] = Channel(b, gain, offset, jitter);
            }
        }

        return image;
    }

    public static ImageBuffer Mirror(ImageBuffer image)
    {
        var mirror = ImageBuffer.Rent(image.Width, image.Height);
        for (var y = 0; y < image.Height; y++)
        {
            var source = image.Row(y);
            var target = mirror.Row(y);
            for (var x = 0; x < image.Width; x++)
            {
                source.Slice(x * 3, 3).CopyTo(target.Slice((image.Width - 1 - x) * 3, 3));
            }
        }

        return mirror;
    }

    private static byte Channel(double value, float gain, float offset, int jitter) =>
        (byte)Math.Clamp(Math.Round((value * 200 * gain) + offset + jitter), 0, 255);
}
