using System.Buffers;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Vision.Models;

namespace Lineup.Vision.Onnx;

/// <summary>
/// The pack's 68-point landmarker (<c>fr_landmark.onnx</c>, input [1,1,64,64] luma / 256, output 68 (x, y)
/// pairs relative to the crop; models.md). Profile heads still give poor points.
/// <para>
/// The crop is the detector's square box enlarged by <see cref="FramingScale"/> and moved down by
/// <see cref="FramingShift"/> of its side, sampled as it is (parts outside the image read black) rather than
/// clamped to the image as the reference does. Measured on the 297 Glint photos of the evaluation set, which are
/// already aligned to the 112×112 template and so give the true five points: the reference framing has a mean
/// error of 0.122 inter-ocular distances and puts the mouth corners 4.7 px (0.13 IOD) too high; this framing has
/// 0.101 and a 1.6 px bias; on pairs.csv it raised AUC 0.982 → 0.985 and TAR at FAR 0.1% 83% → 89%.
/// </para>
/// <para>
/// De-rotation: when the first pass puts the eye line more than <see cref="DerotationAboveDegrees"/> off the
/// horizontal, the crop is sampled again turned by that angle around the box centre (so the face is upright in it,
/// as the network was trained), predicted again and the points turned back. The first pass already finds the angle
/// of a face turned 30° well (median error 0.3°, 80% within ±2.5°), but its points are less consistent. Measured on
/// 496 probes of the shared photos turned by +30° / −30° (DegradationMeasurementTests): the five points' distance from
/// the upright face's points, turned, fell from 0.073 to 0.064 and from 0.065 to 0.052 inter-eye distances (90th
/// percentile 0.088 → 0.067, 0.079 → 0.056), the mean mate score rose by 0.0006 ± 0.0025 and 0.0033 ± 0.0024,
/// rank-1 94.0 → 94.2% and 94.0 → 94.6%. Cost: one more landmark pass, about 0.3 ms, for a tilted face only.
/// A threshold of 10–15° also re-predicted naturally tilted faces and cost 0.001 of mate score undegraded; a second
/// crop framed from the first pass's five points instead of the box was no better.
/// </para>
/// </summary>
public sealed class OnnxLandmarker : ILandmarker, IDisposable
{
    internal const int InputSide = 64;
    internal const int PointCount = 68;

    /// <summary>Side of the landmark crop relative to the detector's (squared) box.</summary>
    internal const float FramingScale = 1.1f;

    /// <summary>Downward shift of the landmark crop's centre, in box heights.</summary>
    internal const float FramingShift = 0.1f;

    /// <summary>
    /// Eye-line angle (degrees) beyond which the crop is taken again, turned upright (see the class remarks). Two of
    /// the 1,495 shared photos have a face tilted that far; every other face keeps the reference's single pass exactly,
    /// and `lineup eval` is unchanged (AUC 0.9961, TAR at FAR 0.1% 94.97%, rank-1 99.24%; of the five pairs these
    /// photos are in, the three genuine ones moved +0.045, +0.026, −0.009 and the two impostor ones −0.004, −0.022).
    /// </summary>
    internal const float DerotationAboveDegrees = 20f;

    private readonly OnnxModel _model;

    private readonly bool _ownsModel;

    public OnnxLandmarker(ModelStore store)
        : this(new OnnxModel(Checked(store).PathOf("landmarker"), store.Manifest.Get("landmarker"), null, store.ExecutionProvider, store.CudaDevice), ownsModel: true)
    {
    }

    private OnnxLandmarker(OnnxModel model, bool ownsModel)
    {
        _model = model;
        _ownsModel = ownsModel;
        if (_model.OutputLengths[0] != PointCount * 2)
        {
            if (ownsModel)
            {
                _model.Dispose();
            }

            throw new ModelStoreException($"The landmarker's output has {_model.OutputLengths[0]} values, not {PointCount * 2}.");
        }
    }

