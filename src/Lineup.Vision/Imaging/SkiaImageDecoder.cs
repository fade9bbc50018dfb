using System.Buffers;
using Lineup.Core.Imaging;
using SkiaSharp;

namespace Lineup.Vision.Imaging;

/// <summary>
/// Decodes untrusted JPEG, PNG, WebP, GIF (first frame) and BMP data with SkiaSharp's <see cref="SKCodec"/>
/// into upright RGB. Every check that can be made from the header is made before a pixel is decoded: the
/// container is recognised by its magic bytes, the byte budget and the claimed pixel count are enforced, and a
/// truncated or corrupt stream is refused whole (never a half-decoded image). Large JPEGs are decoded directly
/// at 1/2, 1/4 or 1/8 size by libjpeg-turbo's DCT scaling.
/// </summary>
public sealed class SkiaImageDecoder : IImageDecoder
{
    public ImageInfo Probe(ReadOnlySpan<byte> encoded, DecodeLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var format = CheckContainer(encoded, limits);
        try
        {
            return WithCodec(encoded, format, limits, static (codec, format, length, _) => UprightInfo(codec, format, length));
        }
        catch (Exception e) when (e is not ImageRejectedException)
        {
            throw Corrupt($"the {ImageSniffer.Name(format)} header could not be read ({e.Message})", e);
        }
    }

    public DecodedImage Decode(ReadOnlySpan<byte> encoded, DecodeLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var format = CheckContainer(encoded, limits);
        try
        {
            return WithCodec(encoded, format, limits, static (codec, format, length, limits) => DecodeCore(codec, format, length, limits));
        }
        catch (Exception e) when (e is not ImageRejectedException)
        {
            throw Corrupt($"the {ImageSniffer.Name(format)} data could not be decoded ({e.Message})", e);
        }
    }

    /// <summary>Refusals that need no decoder: empty, too many bytes, unknown container, hostile claimed size.</summary>
    private static ImageFormat CheckContainer(ReadOnlySpan<byte> encoded, DecodeLimits limits)
    {
        if (encoded.IsEmpty)
        {
            throw new ImageRejectedException(ImageRejection.Empty, "The image file is empty.");
        }

        if (encoded.Length > limits.MaxBytes)
        {
            throw new ImageRejectedException(
                ImageRejection.TooManyBytes,
                $"The image file is {encoded.Length:N0} bytes, more than the {limits.MaxBytes:N0}-byte limit.");
        }

        var format = ImageSniffer.Sniff(encoded);
        if (format == ImageFormat.Unknown)
        {
            throw new ImageRejectedException(
                ImageRejection.UnknownFormat,
                "The file is not a JPEG, PNG, WebP, GIF or BMP image (its first bytes match none of them).");
        }

        if (ImageSniffer.ClaimedSize(format, encoded) is var (w, h))
        {
            CheckPixels(format, w, h, limits);
        }

        return format;
    }

    private static void CheckPixels(ImageFormat format, long width, long height, DecodeLimits limits)
    {
        if (width <= 0 || height <= 0)
        {
            throw Corrupt($"the {ImageSniffer.Name(format)} header claims an empty {width}×{height} image");
        }

        if (width * height > limits.MaxPixels)
        {
            throw new ImageRejectedException(
                ImageRejection.TooManyPixels,
                $"The {ImageSniffer.Name(format)} image is {width:N0}×{height:N0} pixels, more than the {limits.MaxPixels:N0}-pixel limit.");
        }
    }

    private delegate T CodecFunc<out T>(SKCodec codec, ImageFormat format, long length, DecodeLimits limits);

    private static unsafe T WithCodec<T>(ReadOnlySpan<byte> encoded, ImageFormat format, DecodeLimits limits, CodecFunc<T> func)
    {
        fixed (byte* p = encoded)
        {
            // Wraps the pinned bytes without copying; data and codec are released before the pin is.
            using var data = SKData.Create((IntPtr)p, encoded.Length);
            using var codec = SKCodec.Create(data)
                ?? throw Corrupt($"the {ImageSniffer.Name(format)} header is unreadable or the data is cut short");
            var info = codec.Info;
            CheckPixels(format, info.Width, info.Height, limits);
            return func(codec, format, encoded.Length, limits);
        }
    }

    private static bool SwapsAxes(SKEncodedOrigin origin) =>
        origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    private static ImageInfo UprightInfo(SKCodec codec, ImageFormat format, long length)
    {
        var info = codec.Info;
        return SwapsAxes(codec.EncodedOrigin)
            ? new ImageInfo(format, info.Height, info.Width, length)
            : new ImageInfo(format, info.Width, info.Height, length);
    }

