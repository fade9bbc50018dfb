using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Vision.Onnx;

namespace Lineup.Vision.Tests;

/// <summary>
/// A line-by-line C# transliteration of the reference's post-processing (faceplugin-face-recognition-js 0.0.1,
/// lib/fr_detect.js <c>detectFaceImage</c> after <c>session.run</c>, and lib/fr_landmark.js
/// <c>predictLandmarkImage</c>/<c>alignLandmarkImage</c>), bugs included: NMS ordered by y2 with overlap over
/// one box's area and "+1" pixel widths, boxes clamped to width − 1, coordinates truncated by <c>parseInt</c>.
/// Only the grey conversion differs: the reference applies COLOR_BGR2GRAY to RGBA canvas pixels (swapping
/// the R and B weights); models.md measured standard luma as the working choice and both sides use it here.
/// </summary>
internal static class ReferencePort
{
    private const float ConfidenceThreshold = 0.65f;
    private const int TopK = 750;
    private const float NmsThreshold = 0.4f;

    /// <param name="scoreOrdered">
    /// false: the reference as written. true: the one-line fix (no re-sort by y2, so the first box of each
    /// cluster is the best-scoring one), which isolates the rest of the post-processing for comparison.
    /// </param>
    public static List<BoxF> Detect(ReadOnlySpan<float> scores, ReadOnlySpan<float> boxes, int cols, int rows, bool scoreOrdered = false)
    {
        // scaleMultiplyBBox: boxes × [320, 240, 320, 240]; screenScore: score ≥ threshold, in anchor order.
        var screened = new List<(float X1, float Y1, float X2, float Y2, float Score)>();
        for (var i = 0; i < OnnxFaceDetector.Anchors; i++)
        {
            var score = scores[(2 * i) + 1];
            if (score >= ConfidenceThreshold)
            {
                screened.Add((boxes[4 * i] * 320, boxes[(4 * i) + 1] * 240, boxes[(4 * i) + 2] * 320, boxes[(4 * i) + 3] * 240, score));
            }
        }

        // sortScore: descending score (Array.prototype.sort is stable), top_k.
        var sorted = screened.Select((b, i) => (b, i)).OrderByDescending(x => x.b.Score).ThenBy(x => x.i).Take(TopK).Select(x => x.b).ToList();

        // cpuNMS as written: keep positive boxes, sort by y2 ascending, take the first, suppress overlap / box.area ≥ thresh.
        var found = sorted.Select((b, i) => (b, i)).Where(x => x.b.X2 - x.b.X1 > 0 && x.b.Y2 - x.b.Y1 > 0)
            .OrderBy(x => scoreOrdered ? 0 : x.b.Y2).ThenBy(x => x.i).ToList();
        var pick = new List<int>();
        while (found.Count > 0)
        {
            var last = found[0];
            pick.Add(last.i);
            var suppress = new HashSet<int> { last.i };
            for (var i = 1; i < found.Count; i++)
            {
                var box = found[i].b;
                var xx1 = Math.Max(box.X1, last.b.X1);
                var yy1 = Math.Max(box.Y1, last.b.Y1);
                var xx2 = Math.Min(box.X2, last.b.X2);
                var yy2 = Math.Min(box.Y2, last.b.Y2);
                var w = Math.Max(0, xx2 - xx1 + 1);
                var h = Math.Max(0, yy2 - yy1 + 1);
                var area = (box.X2 - box.X1) * (box.Y2 - box.Y1);
                if (w * h / area >= NmsThreshold)
                {
                    suppress.Add(found[i].i);
                }
            }

            found.RemoveAll(x => suppress.Contains(x.i));
        }

        // scaleResult: back to image pixels, squared on the height, clamped to [0, size − 1].
        var (kx, ky) = (cols / 320f, rows / 240f);
        var result = new List<BoxF>();
        foreach (var p in pick)
        {
            var b = sorted[p];
            float x1 = b.X1 * kx, y1 = b.Y1 * ky, x2 = b.X2 * kx, y2 = b.Y2 * ky;
            var size = y2 - y1;
            var (cx, cy) = ((x1 + x2) / 2, (y1 + y2) / 2);
            x1 = cx - (size / 2) < 0 ? 0 : cx - (size / 2);
            y1 = cy - (size / 2) < 0 ? 0 : cy - (size / 2);
            x2 = cx + (size / 2) > cols - 1 ? cols - 1 : cx + (size / 2);
            y2 = cy + (size / 2) > rows - 1 ? rows - 1 : cy + (size / 2);
            result.Add(new BoxF(x1, y1, x2, y2));
        }

        return result;
    }

    /// <summary>fr_landmark.js for one box: parseInt corners, the shifted crop rectangle, then points × box size.</summary>
    public static PointF[] Landmarks(OnnxLandmarker landmarker, ImageBuffer image, BoxF box)
    {
        int x1 = (int)box.X1, y1 = (int)box.Y1, x2 = (int)box.X2, y2 = (int)box.Y2;
        int width = Math.Abs(x2 - x1), height = Math.Abs(y2 - y1);

        // alignLandmarkImage(image, [x1, y1, width, height], 1.0)
        int srcH = image.Height, srcW = image.Width;
        var scale = Math.Min((srcH - 1) / (double)height, Math.Min((srcW - 1) / (double)width, 1.0));
        var newWidth = width * scale;
        var newHeight = height * scale;
        var centerX = (width / 2.0) + x1;
        var centerY = (height / 2.0) + y1;
        var ltx = centerX - (newWidth / 2);
        var lty = centerY - (newHeight / 2);
        var rbx = centerX + (newWidth / 2);
        var rby = centerY + (newHeight / 2);
        if (ltx < 0)
        {
            rbx -= ltx;
            ltx = 0;
        }

        if (lty < 0)
        {
            rby -= lty;
            lty = 0;
        }

        if (rbx > srcW - 1)
        {
            ltx -= rbx - srcW + 1;
            rbx = srcW - 1;
        }

        if (rby > srcH - 1)
        {
            lty -= rby - srcH + 1;
            rby = srcH - 1;
        }

        var rect = new SourceRegion(
            Math.Max((int)ltx, 0), Math.Max((int)lty, 0), Math.Min((int)(rbx - ltx), srcW - 1), Math.Min((int)(rby - lty), srcH - 1));

        var input = new float[OnnxLandmarker.InputSide * OnnxLandmarker.InputSide];
        var output = new float[OnnxLandmarker.PointCount * 2];
        landmarker.Run(image, rect, input, output);
        var points = new PointF[OnnxLandmarker.PointCount];
        for (var i = 0; i < points.Length; i++)
        {
            points[i] = new PointF((int)((output[2 * i] * width) + x1), (int)((output[(2 * i) + 1] * height) + y1));
        }

        return points;
    }
}
