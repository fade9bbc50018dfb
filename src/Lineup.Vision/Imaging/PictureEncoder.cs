using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using SkiaSharp;

namespace Lineup.Vision.Imaging;

/// <summary>
/// Makes the catalog's pictures (<see cref="Picture"/>) from an image that is already decoded, so ingest never decodes
/// a photo twice: a preview of the whole image and a loose thumbnail of each face, both JPEG (Skia's libjpeg-turbo).
/// <para>
/// Reduction is an area filter, each picture pixel the exact mean of the source area it covers (OpenCV's
/// INTER_AREA): nothing aliases, whatever the ratio. It runs in two managed passes over only the pixels the picture
/// shows: k×k block means in integers (k = ⌊ratio⌋, the bulk of a large reduction, one add per byte), then the
/// remaining reduction, under 2×, with fractional coverage weights into Skia's RGBA layout. A face smaller than its
/// thumbnail is enlarged by Skia with Mitchell cubic sampling.
/// </para>
/// <para>
/// Why not Skia for the reduction: for just the last step of the 2422×1011 decoded group photo (807×337 → 640×267,
/// after 3×3 block means), Skia's resize took 8.6 ms with trilinear mipmaps, 6.0 ms with Mitchell cubic and 2.3 ms
/// bilinear (which aliases at larger ratios). On the largest shared photos (2000×2400 decoded → 533×640, CPU time on
/// a busy 2-core machine) the block means take about 4 ms, the area step 2–3 ms and the JPEG encode 5–7 ms; the median
/// preview of the shared photos costs 1.2 ms in all, a face thumbnail 0.4 ms (PicturesTests.Cost_and_size…).
/// </para>
/// </summary>
public static class PictureEncoder
{
    /// <summary>
    /// Side of a thumbnail's square, as a multiple of the face box's longer side: the detector's box stops at the
    /// brows and chin, and an analyst recognises a face more readily with its hair line, ears and jaw.
    /// </summary>
    public const float ThumbnailContext = 1.4f;

    /// <summary>Largest block averaged in 16-bit column sums (255 × 128 &lt; 65 536); a larger ratio leaves more to the area step.</summary>
    internal const int MaxBlock = 128;

    private static readonly SKSamplingOptions s_grow = new(SKCubicResampler.Mitchell);

