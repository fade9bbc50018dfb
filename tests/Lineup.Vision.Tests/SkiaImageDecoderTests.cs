using Lineup.Core.Imaging;
using Lineup.Vision.Imaging;

namespace Lineup.Vision.Tests;

public sealed class SkiaImageDecoderTests
{
    private readonly SkiaImageDecoder _decoder = new();

    [Fact]
    public void Empty_input_is_refused_as_empty()
    {
        var e = Assert.Throws<ImageRejectedException>(() => _decoder.Decode([], DecodeLimits.Default));
        Assert.Equal(ImageRejection.Empty, e.Reason);
    }

    [Fact]
    public void Text_named_jpg_is_refused_as_unknown_format()
    {
        using var dir = new TempDirectory("decoder");
        var path = dir.Combine("notes.jpg");
        File.WriteAllText(path, "this is a text file with a .jpg name\n");
        var e = Assert.Throws<ImageRejectedException>(() => _decoder.Decode(File.ReadAllBytes(path), DecodeLimits.Default));
        Assert.Equal(ImageRejection.UnknownFormat, e.Reason);
    }

    [Fact]
    public void Bytes_over_the_limit_are_refused_before_parsing()
    {
        var jpeg = TestImages.Jpeg(64, 48);
        var e = Assert.Throws<ImageRejectedException>(() => _decoder.Decode(jpeg, DecodeLimits.Default with { MaxBytes = jpeg.Length - 1 }));
        Assert.Equal(ImageRejection.TooManyBytes, e.Reason);
        using var ok = _decoder.Decode(jpeg, DecodeLimits.Default with { MaxBytes = jpeg.Length });
        Assert.Equal(64, ok.Image.Width);
    }

    [Fact]
    public void Png_claiming_100000_by_100000_is_refused_without_decoding()
    {
        var png = TestImages.PngHeaderClaiming(100_000, 100_000);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var probe = Assert.Throws<ImageRejectedException>(() => _decoder.Probe(png, DecodeLimits.Default));
        var decode = Assert.Throws<ImageRejectedException>(() => _decoder.Decode(png, DecodeLimits.Default));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(ImageRejection.TooManyPixels, probe.Reason);
        Assert.Equal(ImageRejection.TooManyPixels, decode.Reason);
        Assert.Contains("100,000×100,000", decode.Message, StringComparison.Ordinal);
        Assert.True(allocated < 1_000_000, $"{allocated} bytes allocated while refusing a header");
    }

    [Fact]
    public void Pixel_limit_also_applies_to_formats_read_by_the_codec()
    {
        var jpeg = TestImages.Jpeg(200, 100);
        var e = Assert.Throws<ImageRejectedException>(() => _decoder.Decode(jpeg, DecodeLimits.Default with { MaxPixels = 19_999 }));
        Assert.Equal(ImageRejection.TooManyPixels, e.Reason);
    }

    [Theory]
    [InlineData(1, 40, 20, true)]   // upright: left half red
    [InlineData(3, 40, 20, false)]  // rotated 180°: left half blue
    [InlineData(6, 20, 40, true)]   // rotate 90° clockwise to view: the stored left (red) becomes the top
    [InlineData(8, 20, 40, false)]  // rotate 90° counter-clockwise: the stored left becomes the bottom
    public void Exif_orientation_is_applied(ushort orientation, int width, int height, bool redFirst)
    {
        var jpeg = TestImages.WithExifOrientation(TestImages.Jpeg(40, 20, quality: 100), orientation);
        var info = _decoder.Probe(jpeg, DecodeLimits.Default);
        Assert.Equal((ImageFormat.Jpeg, width, height), (info.Format, info.Width, info.Height));
        using var decoded = _decoder.Decode(jpeg, DecodeLimits.Default);
        Assert.Equal((width, height), (decoded.Image.Width, decoded.Image.Height));
        Assert.Equal(1f, decoded.Scale);
        var first = TestImages.PixelAt(decoded.Image, 2, 2);
        var last = TestImages.PixelAt(decoded.Image, width - 3, height - 3);
        var (red, blue) = redFirst ? (first, last) : (last, first);
        Assert.True(red.R > 200 && red.B < 60, $"expected red, got {red}");
        Assert.True(blue.B > 200 && blue.R < 60, $"expected blue, got {blue}");
    }