    /// <summary>
    /// Eye-line angle (degrees, either way) beyond which the crop is taken again turned by that angle;
    /// infinity turns de-rotation off.
    /// </summary>
    internal float DerotationThresholdDegrees { get; private init; } = DerotationAboveDegrees;

    /// <summary>A landmarker over the same session with another de-rotation threshold (for measurements).</summary>
    internal OnnxLandmarker WithDerotation(float thresholdDegrees) =>
        new(_model, ownsModel: false) { DerotationThresholdDegrees = thresholdDegrees };

    public void Predict(ImageBuffer image, BoxF box, Span<PointF> points68)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (points68.Length < PointCount)
        {
            throw new ArgumentException($"Room for {PointCount} points is needed.", nameof(points68));
        }

        Predict(image, CropOf(box), points68);
        if (float.IsPositiveInfinity(DerotationThresholdDegrees))
        {
            return;
        }

        var angle = EyeLineAngle(points68);
        if (MathF.Abs(angle) * (180 / MathF.PI) > DerotationThresholdDegrees)
        {
            PredictTurned(image, box, angle, points68);
        }
    }

    /// <summary>Angle of the line from the left to the right eye centre (radians; positive: turned clockwise as seen).</summary>
    internal static float EyeLineAngle(ReadOnlySpan<PointF> points68)
    {
        var five = FaceAligner.FivePoints(points68);
        return MathF.Atan2(five.RightEye.Y - five.LeftEye.Y, five.RightEye.X - five.LeftEye.X);
    }

    /// <summary>
    /// Predicts on the landmark crop turned by <paramref name="angle"/> around the box centre, so that the face
    /// is upright in it, and turns the points back into the image.
    /// </summary>
    internal void PredictTurned(ImageBuffer image, BoxF box, float angle, Span<PointF> points68)
    {
        var (sin, cos) = MathF.SinCos(angle);
        var side = Math.Max(1f, box.Height * FramingScale);
        var shift = FramingShift * box.Height;
        // The crop's x axis runs along the eye line, its y axis down the face; the downward framing shift follows it.
        var c = box.Center;
        var cx = c.X - (sin * shift);
        var cy = c.Y + (cos * shift);
        var pool = ArrayPool<float>.Shared;
        var input = pool.Rent(_model.InputLength);
        var output = pool.Rent(PointCount * 2);
        try
        {
            WriteTurnedLuma(image, cx, cy, side, sin, cos, input);
            _model.Run(input, [output]);
            for (var i = 0; i < PointCount; i++)
            {
                var a = (output[2 * i] - 0.5f) * side;
                var b = (output[(2 * i) + 1] - 0.5f) * side;
                points68[i] = new PointF(cx + (a * cos) - (b * sin), cy + (a * sin) + (b * cos));
            }
        }
        finally
        {
            pool.Return(input);
            pool.Return(output);
        }
    }

    /// <summary>
    /// The 64×64 luma / 256 input sampled bilinearly from a square of <paramref name="side"/> pixels centred on
    /// (<paramref name="cx"/>, <paramref name="cy"/>) and turned by the angle whose sine and cosine are given: the
    /// same sampling grid and edge rules as <see cref="TensorWriter"/> (pixel centres at +0.5, neighbours clamped,
    /// points more than half a pixel outside read black).
    /// </summary>
    private static void WriteTurnedLuma(ImageBuffer image, float cx, float cy, float side, float sin, float cos, Span<float> input)
    {
        var width = image.Width;
        var height = image.Height;
        var stride = image.Stride;
        ReadOnlySpan<byte> pixels = image.Pixels;
        var step = side / InputSide;
        for (var v = 0; v < InputSide; v++)
        {
            var b = ((v + 0.5f) * step) - (side / 2);
            for (var u = 0; u < InputSide; u++)
            {
                var a = ((u + 0.5f) * step) - (side / 2);
                var fx = cx + (a * cos) - (b * sin) - 0.5f;
                var fy = cy + (a * sin) + (b * cos) - 0.5f;
                if (fx < -1f || fx > width || fy < -1f || fy > height)
                {
                    input[(v * InputSide) + u] = 0;
                    continue;
                }

                var x0 = Math.Clamp((int)MathF.Floor(fx), 0, width - 1);
                var y0 = Math.Clamp((int)MathF.Floor(fy), 0, height - 1);
                var x1 = Math.Min(x0 + 1, width - 1);
                var y1 = Math.Min(y0 + 1, height - 1);
                var wx = Math.Clamp(fx - x0, 0f, 1f);
                var wy = Math.Clamp(fy - y0, 0f, 1f);
                var top = Lerp(Luma(pixels, (y0 * stride) + (x0 * 3)), Luma(pixels, (y0 * stride) + (x1 * 3)), wx);
                var bottom = Lerp(Luma(pixels, (y1 * stride) + (x0 * 3)), Luma(pixels, (y1 * stride) + (x1 * 3)), wx);
                input[(v * InputSide) + u] = Lerp(top, bottom, wy) / 256f;
            }
        }

        static float Luma(ReadOnlySpan<byte> p, int i) => (0.299f * p[i]) + (0.587f * p[i + 1]) + (0.114f * p[i + 2]);

        static float Lerp(float a, float b, float w) => a + ((b - a) * w);
    }

    /// <summary>Runs the network on a given crop and maps the points back to image pixels.</summary>
    internal void Predict(ImageBuffer image, SourceRegion crop, Span<PointF> points68)
    {
        var pool = ArrayPool<float>.Shared;
        var input = pool.Rent(_model.InputLength);
        var output = pool.Rent(PointCount * 2);
        try
        {
            Run(image, crop, input, output);
            for (var i = 0; i < PointCount; i++)
            {
                points68[i] = new PointF(crop.X + (output[2 * i] * crop.Width), crop.Y + (output[(2 * i) + 1] * crop.Height));
            }
        }
        finally
        {
            pool.Return(input);
            pool.Return(output);
        }
    }

    /// <summary>Runs the network on one crop; <paramref name="output"/> receives the 136 crop-relative values.</summary>
    internal void Run(ImageBuffer image, SourceRegion crop, float[] input, float[] output)
    {
        TensorWriter.Write(image, crop, input, InputSide, InputSide, TensorLayout.Luma, mean: 0f, scale: 256f);
        _model.Run(input, [output]);
    }

    /// <summary>The landmark crop for a detector box: enlarged, moved down, not clamped (see the class remarks).</summary>
    internal static SourceRegion CropOf(BoxF box)
    {
        var c = box.Center;
        var side = Math.Max(1f, box.Height * FramingScale);
        return new SourceRegion(c.X - (side / 2), c.Y + (FramingShift * box.Height) - (side / 2), side, side);
    }

    /// <summary>
    /// The reference's crop: the box clamped to the image; a box wholly outside it is used as it is (padding is
    /// sampled). Kept for the parity tests.
    /// </summary>
    internal static SourceRegion ReferenceCropOf(ImageBuffer image, BoxF box)
    {
        var x1 = Math.Max(0, box.X1);
        var y1 = Math.Max(0, box.Y1);
        var x2 = Math.Min(image.Width, box.X2);
        var y2 = Math.Min(image.Height, box.Y2);
        return x2 - x1 >= 1 && y2 - y1 >= 1
            ? new SourceRegion(x1, y1, x2 - x1, y2 - y1)
            : new SourceRegion(box.X1, box.Y1, Math.Max(1, box.Width), Math.Max(1, box.Height));
    }

    private static ModelStore Checked(ModelStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store;
    }

    public void Dispose()
    {
        if (_ownsModel)
        {
            _model.Dispose();
        }
    }
}
