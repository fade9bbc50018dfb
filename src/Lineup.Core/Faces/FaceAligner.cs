using Lineup.Core.Imaging;

namespace Lineup.Core.Faces;

/// <summary>
/// A 2-D similarity transform (rotation, uniform scale, translation):
/// x' = A·x − B·y + Tx, y' = B·x + A·y + Ty.
/// </summary>
public readonly record struct SimilarityTransform(double A, double B, double Tx, double Ty)
{
    public static SimilarityTransform Identity { get; } = new(1, 0, 0, 0);

    public double Scale => Math.Sqrt((A * A) + (B * B));

    /// <summary>Rotation in radians.</summary>
    public double Rotation => Math.Atan2(B, A);

    public PointF Apply(PointF p) => new((float)((A * p.X) - (B * p.Y) + Tx), (float)((B * p.X) + (A * p.Y) + Ty));

    public SimilarityTransform Inverse()
    {
        var d = (A * A) + (B * B);
        if (d == 0)
        {
            throw new InvalidOperationException("A degenerate (zero-scale) transform has no inverse.");
        }

        var ia = A / d;
        var ib = -B / d;
        return new SimilarityTransform(ia, ib, -((ia * Tx) - (ib * Ty)), -((ib * Tx) + (ia * Ty)));
    }
}

/// <summary>
/// Turns 68 landmarks into the 112×112 crop the embedder was trained on: five points, a least-squares
/// similarity transform onto the ArcFace reference points, and a bilinear warp.
/// </summary>
public static class FaceAligner
{
    /// <summary>Side of the aligned crop.</summary>
    public const int CropSize = 112;

    /// <summary>
    /// The 112×112 five-point template of insightface/ArcFace (<c>arcface_dst</c> in
    /// deepinsight/insightface python-package/insightface/utils/face_align.py), also the reference's
    /// <c>REFERENCE_FACIAL_POINTS</c> (fr_feature.js): left eye, right eye, nose, left and right mouth corner.
    /// </summary>
    public static Landmarks5 Reference112 { get; } = new(
        new PointF(38.2946f, 51.6963f),
        new PointF(73.5318f, 51.5014f),
        new PointF(56.0252f, 71.7366f),
        new PointF(41.5493f, 92.3655f),
        new PointF(70.7299f, 92.2041f));

    /// <summary>
    /// Five points from the 68-point (iBUG 300-W) layout, 0-based: eyes are the means of the upper and lower
    /// lid points (37, 38, 40, 41 and 43, 44, 46, 47), the nose tip is 30, and each mouth corner is the mean
    /// of the outer and inner corner (48, 60 and 54, 64), as models.md measured.
    /// </summary>
    public static Landmarks5 FivePoints(ReadOnlySpan<PointF> points68)
    {
        if (points68.Length < 68)
        {
            throw new ArgumentException("68 landmark points are needed.", nameof(points68));
        }

        return new Landmarks5(
            Mean(points68[37], points68[38], points68[40], points68[41]),
            Mean(points68[43], points68[44], points68[46], points68[47]),
            points68[30],
            Mean(points68[48], points68[60]),
            Mean(points68[54], points68[64]));
    }

    /// <summary>
    /// Least-squares similarity transform taking <paramref name="source"/> onto <paramref name="target"/>
    /// (Umeyama 1991, "Least-squares estimation of transformation parameters between two point patterns").
    /// In 2-D, rotation plus uniform scale is the complex multiplication by A + iB, so Umeyama's SVD reduces
    /// to the closed form A = Σ(s·d) / Σ|s|², B = Σ(s × d) / Σ|s|² over centred points; this never reflects,
    /// which is Umeyama's det(UV) correction.
    /// </summary>
    public static SimilarityTransform EstimateSimilarity(ReadOnlySpan<PointF> source, ReadOnlySpan<PointF> target)
    {
        if (source.Length != target.Length || source.Length < 2)
        {
            throw new ArgumentException("Two equally long point sets of at least two points are needed.", nameof(target));
        }

        double msx = 0, msy = 0, mdx = 0, mdy = 0;
        for (var i = 0; i < source.Length; i++)
        {
            msx += source[i].X;
            msy += source[i].Y;
            mdx += target[i].X;
            mdy += target[i].Y;
        }

        var n = source.Length;
        msx /= n;
        msy /= n;
        mdx /= n;
        mdy /= n;
        double dot = 0, cross = 0, norm = 0;
        for (var i = 0; i < n; i++)
        {
            var sx = source[i].X - msx;
            var sy = source[i].Y - msy;
            var dx = target[i].X - mdx;
            var dy = target[i].Y - mdy;
            dot += (sx * dx) + (sy * dy);
            cross += (sx * dy) - (sy * dx);
            norm += (sx * sx) + (sy * sy);
        }

        if (norm <= 1e-12)
        {
            throw new ArgumentException("The source points coincide; no transform is defined.", nameof(source));
        }

        var a = dot / norm;
        var b = cross / norm;
        return new SimilarityTransform(a, b, mdx - ((a * msx) - (b * msy)), mdy - ((b * msx) + (a * msy)));
    }