    [Fact]
    public void Large_jpeg_is_decoded_directly_at_reduced_size()
    {
        var jpeg = TestImages.Jpeg(2000, 1000);
        using var decoded = _decoder.Decode(jpeg, DecodeLimits.Default with { MaxDecodedSide = 600 });
        Assert.Equal((2000, 1000), (decoded.Info.Width, decoded.Info.Height));
        Assert.Equal((500, 250), (decoded.Image.Width, decoded.Image.Height)); // 2/8: the largest k/8 that fits
        Assert.Equal(0.25f, decoded.Scale);
    }

    [Fact]
    public void Large_png_is_reduced_after_decoding()
    {
        var png = TestImages.Png(1200, 300);
        using var decoded = _decoder.Decode(png, DecodeLimits.Default with { MaxDecodedSide = 400 });
        Assert.Equal((400, 100), (decoded.Image.Width, decoded.Image.Height));
        Assert.Equal(1f / 3, decoded.Scale, 3);
        Assert.Equal((10, 200, 30), TestImages.PixelAt(decoded.Image, 200, 50));
    }

    [Fact]
    public void Gif_and_bmp_decode()
    {
        using var gif = _decoder.Decode(TestImages.Gif1x1Red(), DecodeLimits.Default);
        Assert.Equal(ImageFormat.Gif, gif.Info.Format);
        Assert.Equal((255, 0, 0), TestImages.PixelAt(gif.Image, 0, 0));
        using var bmp = _decoder.Decode(TestImages.Bmp2x1(), DecodeLimits.Default);
        Assert.Equal((ImageFormat.Bmp, 2, 1), (bmp.Info.Format, bmp.Info.Width, bmp.Info.Height));
        Assert.Equal((0, 255, 0), TestImages.PixelAt(bmp.Image, 0, 0));
        Assert.Equal((255, 255, 255), TestImages.PixelAt(bmp.Image, 1, 0));
    }

    [Fact]
    public void Truncated_png_is_refused_as_corrupt()
    {
        var png = TestImages.Png(300, 200);
        var e = Assert.Throws<ImageRejectedException>(() => _decoder.Decode(png.AsSpan(0, png.Length / 2), DecodeLimits.Default));
        Assert.Equal(ImageRejection.Corrupt, e.Reason);
    }

    [Fact]
    public void Header_only_jpeg_is_refused_as_corrupt()
    {
        var jpeg = TestImages.Jpeg(64, 64);
        var e = Assert.Throws<ImageRejectedException>(() => _decoder.Decode(jpeg.AsSpan(0, 40), DecodeLimits.Default));
        Assert.Equal(ImageRejection.Corrupt, e.Reason);
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public void Real_jpeg_cut_at_30_percent_is_refused_as_truncated()
    {
        var bytes = File.ReadAllBytes(TestPaths.Face("face_recognition/images/Barack_Obama/obama.jpg"));
        var info = _decoder.Probe(bytes, DecodeLimits.Default);
        Assert.Equal(ImageFormat.Jpeg, info.Format);
        var e = Assert.Throws<ImageRejectedException>(() => _decoder.Decode(bytes.AsSpan(0, bytes.Length * 3 / 10), DecodeLimits.Default));
        Assert.Equal(ImageRejection.Corrupt, e.Reason);
        Assert.Contains("truncated JPEG data", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public void WebP_data_named_jpg_decodes_as_webp()
    {
        var dir = TestPaths.Face("deepface/images");
        var path = Directory.EnumerateFiles(dir, "img47.jpg", SearchOption.AllDirectories).First();
        var bytes = File.ReadAllBytes(path);
        using var decoded = _decoder.Decode(bytes, DecodeLimits.Default);
        Assert.Equal(ImageFormat.WebP, decoded.Info.Format);
        Assert.True(decoded.Image.Width > 100 && decoded.Image.Height > 100);
        Assert.Equal(decoded.Info.Width, decoded.Image.Width);
    }

    [SkippableFact]
    [Trait("Category", "Data")]
    public void Real_10_megapixel_jpeg_decodes_at_half_size()
    {
        var bytes = File.ReadAllBytes(TestPaths.Face("faceaisharp/groups/group_10mpx.jpg"));
        using var decoded = _decoder.Decode(bytes, DecodeLimits.Default);
        Assert.Equal(4844, decoded.Info.Width);
        Assert.True(decoded.Image.Width <= DecodeLimits.Default.MaxDecodedSide + 2);
        Assert.Equal(decoded.Image.Width / (float)decoded.Info.Width, decoded.Scale);
        Assert.InRange(decoded.Scale, 0.49f, 0.51f);
    }
}
