using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Vision.Imaging;

namespace Lineup.Vision.Tests;

/// <summary><see cref="ProbeDegradation"/> on synthetic images: sizes, formats and which pixels change.</summary>
public sealed class ProbeDegradationTests
{
    private static readonly SkiaImageDecoder s_decoder = new();

    // A "face" in a 400×300 image: box 150..250 × 100..200, eyes 40 px apart at y = 135, nose at y = 160.
    private static readonly BoxF s_box = new(150, 100, 250, 200);

    private static readonly Landmarks5 s_landmarks = new(
        new PointF(180, 135), new PointF(220, 135), new PointF(200, 160), new PointF(185, 180), new PointF(215, 180));

    private static DecodedImage Decode(byte[] bytes) => s_decoder.Decode(bytes, DecodeLimits.Default);

    private static byte[] Apply(byte[] encoded, Degradation degradation) =>
        ProbeDegradation.Apply(encoded, degradation, s_box, s_landmarks, DecodeLimits.Default);

    [Theory]
    [InlineData(32, 320, 240)]
    [InlineData(24, 240, 180)]
    [InlineData(16, 160, 120)]
    public void Downscale_brings_the_eyes_to_the_target_distance(float interEye, int width, int height)
    {
        var result = Apply(TestImages.Jpeg(400, 300), Degradation.InterEyeDistance(interEye));
        using var decoded = Decode(result);
        Assert.Equal(ImageFormat.Png, decoded.Info.Format);
        Assert.Equal(width, decoded.Image.Width);
        Assert.Equal(height, decoded.Image.Height);
    }

    [Fact]
    public void Downscale_never_enlarges_a_face_that_is_already_small()
    {
        var result = Apply(TestImages.Jpeg(400, 300), Degradation.InterEyeDistance(64));
        using var decoded = Decode(result);
        Assert.Equal((400, 300), (decoded.Image.Width, decoded.Image.Height));
    }

    [Fact]
    public void Jpeg_quality_10_is_a_jpeg_and_smaller_than_quality_90()
    {
        var original = TestImages.Jpeg(400, 300, quality: 90);
        var result = Apply(original, Degradation.JpegQuality(10));
        using var decoded = Decode(result);
        Assert.Equal(ImageFormat.Jpeg, decoded.Info.Format);
        Assert.Equal((400, 300), (decoded.Image.Width, decoded.Image.Height));
        Assert.True(result.Length < original.Length, $"{result.Length} bytes at q10 against {original.Length} at q90");
    }

    [Theory]
    [InlineData(30f)]
    [InlineData(-30f)]
    public void Rotation_changes_pixels_and_keeps_size_and_the_centre(float degrees)
    {
        var split = TestImages.Jpeg(400, 300);
        var result = Apply(split, Degradation.Rotation(degrees));
        using var before = Decode(split);
        using var after = Decode(result);
        Assert.Equal(ImageFormat.Png, after.Info.Format);
        Assert.Equal((400, 300), (after.Image.Width, after.Image.Height));

        // The red|blue split at x = 200 passes through the face centre (200, 150): turned, it stays there but tilts,
        // so pixels above and below the centre near the old split change sides.
        var changed = 0;
        for (var y = 0; y < 300; y++)
        {
            for (var x = 0; x < 400; x++)
            {
                var a = TestImages.PixelAt(before.Image, x, y);
                var b = TestImages.PixelAt(after.Image, x, y);
                if (Math.Abs(a.R - b.R) + Math.Abs(a.B - b.B) > 200)
                {
                    changed++;
                }
            }
        }

        Assert.True(changed > 5_000, $"{changed} pixels changed colour");
        var centre = TestImages.PixelAt(after.Image, 160, 150);
        Assert.True(centre.R > 200 && centre.B < 60, $"left of the centre is still red: {centre}");
        // A positive angle turns clockwise as seen: the top of the split moves right, so above the centre a pixel
        // just right of it is red now.
        var probe = TestImages.PixelAt(after.Image, 230, degrees > 0 ? 50 : 250);
        Assert.True(probe.R > 200 && probe.B < 60, $"(230,{(degrees > 0 ? 50 : 250)}) should have turned red: {probe}");
    }

    [Fact]
    public void Low_light_lowers_the_mean_luma_about_as_the_curve_says()
    {
        var original = TestImages.Png(64, 48); // (10, 200, 30)
        using var before = Decode(original);
        using var after = Decode(Apply(original, Degradation.LowLight(0.25f)));
        var lumaBefore = MeanLuma(before.Image);
        var lumaAfter = MeanLuma(after.Image);
        var expected = (0.299 * Curve(10)) + (0.587 * Curve(200)) + (0.114 * Curve(30));
        Assert.InRange(lumaAfter, expected - 1, expected + 1);
        Assert.True(lumaAfter < lumaBefore * 0.25, $"mean luma {lumaBefore:0.0} → {lumaAfter:0.0}");

        // Noise: not every pixel of the flat image has the same green.
        var greens = new HashSet<byte>();
        for (var i = 0; i < 64 * 48; i++)
        {
            greens.Add(TestImages.PixelAt(after.Image, i % 64, i / 64).G);
        }

        Assert.True(greens.Count >= 5, $"{greens.Count} distinct green levels");

        static double Curve(int v) => 255 * 0.25 * Math.Pow(v / 255.0, Degradation.LowLightGamma);
    }