    private static DecodedImage DecodeCore(SKCodec codec, ImageFormat format, long length, DecodeLimits limits)
    {
        var upright = UprightInfo(codec, format, length);
        var full = codec.Info;
        var (width, height) = (full.Width, full.Height);
        var longSide = Math.Max(width, height);
        var maxSide = limits.MaxDecodedSide;
        if (maxSide > 0 && longSide > maxSide)
        {
            // libjpeg-turbo scales by k/8: take the largest k whose result still fits, at least 1/8.
            var eighths = Math.Max(1, (int)Math.Floor(8.0 * maxSide / longSide));
            var scaled = codec.GetScaledDimensions(eighths / 8f);
            if (scaled.Width > 0 && scaled.Height > 0 && scaled.Width <= width && scaled.Height <= height)
            {
                (width, height) = (scaled.Width, scaled.Height);
            }
        }

        var rgba = ArrayPool<byte>.Shared.Rent(checked(width * height * 4));
        try
        {
            var result = GetPixels(codec, rgba, width, height);
            if (result == SKCodecResult.InvalidScale && (width, height) != (full.Width, full.Height))
            {
                (width, height) = (full.Width, full.Height);
                ArrayPool<byte>.Shared.Return(rgba);
                rgba = ArrayPool<byte>.Shared.Rent(checked(width * height * 4));
                result = GetPixels(codec, rgba, width, height);
            }

            var name = ImageSniffer.Name(format);
            switch (result)
            {
                case SKCodecResult.Success:
                    break;
                case SKCodecResult.IncompleteInput:
                    throw Corrupt($"truncated {name} data: the file ends before the image is complete");
                case SKCodecResult.ErrorInInput:
                case SKCodecResult.InvalidInput:
                    throw Corrupt($"corrupt {name} data: the pixel stream is damaged");
                default:
                    throw Corrupt($"the {name} image could not be decoded ({result})");
            }

            var image = Orient(rgba, width, height, codec.EncodedOrigin);
            // A scaled JPEG may round up by a pixel or two; that is not worth a second resampling.
            if (maxSide > 0 && Math.Max(image.Width, image.Height) > maxSide + 2)
            {
                // Formats without DCT scaling (PNG, GIF, BMP), or a JPEG needing less than 1/8.
                var shrunk = AreaDownscale(image, maxSide);
                image.Dispose();
                image = shrunk;
            }

            return new DecodedImage(image, upright, (float)image.Width / upright.Width);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgba);
        }
    }

    private static unsafe SKCodecResult GetPixels(SKCodec codec, byte[] rgba, int width, int height)
    {
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        fixed (byte* p = rgba)
        {
            // Frame 0 of an animated GIF or WebP; the whole frame is written (zero-initialised for partial frames).
            return codec.GetPixels(info, (IntPtr)p, width * 4, new SKCodecOptions(0) { ZeroInitialized = SKZeroInitialized.No });
        }
    }

    /// <summary>
    /// Drops alpha and applies the EXIF origin in one pass: output pixel (u, v) reads stored pixel
    /// (x, y) = (ax·u + bx·v + cx, ay·u + by·v + cy).
    /// </summary>
    internal static ImageBuffer Orient(ReadOnlySpan<byte> rgba, int width, int height, SKEncodedOrigin origin)
    {
        var swap = SwapsAxes(origin);
        var (outW, outH) = swap ? (height, width) : (width, height);
        var (w1, h1) = (width - 1, height - 1);
        (int Ax, int Bx, int Cx, int Ay, int By, int Cy) m = origin switch
        {
            SKEncodedOrigin.TopRight => (-1, 0, w1, 0, 1, 0),
            SKEncodedOrigin.BottomRight => (-1, 0, w1, 0, -1, h1),
            SKEncodedOrigin.BottomLeft => (1, 0, 0, 0, -1, h1),
            SKEncodedOrigin.LeftTop => (0, 1, 0, 1, 0, 0),
            SKEncodedOrigin.RightTop => (0, 1, 0, -1, 0, h1),
            SKEncodedOrigin.RightBottom => (0, -1, w1, -1, 0, h1),
            SKEncodedOrigin.LeftBottom => (0, -1, w1, 1, 0, 0),
            _ => (1, 0, 0, 0, 1, 0),
        };

        var image = ImageBuffer.Rent(outW, outH);
        var step = (m.Ax + (m.Ay * width)) * 4;
        for (var v = 0; v < outH; v++)
        {
            var row = image.Row(v);
            var src = ((m.Bx * v) + m.Cx + (((m.By * v) + m.Cy) * width)) * 4;
            for (var o = 0; o < row.Length; o += 3, src += step)
            {
                row[o] = rgba[src];
                row[o + 1] = rgba[src + 1];
                row[o + 2] = rgba[src + 2];
            }
        }

        return image;
    }

    /// <summary>Box-filter reduction so that the longer side is at most <paramref name="maxSide"/>.</summary>
    internal static ImageBuffer AreaDownscale(ImageBuffer source, int maxSide)
    {
        var ratio = (double)Math.Max(source.Width, source.Height) / maxSide;
        var outW = Math.Max(1, (int)Math.Round(source.Width / ratio));
        var outH = Math.Max(1, (int)Math.Round(source.Height / ratio));
        outW = Math.Min(outW, maxSide);
        outH = Math.Min(outH, maxSide);
        var result = ImageBuffer.Rent(outW, outH);
        var src = source.Pixels;
        var stride = source.Stride;
        for (var y = 0; y < outH; y++)
        {
            var y0 = (int)((long)y * source.Height / outH);
            var y1 = Math.Max(y0 + 1, (int)((long)(y + 1) * source.Height / outH));
            var row = result.Row(y);
            for (var x = 0; x < outW; x++)
            {
                var x0 = (int)((long)x * source.Width / outW);
                var x1 = Math.Max(x0 + 1, (int)((long)(x + 1) * source.Width / outW));
                int r = 0, g = 0, b = 0;
                for (var yy = y0; yy < y1; yy++)
                {
                    var i = (yy * stride) + (x0 * 3);
                    for (var xx = x0; xx < x1; xx++, i += 3)
                    {
                        r += src[i];
                        g += src[i + 1];
                        b += src[i + 2];
                    }
                }

                var n = (y1 - y0) * (x1 - x0);
                row[x * 3] = (byte)((r + (n / 2)) / n);
                row[(x * 3) + 1] = (byte)((g + (n / 2)) / n);
                row[(x * 3) + 2] = (byte)((b + (n / 2)) / n);
            }
        }

        return result;
    }

    private static ImageRejectedException Corrupt(string what, Exception? inner = null) =>
        new(ImageRejection.Corrupt, char.ToUpperInvariant(what[0]) + what[1..] + ".", inner);
}
