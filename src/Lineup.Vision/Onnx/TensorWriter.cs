using Lineup.Core.Imaging;

namespace Lineup.Vision.Onnx;

/// <summary>How pixels become tensor channels.</summary>
internal enum TensorLayout
{
    /// <summary>Three planes R, G, B.</summary>
    Rgb,

    /// <summary>Three planes B, G, R (what the detector's reference actually feeds).</summary>
    Bgr,

    /// <summary>One plane, 0.299 R + 0.587 G + 0.114 B.</summary>
    Luma,
}

/// <summary>An axis-aligned source region in image pixels; it may reach outside the image (padding).</summary>
internal readonly record struct SourceRegion(float X, float Y, float Width, float Height);

/// <summary>
/// Writes an image region straight into a planar float tensor with bilinear sampling: no intermediate bitmap.
/// The sampling grid follows OpenCV's <c>INTER_LINEAR</c> (pixel centres at +0.5, neighbours clamped at the
/// edge), which is what the reference's <c>cv.resize</c> does; points more than half a pixel outside the image
/// take <c>fill</c>.
/// </summary>
internal static class TensorWriter
{
    public static void Write(
        ImageBuffer image,
        SourceRegion region,
        Span<float> tensor,
        int outWidth,
        int outHeight,
        TensorLayout layout,
        float mean,
        float scale,
        (byte R, byte G, byte B) fill = default)
    {
        var plane = outWidth * outHeight;
        var channels = layout == TensorLayout.Luma ? 1 : 3;
        if (tensor.Length < plane * channels)
        {
            throw new ArgumentException("The tensor is smaller than the output size.", nameof(tensor));
        }

        var width = image.Width;
        var height = image.Height;
        var stride = image.Stride;
        ReadOnlySpan<byte> pixels = image.Pixels;

        Span<int> xa = outWidth <= 512 ? stackalloc int[outWidth] : new int[outWidth];
        Span<int> xb = outWidth <= 512 ? stackalloc int[outWidth] : new int[outWidth];
        Span<float> xw = outWidth <= 512 ? stackalloc float[outWidth] : new float[outWidth];
        var sx = region.Width / outWidth;
        for (var ox = 0; ox < outWidth; ox++)
        {
            var fx = region.X + ((ox + 0.5f) * sx) - 0.5f;
            if (fx < -1f || fx > width)
            {
                xa[ox] = -1;
                continue;
            }

            Axis(fx, width, out var i0, out var i1, out xw[ox]);
            xa[ox] = i0 * 3;
            xb[ox] = i1 * 3;
        }

        var invScale = 1f / scale;
        var fillR = (fill.R - mean) * invScale;
        var fillG = (fill.G - mean) * invScale;
        var fillB = (fill.B - mean) * invScale;
        var fillL = ((0.299f * fill.R) + (0.587f * fill.G) + (0.114f * fill.B) - mean) * invScale;
        var (first, third) = layout == TensorLayout.Bgr ? (2, 0) : (0, 2);
        var sy = region.Height / outHeight;
        for (var oy = 0; oy < outHeight; oy++)
        {
            var outRow = oy * outWidth;
            var fy = region.Y + ((oy + 0.5f) * sy) - 0.5f;
            if (fy < -1f || fy > height)
            {
                if (layout == TensorLayout.Luma)
                {
                    tensor.Slice(outRow, outWidth).Fill(fillL);
                }
                else
                {
                    tensor.Slice((first * plane) + outRow, outWidth).Fill(fillR);
                    tensor.Slice(plane + outRow, outWidth).Fill(fillG);
                    tensor.Slice((third * plane) + outRow, outWidth).Fill(fillB);
                }

                continue;
            }

            Axis(fy, height, out var y0, out var y1, out var wy);
            var row0 = pixels.Slice(y0 * stride, stride);
            var row1 = pixels.Slice(y1 * stride, stride);
            for (var ox = 0; ox < outWidth; ox++)
            {
                var o = outRow + ox;
                var a = xa[ox];
                float r, g, b;
                if (a < 0)
                {
                    r = fill.R;
                    g = fill.G;
                    b = fill.B;
                }
                else
                {
                    var c = xb[ox];
                    var wx = xw[ox];
                    r = Lerp2(row0[a], row0[c], row1[a], row1[c], wx, wy);
                    g = Lerp2(row0[a + 1], row0[c + 1], row1[a + 1], row1[c + 1], wx, wy);
                    b = Lerp2(row0[a + 2], row0[c + 2], row1[a + 2], row1[c + 2], wx, wy);
                }

                if (layout == TensorLayout.Luma)
                {
                    tensor[o] = ((0.299f * r) + (0.587f * g) + (0.114f * b) - mean) * invScale;
                }
                else
                {
                    tensor[(first * plane) + o] = (r - mean) * invScale;
                    tensor[plane + o] = (g - mean) * invScale;
                    tensor[(third * plane) + o] = (b - mean) * invScale;
                }
            }
        }
    }

    /// <summary>Neighbour indices and weight of the second one, clamped like OpenCV's replicate border.</summary>
    private static void Axis(float f, int size, out int i0, out int i1, out float w)
    {
        if (f <= 0)
        {
            i0 = i1 = 0;
            w = 0;
            return;
        }

        if (f >= size - 1)
        {
            i0 = i1 = size - 1;
            w = 0;
            return;
        }

        i0 = (int)f;
        i1 = i0 + 1;
        w = f - i0;
    }

    private static float Lerp2(byte p00, byte p01, byte p10, byte p11, float wx, float wy)
    {
        var top = p00 + ((p01 - p00) * wx);
        var bottom = p10 + ((p11 - p10) * wx);
        return top + ((bottom - top) * wy);
    }

    /// <summary>Mean colour from a sparse grid of about 4,096 samples (used to fill padding).</summary>
    public static (byte R, byte G, byte B) MeanColour(ImageBuffer image)
    {
        var stepX = Math.Max(1, image.Width / 64);
        var stepY = Math.Max(1, image.Height / 64);
        long r = 0, g = 0, b = 0, n = 0;
        for (var y = stepY / 2; y < image.Height; y += stepY)
        {
            var row = image.Row(y);
            for (var x = stepX / 2; x < image.Width; x += stepX)
            {
                r += row[x * 3];
                g += row[(x * 3) + 1];
                b += row[(x * 3) + 2];
                n++;
            }
        }

        return n == 0 ? ((byte)127, (byte)127, (byte)127) : ((byte)(r / n), (byte)(g / n), (byte)(b / n));
    }
}
