using System.Buffers;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Vision.Models;

namespace Lineup.Vision.Onnx;

/// <summary>
/// The pack's face detector (<c>fr_detect.onnx</c>, an RFB-320-style network, input [1,3,240,320] BGR,
/// (v − 127) / 128; outputs already-decoded corner boxes in 0..1 and two-class scores; models.md).
/// <para>
/// One pass sees the whole image squeezed into 320×240, so faces under about 1/30 of the width vanish and a
/// face filling the frame is missed too. <see cref="DetectorOptions.Tiling"/> adds passes over overlapping 4:3
/// tiles and <see cref="DetectorOptions.Padding"/> a pass over the image inside a border; all passes are
/// merged in image coordinates by score-ordered NMS. Boxes are finally squared (side = height, centred) as the
/// reference does, which is what the landmarker expects.
/// </para>
/// </summary>
public sealed class OnnxFaceDetector : IFaceDetector, IDisposable
{
    internal const int InputWidth = 320;
    internal const int InputHeight = 240;
    internal const int Anchors = 4420;

    /// <summary>
    /// Smallest face side, in pixels of the 320×240 input, that one pass finds reliably; tiles are sized from
    /// it. models.md: faces under about 1/30 of the image width (≈ 11 px of 320) are lost.
    /// </summary>
    internal const float DetectableInputPixels = 12f;

    private readonly OnnxModel _model;
    private readonly bool _ownsModel;

    public OnnxFaceDetector(ModelStore store, DetectorOptions? options = null)
        : this(new OnnxModel(Checked(store).PathOf("detector"), store.Manifest.Get("detector"), ["scores", "boxes"], store.ExecutionProvider, store.CudaDevice), options, ownsModel: true)
    {
    }

    internal OnnxFaceDetector(OnnxModel model, DetectorOptions? options, bool ownsModel)
    {
        Options = options ?? DetectorOptions.Default;
        Options.Validate();
        _model = model;
        _ownsModel = ownsModel;
        if (_model.OutputLengths[0] != Anchors * 2 || _model.OutputLengths[1] != Anchors * 4)
        {
            throw new ModelStoreException($"The detector's outputs are not scores [1,{Anchors},2] and boxes [1,{Anchors},4].");
        }
    }

    public DetectorOptions Options { get; }

    /// <summary>A detector over the same session with other options (the session is not duplicated).</summary>
    public OnnxFaceDetector WithOptions(DetectorOptions options) => new(_model, options, ownsModel: false);

    public IReadOnlyList<FaceDetection> Detect(ImageBuffer image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var passes = PlanPasses(image.Width, image.Height, Options);
        var fill = Options.Padding ? TensorWriter.MeanColour(image) : default;
        var candidates = new List<FaceDetection>(16);
        var pool = ArrayPool<float>.Shared;
        var input = pool.Rent(_model.InputLength);
        var scores = pool.Rent(Anchors * 2);
        var boxes = pool.Rent(Anchors * 4);
        try
        {
            foreach (var pass in passes)
            {
                RunPass(image, pass.Region, fill, input, scores, boxes);
                Collect(scores, boxes, pass, image.Width, image.Height, Options.ScoreThreshold, candidates);
            }
        }
        finally
        {
            pool.Return(input);
            pool.Return(scores);
            pool.Return(boxes);
        }

        var merged = Merge(candidates, Options);
        var result = new FaceDetection[merged];
        for (var i = 0; i < merged; i++)
        {
            result[i] = new FaceDetection(Square(candidates[i].Box), candidates[i].Score);
        }

        return result;
    }

    /// <summary>Feeds one region of the image through the network (raw outputs; used by the parity tests).</summary>
    internal void RunPass(ImageBuffer image, SourceRegion region, (byte R, byte G, byte B) fill, float[] input, float[] scores, float[] boxes)
    {
        TensorWriter.Write(image, region, input, InputWidth, InputHeight, TensorLayout.Bgr, mean: 127f, scale: 128f, fill);
        _model.Run(input, [scores, boxes]);
    }

    /// <summary>One detector pass: a source region, and which of its edges are cuts through the image.</summary>
    internal readonly record struct Pass(SourceRegion Region, bool IsTile);