    /// <summary>
    /// The whole image, downscaled so that its longer side is at most <see cref="PictureOptions.PreviewSide"/> and its
    /// aspect ratio is kept; an image already that small keeps its size.
    /// </summary>
    public static Picture Preview(ImageBuffer image, PictureOptions options)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(options);
        var (width, height) = Fit(image.Width, image.Height, options.PreviewSide, upscale: false);
        return Encode(image, new PixelRect(0, 0, image.Width, image.Height), width, height, options.JpegQuality);
    }

    /// <summary>
    /// A thumbnail of the face whose box is <paramref name="box"/> in buffer pixels: the box grown to a square
    /// <see cref="ThumbnailContext"/> times its longer side around its centre, clipped to the image, scaled (up or
    /// down) so that its longer side is <see cref="PictureOptions.FaceThumbnailSide"/>. Upright as the image is: not
    /// rotated to level the eyes.
    /// </summary>
    public static Picture FaceThumbnail(ImageBuffer image, BoxF box, PictureOptions options)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(options);
        var region = ThumbnailRegion(box, image.Width, image.Height);
        var (width, height) = Fit(region.Width, region.Height, options.FaceThumbnailSide, upscale: true);
        return Encode(image, region, width, height, options.JpegQuality);
    }

    /// <summary>The pixels a face thumbnail shows, in buffer pixels: at least one pixel, always inside the image.</summary>
    public static PixelRect ThumbnailRegion(BoxF box, int imageWidth, int imageHeight)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageHeight);
        var centre = box.Center;
        var extent = ThumbnailContext * Math.Max(box.Width, box.Height);
        if (!float.IsFinite(centre.X) || !float.IsFinite(centre.Y) || !(extent >= 0) || !float.IsFinite(extent))
        {
            throw new ArgumentException($"The face box {box} is not finite.", nameof(box));
        }

        // One whole-pixel side for both axes, so that a face away from the border gets an exactly square picture.
        var side = Math.Max(1, (int)MathF.Round(extent));
        var left = (int)MathF.Round(centre.X - (side / 2f));
        var top = (int)MathF.Round(centre.Y - (side / 2f));
        var x0 = Math.Clamp(left, 0, imageWidth - 1);
        var y0 = Math.Clamp(top, 0, imageHeight - 1);
        var x1 = Math.Clamp(left + side, x0 + 1, imageWidth);
        var y1 = Math.Clamp(top + side, y0 + 1, imageHeight);
        return new PixelRect(x0, y0, x1 - x0, y1 - y0);
    }

    /// <summary>
    /// The size whose longer side is <paramref name="side"/> with the same aspect (or the size itself when smaller and
    /// not <paramref name="upscale"/>). Both axes shrink or both grow.
    /// </summary>
    internal static (int Width, int Height) Fit(int width, int height, int side, bool upscale)
    {
        var longer = Math.Max(width, height);
        if (longer == side || (longer < side && !upscale))
        {
            return (width, height);
        }

        var k = (double)side / longer;
        return width >= height
            ? (side, Math.Clamp((int)Math.Round(height * k), 1, side))
            : (Math.Clamp((int)Math.Round(width * k), 1, side), side);
    }

    private static Picture Encode(ImageBuffer image, PixelRect region, int width, int height, int quality)
    {
        if (width > region.Width || height > region.Height)
        {
            using var small = ToBitmap(image, region);
            using var grown = small.Resize(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque), s_grow)
                ?? throw new InvalidOperationException($"Skia could not resize {small.Width}×{small.Height} to {width}×{height}.");
            return new Picture(width, height, EncodeJpeg(grown, quality));
        }

        // ⌊ratio⌋ on the tighter axis: what is left for the area step is under 2× on both (unless the block is capped).
        var block = Math.Min(MaxBlock, Math.Min(region.Width / width, region.Height / height));
        ImageBuffer? reduced = null;
        try
        {
            if (block > 1)
            {
                reduced = BlockMean(image, region, block);
                image = reduced;
                region = new PixelRect(0, 0, reduced.Width, reduced.Height);
            }

            using var bitmap = region.Width == width && region.Height == height
                ? ToBitmap(image, region)
                : AreaResample(image, region, width, height);
            return new Picture(width, height, EncodeJpeg(bitmap, quality));
        }
        finally
        {
            reduced?.Dispose();
        }
    }

    private static byte[] EncodeJpeg(SKBitmap bitmap, int quality)
    {
        using var pixmap = bitmap.PeekPixels();
        using var data = pixmap.Encode(new SKJpegEncoderOptions(quality, SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore))
            ?? throw new InvalidOperationException("Skia could not encode the JPEG.");
        return data.ToArray();
    }

    // The loops below are marked for full optimisation from the first call: a gallery's first photos otherwise run
    // them as tier-0 code, measured up to 8× slower (66 ms against 9 ms for the block means of a 1890×2520 photo).

    /// <summary>The region's pixels as an opaque RGBA bitmap, unscaled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static SKBitmap ToBitmap(ImageBuffer image, PixelRect region)
    {
        var bitmap = new SKBitmap(region.Width, region.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var target = bitmap.GetPixelSpan();
        ReadOnlySpan<byte> pixels = image.Pixels;
        var rowBytes = region.Width * ImageBuffer.Channels;
        for (var y = 0; y < region.Height; y++)
        {
            var source = pixels.Slice(((region.Y + y) * image.Stride) + (region.X * ImageBuffer.Channels), rowBytes);
            var row = target.Slice(y * region.Width * 4, region.Width * 4);
            for (int i = 0, o = 0; i < source.Length; i += 3, o += 4)
            {
                row[o] = source[i];
                row[o + 1] = source[i + 1];
                row[o + 2] = source[i + 2];
                row[o + 3] = 255;
            }
        }

        return bitmap;
    }

    /// <summary>
    /// The mean of each <paramref name="block"/>² square of the region, as a pooled RGB buffer. The last partial row
    /// and column of blocks are left out: fewer source pixels than one block, so less than one pixel of the picture.
    /// </summary>
    /// <param name="block">At most <see cref="MaxBlock"/>, so that a column's sum fits 16 bits.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static ImageBuffer BlockMean(ImageBuffer image, PixelRect region, int block)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(block, MaxBlock);
        var width = region.Width / block;
        var height = region.Height / block;
        var result = ImageBuffer.Rent(width, height);
        ReadOnlySpan<byte> pixels = image.Pixels;
        var area = block * block;
        var half = area / 2;
        var columns = width * block * ImageBuffer.Channels;
        Span<ushort> sums = columns <= 16384 ? stackalloc ushort[columns] : new ushort[columns];
        var lanes = Vector<byte>.Count;
        for (var y = 0; y < height; y++)
        {
            // Column sums over the block's rows (vectorised: the one pass over every source byte), then the sum of
            // each run of block columns.
            sums.Clear();
            for (var j = 0; j < block; j++)
            {
                var source = pixels.Slice(((region.Y + (y * block) + j) * image.Stride) + (region.X * ImageBuffer.Channels), columns);
                var i = 0;
                for (; i <= columns - lanes; i += lanes)
                {
                    Vector.Widen(new Vector<byte>(source[i..]), out var low, out var high);
                    var lowSums = sums.Slice(i, lanes / 2);
                    var highSums = sums.Slice(i + (lanes / 2), lanes / 2);
                    (new Vector<ushort>(lowSums) + low).CopyTo(lowSums);
                    (new Vector<ushort>(highSums) + high).CopyTo(highSums);
                }

                for (; i < columns; i++)
                {
                    sums[i] += source[i];
                }
            }

            var row = result.Row(y);
            for (int x = 0, s = 0, o = 0; x < width; x++, o += 3)
            {
                int r = 0, g = 0, b = 0;
                for (var i = 0; i < block; i++, s += 3)
                {
                    r += sums[s];
                    g += sums[s + 1];
                    b += sums[s + 2];
                }

                row[o] = (byte)((r + half) / area);
                row[o + 1] = (byte)((g + half) / area);
                row[o + 2] = (byte)((b + half) / area);
            }
        }

        return result;
    }

    /// <summary>
    /// Area-weighted reduction of the region to <paramref name="width"/>×<paramref name="height"/> (at most the
    /// region's size on both axes) into an opaque RGBA bitmap: every picture pixel is the mean of the source area it
    /// covers, the source pixels on its edges counted by the share of them that lies inside.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static SKBitmap AreaResample(ImageBuffer image, PixelRect region, int width, int height)
    {
        var rx = (double)region.Width / width;
        var ry = (float)region.Height / height;

        // Per picture column x, covering source [a, b): the first source column ⌊a⌋ partly, the whole ones up to ⌊b⌋
        // (exclusive), and column ⌊b⌋ partly (weight 0 past the region's edge).
        var first = new int[width];
        var end = new int[width];
        var firstShare = new float[width];
        var lastShare = new float[width];
        for (var x = 0; x < width; x++)
        {
            var a = x * rx;
            var b = x == width - 1 ? region.Width : Math.Min((x + 1) * rx, region.Width);
            first[x] = (int)a;
            firstShare[x] = (float)(first[x] + 1 - a);
            end[x] = (int)b;
            lastShare[x] = end[x] < region.Width ? (float)(b - end[x]) : 0;
        }

        // One source row summed across, and the two picture rows that source rows currently add to.
        var line = new float[width * 3];
        var current = new float[width * 3];
        var next = new float[width * 3];
        var norm = (float)(1 / (rx * ry));
        var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var target = bitmap.GetPixelSpan();
        ReadOnlySpan<byte> pixels = image.Pixels;
        var rowBytes = region.Width * ImageBuffer.Channels;
        var y = 0;
        for (var j = 0; j < region.Height; j++)
        {
            var (rowTarget, rowShare) = Share(j, ry, height);
            if (rowTarget > y)
            {
                Emit(current, target.Slice(y * width * 4, width * 4), norm);
                (current, next) = (next, current);
                Array.Clear(next);
                y = rowTarget;
            }

            var source = pixels.Slice(((region.Y + j) * image.Stride) + (region.X * ImageBuffer.Channels), rowBytes);
            for (int x = 0, o = 0; x < width; x++, o += 3)
            {
                int f = first[x] * 3, e = end[x] * 3, l = Math.Min(e, rowBytes - 3);
                float wf = firstShare[x], wl = lastShare[x];
                var r = (wf * source[f]) + (wl * source[l]);
                var g = (wf * source[f + 1]) + (wl * source[l + 1]);
                var b = (wf * source[f + 2]) + (wl * source[l + 2]);
                for (var i = f + 3; i < e; i += 3)
                {
                    r += source[i];
                    g += source[i + 1];
                    b += source[i + 2];
                }

                line[o] = r;
                line[o + 1] = g;
                line[o + 2] = b;
            }

            TensorPrimitives.MultiplyAdd(line, rowShare, current, current);
            TensorPrimitives.MultiplyAdd(line, 1 - rowShare, next, next);
        }

        Emit(current, target.Slice(y * width * 4, width * 4), norm);
        return bitmap;
    }

    /// <summary>Source row <paramref name="i"/> (at ratio <paramref name="ratio"/> ≥ 1): its first picture row and the share of it that falls there; the rest falls in the next.</summary>
    private static (int Target, float Share) Share(int i, float ratio, int size)
    {
        var t = Math.Min((int)(i / ratio), size - 1);
        return (t, t == size - 1 ? 1 : Math.Clamp(((t + 1) * ratio) - i, 0, 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Emit(ReadOnlySpan<float> sums, Span<byte> rgba, float norm)
    {
        for (int i = 0, o = 0; o < rgba.Length; i += 3, o += 4)
        {
            rgba[o] = (byte)Math.Clamp((int)((sums[i] * norm) + 0.5f), 0, 255);
            rgba[o + 1] = (byte)Math.Clamp((int)((sums[i + 1] * norm) + 0.5f), 0, 255);
            rgba[o + 2] = (byte)Math.Clamp((int)((sums[i + 2] * norm) + 0.5f), 0, 255);
            rgba[o + 3] = 255;
        }
    }
}

/// <summary>A rectangle of whole pixels.</summary>
public readonly record struct PixelRect(int X, int Y, int Width, int Height);