    [Fact]
    public void Mask_darkens_the_lower_face_band_and_nothing_above_it()
    {
        var original = TestImages.Png(400, 300);
        using var after = Decode(Apply(original, Degradation.Mask));
        // Band: from y = 147.5 (halfway between eyes 135 and nose 160) to 210, x 145..255.
        foreach (var (x, y) in new[] { (200, 170), (150, 205), (250, 150) })
        {
            var p = TestImages.PixelAt(after.Image, x, y);
            Assert.True(p.R < 60 && p.G < 60 && p.B < 60, $"({x},{y}) is {p}, not dark");
        }

        foreach (var (x, y) in new[] { (200, 130), (200, 220), (120, 170), (280, 170) })
        {
            Assert.Equal(((byte)10, (byte)200, (byte)30), TestImages.PixelAt(after.Image, x, y));
        }
    }

    [Fact]
    public void Blur_softens_the_edge_and_keeps_size()
    {
        var split = TestImages.Jpeg(400, 300);
        using var after = Decode(Apply(split, Degradation.Blur(Degradation.StandardBlurPerInterEye)));
        Assert.Equal(ImageFormat.Png, after.Info.Format);
        Assert.Equal((400, 300), (after.Image.Width, after.Image.Height));
        // σ = 40 / 16 = 2.5 px: the pixels next to the split are mixtures, far ones are untouched.
        var edge = TestImages.PixelAt(after.Image, 199, 150);
        Assert.InRange(edge.R, 70, 200);
        Assert.InRange(edge.B, 60, 190);
        var far = TestImages.PixelAt(after.Image, 100, 150);
        Assert.True(far.R > 240 && far.B < 15, $"{far}");
    }

    [Fact]
    public void The_same_input_gives_the_same_bytes()
    {
        var original = TestImages.Jpeg(200, 150);
        foreach (var degradation in Degradation.Standard)
        {
            Assert.Equal(Apply(original, degradation), Apply(original, degradation));
        }
    }

    [Fact]
    public void The_standard_set_has_nine_distinct_degradations()
    {
        Assert.Equal(9, Degradation.Standard.Count);
        Assert.Equal(9, Degradation.Standard.Select(d => d.Name).Distinct().Count());
        Assert.Equal([32f, 24f, 16f], Degradation.Standard.Where(d => d.Kind == DegradationKind.Downscale).Select(d => d.Amount));
    }

    [Fact]
    public void Invalid_images_are_rejected_with_the_reason()
    {
        var garbage = Assert.Throws<ImageRejectedException>(() => Apply([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], Degradation.Mask));
        Assert.Equal(ImageRejection.UnknownFormat, garbage.Reason);
        var empty = Assert.Throws<ImageRejectedException>(() => Apply([], Degradation.Mask));
        Assert.Equal(ImageRejection.Empty, empty.Reason);
        var jpeg = TestImages.Jpeg(400, 300);
        var truncated = Assert.Throws<ImageRejectedException>(() => Apply(jpeg[..(jpeg.Length / 2)], Degradation.JpegQuality(10)));
        Assert.Equal(ImageRejection.Corrupt, truncated.Reason);
        var huge = Assert.Throws<ImageRejectedException>(() => Apply(TestImages.PngHeaderClaiming(100_000, 100_000), Degradation.Mask));
        Assert.Equal(ImageRejection.TooManyPixels, huge.Reason);
        var tooManyBytes = Assert.Throws<ImageRejectedException>(() =>
            ProbeDegradation.Apply(jpeg, Degradation.Mask, s_box, s_landmarks, DecodeLimits.Default with { MaxBytes = 100 }));
        Assert.Equal(ImageRejection.TooManyBytes, tooManyBytes.Reason);
    }

    [Fact]
    public void Invalid_geometry_and_amounts_are_refused()
    {
        var jpeg = TestImages.Jpeg(100, 100);
        Assert.Throws<ArgumentException>(() =>
            ProbeDegradation.Apply(jpeg, Degradation.Mask, new BoxF(10, 10, 10, 50), s_landmarks, DecodeLimits.Default));
        var sameEyes = s_landmarks with { RightEye = s_landmarks.LeftEye };
        Assert.Throws<ArgumentException>(() => ProbeDegradation.Apply(jpeg, Degradation.Mask, s_box, sameEyes, DecodeLimits.Default));
        Assert.Throws<ArgumentOutOfRangeException>(() => Apply(jpeg, Degradation.JpegQuality(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Apply(jpeg, Degradation.InterEyeDistance(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Apply(jpeg, Degradation.LowLight(2)));
    }

    private static double MeanLuma(ImageBuffer image)
    {
        double sum = 0;
        var pixels = image.Pixels;
        for (var i = 0; i < pixels.Length; i += 3)
        {
            sum += (0.299 * pixels[i]) + (0.587 * pixels[i + 1]) + (0.114 * pixels[i + 2]);
        }

        return sum / (pixels.Length / 3);
    }
}
