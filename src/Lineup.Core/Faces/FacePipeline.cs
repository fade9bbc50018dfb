using System.Diagnostics;
using Lineup.Core.Imaging;

namespace Lineup.Core.Faces;

/// <summary>
/// Milliseconds spent in each stage of <see cref="FacePipeline.Analyze(ImageBuffer, float, out PipelineTimings)"/>;
/// <see cref="AlignMs"/> includes the quality assessment, which reads the aligned crop.
/// </summary>
public readonly record struct PipelineTimings(double DetectMs, double LandmarksMs, double AlignMs, double EmbedMs);

/// <summary><see cref="Stopwatch"/> ticks spent per stage of <see cref="FacePipeline.AnalyzeFace"/>, summed over faces.</summary>
public struct FaceStageTicks
{
    public long Landmarks;
    public long Align;
    public long Embed;
}

/// <summary>
/// Detect → 68 landmarks → five points → similarity-aligned 112×112 crop → quality → unit embedding, for every face
/// of an image. Stateless apart from its three capabilities, so one instance serves all ingest workers.
/// </summary>
public sealed class FacePipeline(IFaceDetector detector, ILandmarker landmarker, IFaceEmbedder embedder)
{
    private readonly IFaceDetector _detector = detector ?? throw new ArgumentNullException(nameof(detector));
    private readonly ILandmarker _landmarker = landmarker ?? throw new ArgumentNullException(nameof(landmarker));
    private readonly IFaceEmbedder _embedder = embedder ?? throw new ArgumentNullException(nameof(embedder));

    /// <summary>
    /// Analyses a decoded image. <paramref name="scale"/> is <see cref="DecodedImage.Scale"/> (buffer pixels per
    /// original pixel): boxes and landmarks come back in original-image pixels. Faces are ordered by
    /// descending detector score.
    /// </summary>
    public IReadOnlyList<AnalyzedFace> Analyze(ImageBuffer image, float scale = 1) => Analyze(image, scale, out _);

    public IReadOnlyList<AnalyzedFace> Analyze(ImageBuffer image, float scale, out PipelineTimings timings)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!(scale > 0) || !float.IsFinite(scale))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "The decode scale must be positive.");
        }

        var t0 = Stopwatch.GetTimestamp();
        var detections = _detector.Detect(image);
        var detectTicks = Stopwatch.GetTimestamp() - t0;
        if (detections.Count == 0)
        {
            timings = new PipelineTimings(Ms(detectTicks), 0, 0, 0);
            return [];
        }

        var ordered = detections.OrderByDescending(d => d.Score).ToArray();
        var faces = new AnalyzedFace[ordered.Length];
        Span<PointF> points = stackalloc PointF[68];
        using var crop = ImageBuffer.Rent(_embedder.InputSize, _embedder.InputSize);
        var inverse = 1 / scale;
        var ticks = new FaceStageTicks();
        for (var i = 0; i < ordered.Length; i++)
        {
            var embedding = new float[_embedder.Dimensions];
            var quality = AnalyzeFace(image, ordered[i], scale, crop, points, embedding, out var five, ref ticks);
            faces[i] = new AnalyzedFace(Scale(ordered[i].Box, inverse), ordered[i].Score, Scale(five, inverse), embedding)
            {
                Quality = quality,
            };
        }

        timings = new PipelineTimings(Ms(detectTicks), Ms(ticks.Landmarks), Ms(ticks.Align), Ms(ticks.Embed));
        return faces;
    }

    /// <summary>
    /// The per-face path: 68 landmarks into <paramref name="points68"/>, the similarity-aligned crop into
    /// <paramref name="crop"/>, the quality assessment, and the unit embedding into <paramref name="embedding"/>. With the
    /// buffers reused, it allocates nothing on the managed heap after a thread's first face (<c>HotPathAllocationTests</c>);
    /// <paramref name="ticks"/> accumulates each stage's <see cref="Stopwatch"/> ticks.
    /// </summary>
    public FaceQuality AnalyzeFace(
        ImageBuffer image, in FaceDetection detection, float scale, ImageBuffer crop, Span<PointF> points68, Span<float> embedding,
        out Landmarks5 five, ref FaceStageTicks ticks)
    {
        var t = Stopwatch.GetTimestamp();
        _landmarker.Predict(image, detection.Box, points68);
        five = FaceAligner.FivePoints(points68);
        var t1 = Stopwatch.GetTimestamp();
        var transform = FaceAligner.EstimateAlignment(five);
        if (_embedder.InputSize != FaceAligner.CropSize)
        {
            var k = _embedder.InputSize / (double)FaceAligner.CropSize;
            transform = new SimilarityTransform(transform.A * k, transform.B * k, transform.Tx * k, transform.Ty * k);
        }

        FaceAligner.Warp(image, transform, crop);
        var quality = FaceQualityAssessor.Assess(points68, scale, crop, transform, detection.Score);
        var t2 = Stopwatch.GetTimestamp();
        _embedder.Embed(crop, embedding);
        var t3 = Stopwatch.GetTimestamp();
        ticks.Landmarks += t1 - t;
        ticks.Align += t2 - t1;
        ticks.Embed += t3 - t2;
        return quality;
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private static BoxF Scale(BoxF b, float k) => new(b.X1 * k, b.Y1 * k, b.X2 * k, b.Y2 * k);

    private static PointF Scale(PointF p, float k) => new(p.X * k, p.Y * k);

    private static Landmarks5 Scale(in Landmarks5 l, float k) =>
        new(Scale(l.LeftEye, k), Scale(l.RightEye, k), Scale(l.Nose, k), Scale(l.MouthLeft, k), Scale(l.MouthRight, k));
}