    /// <summary>The transform from image pixels to the 112×112 template.</summary>
    public static SimilarityTransform EstimateAlignment(in Landmarks5 landmarks)
    {
        Span<PointF> source = [landmarks.LeftEye, landmarks.RightEye, landmarks.Nose, landmarks.MouthLeft, landmarks.MouthRight];
        var reference = Reference112;
        Span<PointF> target = [reference.LeftEye, reference.RightEye, reference.Nose, reference.MouthLeft, reference.MouthRight];
        return EstimateSimilarity(source, target);
    }

    /// <summary>Rents a <see cref="CropSize"/>² buffer and warps the face into it; the caller disposes it.</summary>
    public static ImageBuffer Align(ImageBuffer image, in Landmarks5 landmarks)
    {
        var crop = ImageBuffer.Rent(CropSize, CropSize);
        try
        {
            Warp(image, EstimateAlignment(landmarks), crop);
            return crop;
        }
        catch
        {
            crop.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Fills <paramref name="destination"/> by inverse mapping: destination pixel (u, v) samples the source at
    /// T⁻¹(u, v) bilinearly, as OpenCV's <c>warpAffine</c> does (integer pixel coordinates, constant black
    /// border; insightface's <c>norm_crop</c> uses the same border).
    /// </summary>
    public static void Warp(ImageBuffer source, in SimilarityTransform sourceToDestination, ImageBuffer destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        var inv = sourceToDestination.Inverse();
        var (a, b, tx, ty) = ((float)inv.A, (float)inv.B, (float)inv.Tx, (float)inv.Ty);
        ReadOnlySpan<byte> src = source.Pixels;
        var stride = source.Stride;
        var maxX = source.Width - 1;
        var maxY = source.Height - 1;
        for (var v = 0; v < destination.Height; v++)
        {
            var row = destination.Row(v);
            for (var u = 0; u < destination.Width; u++)
            {
                var x = (a * u) - (b * v) + tx;
                var y = (b * u) + (a * v) + ty;
                var o = u * 3;
                if (!(x > -1 && y > -1 && x < source.Width && y < source.Height))
                {
                    row[o] = row[o + 1] = row[o + 2] = 0;
                    continue;
                }

                var x0 = (int)MathF.Floor(x);
                var y0 = (int)MathF.Floor(y);
                var fx = x - x0;
                var fy = y - y0;
                // Taps outside the image read black, so the border fades in over one pixel like warpAffine's.
                for (var c = 0; c < 3; c++)
                {
                    var p00 = Tap(src, stride, x0, y0, c, maxX, maxY);
                    var p01 = Tap(src, stride, x0 + 1, y0, c, maxX, maxY);
                    var p10 = Tap(src, stride, x0, y0 + 1, c, maxX, maxY);
                    var p11 = Tap(src, stride, x0 + 1, y0 + 1, c, maxX, maxY);
                    var top = p00 + ((p01 - p00) * fx);
                    var bottom = p10 + ((p11 - p10) * fx);
                    row[o + c] = (byte)Math.Clamp((int)(top + ((bottom - top) * fy) + 0.5f), 0, 255);
                }
            }
        }
    }

    private static float Tap(ReadOnlySpan<byte> src, int stride, int x, int y, int c, int maxX, int maxY) =>
        x < 0 || y < 0 || x > maxX || y > maxY ? 0f : src[(y * stride) + (x * 3) + c];

    private static PointF Mean(PointF a, PointF b) => new((a.X + b.X) / 2, (a.Y + b.Y) / 2);

    private static PointF Mean(PointF a, PointF b, PointF c, PointF d) =>
        new((a.X + b.X + c.X + d.X) / 4, (a.Y + b.Y + c.Y + d.Y) / 4);
}