    internal static List<Pass> PlanPasses(int width, int height, DetectorOptions options)
    {
        var passes = new List<Pass> { new(new SourceRegion(0, 0, width, height), IsTile: false) };
        if (options.Padding)
        {
            var pad = options.PaddingFraction * Math.Max(width, height);
            float cw = width + (2 * pad), ch = height + (2 * pad);
            if (cw * 3 < ch * 4)
            {
                cw = ch * 4 / 3;
            }
            else
            {
                ch = cw * 3 / 4;
            }

            passes.Add(new Pass(new SourceRegion((width - cw) / 2, (height - ch) / 2, cw, ch), IsTile: false));
        }

        if (!options.Tiling)
        {
            return passes;
        }

        // Input pixels per image pixel of the full pass (the larger of the two stretches).
        var coarse = Math.Max(width / (float)InputWidth, height / (float)InputHeight);
        var target = Math.Max(options.MinFaceFraction * width, options.MinFacePixels);
        var baseWidth = Math.Min(width, height * 4f / 3f);
        for (var level = 1; level <= 4 && DetectableInputPixels * coarse > target; level++)
        {
            var tileW = baseWidth / (1 << level);
            var tileH = tileW * 3 / 4;
            // Neighbouring tiles overlap by more than the largest face the coarser pass may miss, so every face
            // lies whole inside some tile of the first level fine enough to see it.
            var overlap = Math.Clamp(DetectableInputPixels * coarse * 1.5f, 0.2f * tileW, 0.5f * tileW);
            var nx = Math.Max(1, (int)MathF.Ceiling((width - overlap) / (tileW - overlap)));
            var ny = Math.Max(1, (int)MathF.Ceiling((height - overlap) / (tileH - overlap)));
            for (var j = 0; j < ny; j++)
            {
                var y = ny == 1 ? (height - tileH) / 2 : j * (height - tileH) / (ny - 1);
                for (var i = 0; i < nx; i++)
                {
                    var x = nx == 1 ? (width - tileW) / 2 : i * (width - tileW) / (nx - 1);
                    passes.Add(new Pass(new SourceRegion(x, y, tileW, tileH), IsTile: true));
                }
            }

            coarse = tileW / InputWidth;
        }

        return passes;
    }

    /// <summary>Keeps boxes scoring at least <paramref name="threshold"/>, mapped to image pixels.</summary>
    internal static void Collect(
        ReadOnlySpan<float> scores, ReadOnlySpan<float> boxes, Pass pass, int width, int height, float threshold, List<FaceDetection> into)
    {
        var r = pass.Region;
        // A tile box within 1% of an edge that cuts through the image is probably a partial face; the
        // whole face lies in an overlapping tile or is seen by the coarser pass.
        var marginX = 0.01f * r.Width;
        var marginY = 0.01f * r.Height;
        for (var i = 0; i < Anchors; i++)
        {
            var score = scores[(2 * i) + 1];
            if (score < threshold)
            {
                continue;
            }

            var b = boxes.Slice(4 * i, 4);
            var box = new BoxF(r.X + (b[0] * r.Width), r.Y + (b[1] * r.Height), r.X + (b[2] * r.Width), r.Y + (b[3] * r.Height));
            if (box.Width <= 0 || box.Height <= 0)
            {
                continue;
            }

            if (pass.IsTile
                && ((box.X1 < r.X + marginX && r.X > 0.5f)
                    || (box.Y1 < r.Y + marginY && r.Y > 0.5f)
                    || (box.X2 > r.X + r.Width - marginX && r.X + r.Width < width - 0.5f)
                    || (box.Y2 > r.Y + r.Height - marginY && r.Y + r.Height < height - 0.5f)))
            {
                continue;
            }

            into.Add(new FaceDetection(box, score));
        }
    }

    /// <summary>
    /// Score-ordered greedy NMS (the reference sorts by y2 and divides by one box's area: not copied).
    /// Leaves the kept detections, best first, at the start of <paramref name="detections"/>; returns their count.
    /// </summary>
    internal static int Merge(List<FaceDetection> detections, DetectorOptions options)
    {
        detections.Sort(static (a, b) => b.Score.CompareTo(a.Score));
        var kept = 0;
        for (var i = 0; i < detections.Count && kept < options.MaxFaces; i++)
        {
            var candidate = detections[i].Box;
            var suppressed = false;
            for (var k = 0; k < kept && !suppressed; k++)
            {
                var winner = detections[k].Box;
                suppressed = candidate.IoU(winner) > options.NmsThreshold
                    || Intersection(candidate, winner) > options.ContainmentThreshold * Math.Min(candidate.Area, winner.Area);
            }

            if (!suppressed)
            {
                detections[kept++] = detections[i];
            }
        }

        return kept;
    }

    private static float Intersection(BoxF a, BoxF b)
    {
        var w = Math.Min(a.X2, b.X2) - Math.Max(a.X1, b.X1);
        var h = Math.Min(a.Y2, b.Y2) - Math.Max(a.Y1, b.Y1);
        return w <= 0 || h <= 0 ? 0 : w * h;
    }

    /// <summary>The reference's squaring: side = box height, same centre.</summary>
    internal static BoxF Square(BoxF box)
    {
        var c = box.Center;
        var half = box.Height / 2;
        return new BoxF(c.X - half, c.Y - half, c.X + half, c.Y + half);
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
