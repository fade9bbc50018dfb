using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Vision.Imaging;
using SkiaSharp;
using Xunit.Abstractions;

namespace Lineup.Vision.Tests;

/// <summary>
/// The gallery's pictures (<see cref="PictureEncoder"/>, <see cref="FaceEngine.Analyze(ReadOnlySpan{byte}, DecodeLimits, bool)"/>):
/// face thumbnails show the face at the configured size, previews are the whole upright image downscaled, and probes
/// get none. The cost and size on the shared photos are written to the test output.
/// </summary>
[Collection(EngineGroup.Name)]
public sealed class PicturesTests(EngineFixture fixture, ITestOutputHelper output)
{
    /// <summary>4844×2022: decoded at half size, so a box used without the decode scale would cut the wrong place.</summary>
    private const string Group = "faceaisharp/groups/group_10mpx.jpg";

    private const string Lfw = "lfw_deepfunneled/images/Ari_Fleischer/Ari_Fleischer_0006.jpg";

    private static readonly SkiaImageDecoder s_decoder = new();

    private FaceEngine Engine => fixture.Engine;

    private static DecodedImage Decode(byte[] bytes) => s_decoder.Decode(bytes, DecodeLimits.Default);

    [SkippableFact]
    [Trait("Category", "Data")]
    public void Every_face_gets_a_jpeg_thumbnail_of_the_configured_size_centred_on_the_face()
    {
        var bytes = File.ReadAllBytes(TestPaths.Face(Group));
        var analysis = Engine.Analyze(bytes, DecodeLimits.Default, withPictures: true);
        using var original = Decode(bytes);
        Assert.True(original.Scale < 0.6f, $"decoded at scale {original.Scale}");
        Assert.True(analysis.Faces.Count >= 5, $"{analysis.Faces.Count} faces");
        Assert.True(analysis.Timings.PicturesMs > 0);

        foreach (var face in analysis.Faces)
        {
            var thumbnail = Assert.IsType<Picture>(face.Thumbnail);
            using var decoded = Decode(thumbnail.Jpeg);
            Assert.Equal(ImageFormat.Jpeg, decoded.Info.Format);
            Assert.Equal((thumbnail.Width, thumbnail.Height), (decoded.Image.Width, decoded.Image.Height));
            Assert.Equal(PictureOptions.Default.FaceThumbnailSide, Math.Max(thumbnail.Width, thumbnail.Height));

            // The middle fifth of the thumbnail shows what the middle of the face box shows in the photo.
            var s = original.Scale;
            var centre = face.Box.Center;
            var patch = 0.2f * PictureEncoder.ThumbnailContext * Math.Max(face.Box.Width, face.Box.Height) * s;
            var expected = MeanColour(original.Image, (centre.X * s) - (patch / 2), (centre.Y * s) - (patch / 2), patch, patch);
            var inside = face.Box.X1 - (0.2f * face.Box.Width) > 0 && face.Box.X2 + (0.2f * face.Box.Width) < original.Info.Width
                && face.Box.Y1 - (0.2f * face.Box.Height) > 0 && face.Box.Y2 + (0.2f * face.Box.Height) < original.Info.Height;
            if (inside)
            {
                // Away from the border, the crop is the square around the box.
                Assert.Equal(thumbnail.Width, thumbnail.Height);
                var actual = MeanColour(decoded.Image, 0.4f * thumbnail.Width, 0.4f * thumbnail.Height, 0.2f * thumbnail.Width, 0.2f * thumbnail.Height);
                AssertClose(expected, actual, 12, $"face at {face.Box}");
            }
        }
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public void The_preview_is_the_whole_upright_image_with_its_longest_side_at_most_640()
    {
        var bytes = File.ReadAllBytes(TestPaths.Face(Group));
        var analysis = Engine.Analyze(bytes, DecodeLimits.Default, withPictures: true);
        var preview = Assert.IsType<Picture>(analysis.Preview);
        using var decoded = Decode(preview.Jpeg);
        using var original = Decode(bytes);
        Assert.Equal(ImageFormat.Jpeg, decoded.Info.Format);
        Assert.Equal((preview.Width, preview.Height), (decoded.Image.Width, decoded.Image.Height));
        Assert.Equal(640, Math.Max(preview.Width, preview.Height));
        var aspect = (double)preview.Width / preview.Height;
        var originalAspect = (double)analysis.Info.Width / analysis.Info.Height;
        Assert.InRange(aspect / originalAspect, 0.99, 1.01);

        // The whole frame, not a part of it: every cell of a 6×4 grid has the photo's colour there.
        for (var gy = 0; gy < 4; gy++)
        {
            for (var gx = 0; gx < 6; gx++)
            {
                var a = MeanColour(original.Image, gx * original.Image.Width / 6f, gy * original.Image.Height / 4f, original.Image.Width / 6f, original.Image.Height / 4f);
                var b = MeanColour(decoded.Image, gx * preview.Width / 6f, gy * preview.Height / 4f, preview.Width / 6f, preview.Height / 4f);
                AssertClose(a, b, 6, $"grid cell ({gx}, {gy})");
            }
        }
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public void A_photo_smaller_than_the_preview_keeps_its_size()
    {
        var bytes = File.ReadAllBytes(TestPaths.Face(Lfw));
        var analysis = Engine.Analyze(bytes, DecodeLimits.Default, withPictures: true);
        var preview = Assert.IsType<Picture>(analysis.Preview);
        Assert.Equal((250, 250), (preview.Width, preview.Height));
        using var decoded = Decode(preview.Jpeg);
        Assert.Equal((250, 250), (decoded.Image.Width, decoded.Image.Height));

        // The face of a 250×250 LFW crop is smaller than the thumbnail: the thumbnail is enlarged to the common size.
        var face = Assert.Single(analysis.Faces);
        var thumbnail = Assert.IsType<Picture>(face.Thumbnail);
        Assert.Equal(112, Math.Max(thumbnail.Width, thumbnail.Height));
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public void Probes_get_no_pictures()
    {
        var bytes = File.ReadAllBytes(TestPaths.Face(Lfw));
        IPhotoAnalyzer analyzer = Engine;
        foreach (var analysis in new[] { Engine.Analyze(bytes, DecodeLimits.Default), analyzer.Analyze(bytes, DecodeLimits.Default) })
        {
            Assert.NotEmpty(analysis.Faces);
            Assert.Null(analysis.Preview);
            Assert.All(analysis.Faces, f => Assert.Null(f.Thumbnail));
            Assert.Equal(0, analysis.Timings.PicturesMs);
        }

        // The same photo as a gallery item does get them: the switch is what makes the difference.
        var gallery = analyzer.Analyze(bytes, DecodeLimits.Default, withPictures: true);
        Assert.NotNull(gallery.Preview);
        Assert.All(gallery.Faces, f => Assert.NotNull(f.Thumbnail));
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public void Pictures_turned_off_are_not_made_even_for_the_gallery()
    {
        using var engine = FaceEngine.Create(fixture.Store, pictures: PictureOptions.Default with { Enabled = false });
        var analysis = engine.Analyze(File.ReadAllBytes(TestPaths.Face(Lfw)), DecodeLimits.Default, withPictures: true);
        Assert.NotEmpty(analysis.Faces);
        Assert.Null(analysis.Preview);
        Assert.All(analysis.Faces, f => Assert.Null(f.Thumbnail));
    }

    [Fact]
    public void Out_of_range_options_are_refused()
    {
        PictureOptions.Default.Validate();
        Assert.Throws<ValidationException>(() => (PictureOptions.Default with { FaceThumbnailSide = 16 }).Validate());
        Assert.Throws<ValidationException>(() => (PictureOptions.Default with { PreviewSide = 4096 }).Validate());
        Assert.Throws<ValidationException>(() => (PictureOptions.Default with { JpegQuality = 20 }).Validate());
    }

    [Fact]
    public void A_large_image_is_averaged_down_without_mixing_distant_colours()
    {
        // 2000×1000, left half red: averaged 3×3, then resampled to 640×320; the split stays at x = 320.
        using var image = Decode(TestImages.Jpeg(2000, 1000));
        var preview = PictureEncoder.Preview(image.Image, PictureOptions.Default);
        Assert.Equal((640, 320), (preview.Width, preview.Height));
        using var decoded = Decode(preview.Jpeg);
        AssertClose((255, 0, 0), MeanColour(decoded.Image, 20, 20, 280, 280), 8, "left half");
        AssertClose((0, 0, 255), MeanColour(decoded.Image, 340, 20, 280, 280), 8, "right half");
    }

    [Fact]
    public void A_small_image_is_not_enlarged_and_the_preview_follows_the_exif_orientation()
    {
        using var small = Decode(TestImages.Jpeg(300, 200));
        var preview = PictureEncoder.Preview(small.Image, PictureOptions.Default);
        Assert.Equal((300, 200), (preview.Width, preview.Height));

        // Orientation 6: stored 900×300 landscape, shown as a 300×900 portrait; the stored left (red) half is on top.
        using var turned = Decode(TestImages.WithExifOrientation(TestImages.Jpeg(900, 300), 6));
        var upright = PictureEncoder.Preview(turned.Image, PictureOptions.Default);
        Assert.Equal((213, 640), (upright.Width, upright.Height));
        using var decoded = Decode(upright.Jpeg);
        AssertClose((255, 0, 0), MeanColour(decoded.Image, 20, 20, 170, 280), 8, "top");
        AssertClose((0, 0, 255), MeanColour(decoded.Image, 20, 340, 170, 280), 8, "bottom");
    }

    [Fact]
    public void The_area_step_weighs_each_source_pixel_by_the_share_of_it_inside_a_picture_pixel()
    {
        // 3×3 → 2×2: picture pixel 0 covers source [0, 1.5) on each axis, so source 0 counts fully and source 1 half.
        // Red varies across (0, 90, 180), green down (0, 60, 120), blue is 200 everywhere.
        using var image = ImageBuffer.Rent(3, 3);
        for (var y = 0; y < 3; y++)
        {
            for (var x = 0; x < 3; x++)
            {
                var pixel = image.Row(y)[(x * 3)..];
                (pixel[0], pixel[1], pixel[2]) = ((byte)(90 * x), (byte)(60 * y), 200);
            }
        }

        using var bitmap = PictureEncoder.AreaResample(image, new PixelRect(0, 0, 3, 3), 2, 2);
        // Red: (0 + 0.5 × 90) / 1.5 = 30 and (0.5 × 90 + 180) / 1.5 = 150; green likewise 20 and 100.
        Assert.Equal(new SKColor(30, 20, 200), bitmap.GetPixel(0, 0));
        Assert.Equal(new SKColor(150, 20, 200), bitmap.GetPixel(1, 0));
        Assert.Equal(new SKColor(30, 100, 200), bitmap.GetPixel(0, 1));
        Assert.Equal(new SKColor(150, 100, 200), bitmap.GetPixel(1, 1));
    }

    [Fact]
    public void The_block_step_takes_the_mean_of_each_square_and_leaves_out_the_partial_last_one()
    {
        // 5×2 in 2×2 blocks: two blocks, the fifth column left out.
        using var image = ImageBuffer.Rent(5, 2);
        byte[] top = [10, 0, 0, 20, 0, 0, 100, 0, 0, 200, 0, 0, 255, 255, 255];
        byte[] bottom = [30, 4, 0, 40, 4, 1, 100, 8, 0, 100, 8, 0, 255, 255, 255];
        top.CopyTo(image.Row(0));
        bottom.CopyTo(image.Row(1));
        using var reduced = PictureEncoder.BlockMean(image, new PixelRect(0, 0, 5, 2), 2);
        Assert.Equal((2, 1), (reduced.Width, reduced.Height));
        Assert.Equal([25, 2, 0, 125, 4, 0], reduced.Row(0).ToArray());
    }

    [Fact]
    public void A_face_at_the_border_is_clipped_to_the_image_and_still_scaled_to_the_thumbnail_side()
    {
        // Box 100×100 at the left edge: the 140-pixel square around it loses 20 pixels on the left.
        Assert.Equal(new PixelRect(0, 130, 120, 140), PictureEncoder.ThumbnailRegion(new BoxF(0, 150, 100, 250), 400, 400));
        Assert.Equal(new PixelRect(130, 130, 140, 140), PictureEncoder.ThumbnailRegion(new BoxF(150, 150, 250, 250), 400, 400));

        using var image = Decode(TestImages.Jpeg(400, 300));
        var thumbnail = PictureEncoder.FaceThumbnail(image.Image, new BoxF(0, 100, 100, 200), PictureOptions.Default);
        Assert.Equal((96, 112), (thumbnail.Width, thumbnail.Height));

        // A box straddling the red|blue split at x = 200: red on the left of the thumbnail, blue on the right.
        var split = PictureEncoder.FaceThumbnail(image.Image, new BoxF(170, 120, 230, 180), PictureOptions.Default with { FaceThumbnailSide = 64 });
        Assert.Equal((64, 64), (split.Width, split.Height));
        using var decoded = Decode(split.Jpeg);
        AssertClose((255, 0, 0), MeanColour(decoded.Image, 4, 4, 20, 56), 12, "left");
        AssertClose((0, 0, 255), MeanColour(decoded.Image, 40, 4, 20, 56), 12, "right");
    }

    /// <summary>
    /// Cost and size of the pictures on every fourth shared photo, written to the output: milliseconds per photo for
    /// the preview and per face for the thumbnail (from the decoded buffer, as ingest makes them), and the JPEG bytes.
    /// Cost is this thread's CPU time where Linux reports it (the least of three runs), so that a shared machine's
    /// other work does not count: with 8 runnable threads on 2 cores, wall time read 4–5× the CPU time for the
    /// largest photos. Asserts only what every picture must be.
    /// </summary>
    [SkippableFact]
    [Trait("Category", "Data")]
    public void Cost_and_size_on_the_shared_photos()
    {
        var root = TestPaths.RequireFaces();
        var paths = File.ReadLines(Path.Combine(root, "manifest.csv")).Skip(1).Select(l => l.Split(',')[0]).Where((_, i) => i % 4 == 0).ToArray();
        var options = PictureOptions.Default;
        List<double> previewMs = [], thumbnailMs = [], embedMs = [];
        List<int> previewBytes = [], thumbnailBytes = [];
        List<(double Ms, string Photo)> slowest = [];

        // Warm up Skia's encoder and the JIT so the first photo's numbers are not start-up costs.
        using (var warm = Decode(TestImages.Jpeg(800, 600)))
        {
            PictureEncoder.Preview(warm.Image, options);
            PictureEncoder.FaceThumbnail(warm.Image, new BoxF(100, 100, 300, 300), options);
        }

        foreach (var path in paths)
        {
            var bytes = File.ReadAllBytes(Path.Combine(root, path));
            var analysis = Engine.Analyze(bytes, DecodeLimits.Default);
            using var decoded = Decode(bytes);
            var (preview, ms) = Fastest(() => PictureEncoder.Preview(decoded.Image, options));
            previewMs.Add(ms);
            slowest.Add((ms, $"{path} ({decoded.Image.Width}×{decoded.Image.Height} decoded)"));
            previewBytes.Add(preview.Jpeg.Length);
            Assert.True(Math.Max(preview.Width, preview.Height) <= options.PreviewSide, path);
            Assert.True(Math.Max(preview.Width, preview.Height) <= Math.Max(decoded.Image.Width, decoded.Image.Height), path);
            if (analysis.Faces.Count > 0)
            {
                embedMs.Add(analysis.Timings.EmbedMs / analysis.Faces.Count);
            }

            foreach (var face in analysis.Faces)
            {
                var s = decoded.Scale;
                var box = new BoxF(face.Box.X1 * s, face.Box.Y1 * s, face.Box.X2 * s, face.Box.Y2 * s);
                var (thumbnail, faceMs) = Fastest(() => PictureEncoder.FaceThumbnail(decoded.Image, box, options));
                thumbnailMs.Add(faceMs);
                thumbnailBytes.Add(thumbnail.Jpeg.Length);
                Assert.Equal(options.FaceThumbnailSide, Math.Max(thumbnail.Width, thumbnail.Height));
            }
        }

        output.WriteLine($"{paths.Length} photos, {thumbnailMs.Count} faces");
        output.WriteLine($"preview ms/photo (CPU): {Summary(previewMs)}; bytes: {Summary(previewBytes.Select(b => (double)b).ToList())}");
        output.WriteLine($"thumbnail ms/face (CPU): {Summary(thumbnailMs)}; bytes: {Summary(thumbnailBytes.Select(b => (double)b).ToList())}");
        output.WriteLine($"embed ms/face (same run, wall): {Summary(embedMs)}");
        output.WriteLine($"slowest previews: {string.Join("; ", slowest.OrderByDescending(s => s.Ms).Take(5).Select(s => $"{s.Ms:0.0} ms {s.Photo}"))}");
        Assert.NotEmpty(thumbnailMs);
    }

    private static (Picture Picture, double Ms) Fastest(Func<Picture> make)
    {
        Picture? picture = null;
        var best = double.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            var start = CpuMs();
            picture = make();
            best = Math.Min(best, CpuMs() - start);
        }

        return (picture!, best);
    }

    /// <summary>This thread's CPU time in ms (Linux: <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>, ns-precise); wall time elsewhere.</summary>
    private static double CpuMs() =>
        OperatingSystem.IsLinux() && ClockGetTime(ThreadCpuClock, out var t) == 0
            ? (t.Seconds * 1e3) + (t.Nanoseconds / 1e6)
            : Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    private const int ThreadCpuClock = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private static string Summary(List<double> values)
    {
        values.Sort();
        double At(double q) => values[Math.Min(values.Count - 1, (int)(q * values.Count))];
        return $"median {At(0.5):0.##}, p95 {At(0.95):0.##}, max {values[^1]:0.##}, mean {values.Average():0.##}";
    }

    private static (double R, double G, double B) MeanColour(ImageBuffer image, float x, float y, float width, float height)
    {
        var x0 = Math.Clamp((int)x, 0, image.Width - 1);
        var y0 = Math.Clamp((int)y, 0, image.Height - 1);
        var x1 = Math.Clamp((int)MathF.Ceiling(x + width), x0 + 1, image.Width);
        var y1 = Math.Clamp((int)MathF.Ceiling(y + height), y0 + 1, image.Height);
        double r = 0, g = 0, b = 0;
        for (var v = y0; v < y1; v++)
        {
            var row = image.Row(v);
            for (var u = x0; u < x1; u++)
            {
                r += row[u * 3];
                g += row[(u * 3) + 1];
                b += row[(u * 3) + 2];
            }
        }

        var n = (double)(x1 - x0) * (y1 - y0);
        return (r / n, g / n, b / n);
    }

    private static void AssertClose((double R, double G, double B) expected, (double R, double G, double B) actual, double tolerance, string what)
    {
        var worst = Math.Max(Math.Abs(expected.R - actual.R), Math.Max(Math.Abs(expected.G - actual.G), Math.Abs(expected.B - actual.B)));
        Assert.True(
            worst <= tolerance,
            $"{what}: expected about ({expected.R:0}, {expected.G:0}, {expected.B:0}), got ({actual.R:0}, {actual.G:0}, {actual.B:0})");
    }
}
