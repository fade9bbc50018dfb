using System.Buffers;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Vision.Models;

namespace Lineup.Vision.Onnx;

/// <summary>
/// The pack's 68-point landmarker (<c>fr_landmark.onnx</c>, input [1,1,64,64] luma / 256, output 68 (x, y)
/// pairs relative to the crop; models.md). The crop is the square face box clamped to the image; it is not
/// de-rotated, so strongly rotated or profile heads give poor points.
/// </summary>
public sealed class OnnxLandmarker : ILandmarker, IDisposable
{
    internal const int InputSide = 64;
    internal const int PointCount = 68;

    private readonly OnnxModel _model;

    public OnnxLandmarker(ModelStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _model = new OnnxModel(store.PathOf("landmarker"), store.Manifest.Get("landmarker"));
        if (_model.OutputLengths[0] != PointCount * 2)
        {
            throw new ModelStoreException($"The landmarker's output has {_model.OutputLengths[0]} values, not {PointCount * 2}.");
        }
    }

    public void Predict(ImageBuffer image, BoxF box, Span<PointF> points68)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (points68.Length < PointCount)
        {
            throw new ArgumentException($"Room for {PointCount} points is needed.", nameof(points68));
        }

        var crop = CropOf(image, box);
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

    /// <summary>The box clamped to the image; a box wholly outside it is used as it is (padding is sampled).</summary>
    internal static SourceRegion CropOf(ImageBuffer image, BoxF box)
    {
        var x1 = Math.Max(0, box.X1);
        var y1 = Math.Max(0, box.Y1);
        var x2 = Math.Min(image.Width, box.X2);
        var y2 = Math.Min(image.Height, box.Y2);
        return x2 - x1 >= 1 && y2 - y1 >= 1
            ? new SourceRegion(x1, y1, x2 - x1, y2 - y1)
            : new SourceRegion(box.X1, box.Y1, Math.Max(1, box.Width), Math.Max(1, box.Height));
    }

    public void Dispose() => _model.Dispose();
}
