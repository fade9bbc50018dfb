using Lineup.Core.Faces;
using Lineup.Core.Imaging;

namespace Lineup.Core.Tests.Faces;

public sealed class FaceQualityTests
{
    /// <summary>A detector score the assessor counts as fully confident (1 − p = 10⁻⁶).</summary>
    private const float Confident = 0.999999f;

    /// <summary>
    /// The points of the OpenFace/dlib 68-point 3-D mean face (TadasBaltrusaitis/OpenFace <c>landmarks_68_3D</c>) that
    /// the assessor reads: jaw ends 0 and 16, nose tip 30, eyelids 37, 38, 40, 41 and 43, 44, 46, 47, mouth corners
    /// 48, 54, 60, 64. x to the image's right, y down, z away from the camera (the nose tip is nearest).
    /// </summary>
    private static readonly (int Index, float X, float Y, float Z)[] s_meanFace =
    [
        (0, -73.393523f, -29.801432f, 47.667532f),
        (16, 71.375822f, -30.365191f, 47.140426f),
        (30, 1.226783f, -8.414541f, -36.948060f),
        (37, -37.674688f, -42.730510f, 3.021217f),
        (38, -27.883856f, -42.711517f, 1.353629f),
        (40, -28.272965f, -35.134493f, -0.147273f),
        (41, -38.082418f, -34.919043f, 1.476612f),
        (43, 27.894191f, -43.342445f, 0.247660f),
        (44, 37.437529f, -43.110822f, 1.696435f),
        (46, 38.196454f, -35.532024f, 0.282961f),
        (47, 28.764989f, -35.484289f, -1.172675f),
        (48, -28.916267f, 28.612716f, -2.240310f),
        (54, 28.794412f, 28.079924f, -3.217393f),
        (60, -24.377490f, 28.677771f, -4.785684f),
        (64, 24.474473f, 28.323008f, -5.712776f),
    ];

    [Fact]
    public void A_sharp_crop_has_higher_sharpness_and_score_than_the_same_crop_blurred()
    {
        using var sharp = TexturedCrop(mean: 128, amplitude: 60);
        using var blurred = TexturedCrop(mean: 128, amplitude: 60);
        BoxBlur(blurred, radius: 2);
        var points = FrontalFace(56, 52, eyeDistance: 35.24f);

        var a = Assess(points, sharp);
        var b = Assess(points, blurred);

        Assert.True(a.Sharpness > 4 * b.Sharpness, $"sharp {a.Sharpness}, blurred {b.Sharpness}");
        Assert.True(a.Score > b.Score, $"scores {a.Score} and {b.Score}");
        Assert.InRange(a.Brightness, 120, 136);
        Assert.InRange(b.Brightness, 120, 136);
    }

    [Fact]
    public void A_dark_crop_has_low_brightness_and_scores_below_the_same_face_well_exposed()
    {
        using var dark = TexturedCrop(mean: 12, amplitude: 6);
        using var exposed = TexturedCrop(mean: 128, amplitude: 60);
        var points = FrontalFace(56, 52, eyeDistance: 35.24f);

        var d = Assess(points, dark);
        var e = Assess(points, exposed);

        Assert.InRange(d.Brightness, 5, 20);
        Assert.True(d.Contrast < e.Contrast / 4, $"contrast {d.Contrast} against {e.Contrast}");
        Assert.True(d.Score < 5 && e.Score > 80, $"dark {d.Score}, exposed {e.Score}");
    }

    [Fact]
    public void Brightness_and_contrast_are_the_mean_and_spread_of_the_luma()
    {
        using var grey = ImageBuffer.Rent(112, 112);
        grey.Pixels.Fill(100);
        var q = Assess(FrontalFace(56, 52, 35.24f), grey);
        Assert.Equal(100, q.Brightness, 0.5f);
        Assert.Equal(0, q.Contrast, 0.01f);
        Assert.Equal(0, q.Sharpness, 0.01f);
        Assert.Equal(0, q.Score);

        // Pure red is luma 0.299 × 255.
        using var red = ImageBuffer.Rent(112, 112);
        var pixels = red.Pixels;
        for (var i = 0; i < pixels.Length; i += 3)
        {
            (pixels[i], pixels[i + 1], pixels[i + 2]) = ((byte)255, (byte)0, (byte)0);
        }

        Assert.Equal(0.299f * 255, Assess(FrontalFace(56, 52, 35.24f), red).Brightness, 0.5f);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(12)]
    [InlineData(-12)]
    [InlineData(35)]
    [InlineData(-60)]
    public void Roll_is_the_eye_line_angle_with_its_sign(float degrees)
    {
        using var crop = TexturedCrop(128, 60);
        var points = Rotate(FrontalFace(300, 300, 60), new PointF(300, 330), degrees);

        var q = Assess(points, crop);

        Assert.Equal(degrees, q.Roll, 0.05f);

        // Yaw and pitch are measured in the face's own frame, so turning the photo leaves them as they were.
        var upright = Assess(FrontalFace(300, 300, 60), crop);
        Assert.Equal(upright.Yaw, q.Yaw, 0.05f);
        Assert.Equal(upright.Pitch, q.Pitch, 0.05f);
    }

    [Fact]
    public void A_frontal_symmetric_face_has_no_yaw_and_a_shifted_nose_turns_it_that_way()
    {
        using var crop = TexturedCrop(128, 60);
        var frontal = Assess(FrontalFace(200, 200, 50), crop);
        var right = Assess(FrontalFace(200, 200, 50, noseShift: 10), crop);
        var left = Assess(FrontalFace(200, 200, 50, noseShift: -10), crop);

        Assert.Equal(0, frontal.Yaw, 0.01f);
        Assert.Equal(0, frontal.Roll, 0.01f);
        Assert.True(right.Yaw > 5, $"nose 10 px right: yaw {right.Yaw}");
        Assert.True(left.Yaw < -5, $"nose 10 px left: yaw {left.Yaw}");
        Assert.Equal(right.Yaw, -left.Yaw, 0.01f);
        Assert.True(frontal.LandmarkFit < 0.5f, $"fit {frontal.LandmarkFit}");
        Assert.True(right.LandmarkFit > frontal.LandmarkFit);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(20, 0)]
    [InlineData(-20, 0)]
    [InlineData(40, 0)]
    [InlineData(-40, 0)]
    [InlineData(0, 15)]
    [InlineData(0, -15)]
    [InlineData(0, 30)]
    [InlineData(0, -30)]
    public void Yaw_and_pitch_of_the_turned_mean_face_come_back_within_two_degrees(float yaw, float pitch)
    {
        using var crop = TexturedCrop(128, 60);
        var points = ProjectMeanFace(yaw, pitch, roll: 0, pixelsPerUnit: 1.2f, centre: new PointF(400, 300));

        var q = Assess(points, crop);

        Assert.Equal(yaw, q.Yaw, 2f);
        Assert.Equal(pitch, q.Pitch, 2f);
        Assert.Equal(0, q.Roll, 1f);
    }

    [Fact]
    public void Roll_of_the_turned_mean_face_keeps_its_yaw()
    {
        using var crop = TexturedCrop(128, 60);
        var q = Assess(ProjectMeanFace(25, 0, roll: -20, pixelsPerUnit: 1, centre: new PointF(300, 300)), crop);
        Assert.Equal(25, q.Yaw, 2f);
        Assert.Equal(-20, q.Roll, 1f);
    }

    [Fact]
    public void The_score_rises_with_inter_eye_distance_until_the_crop_s_own_35_pixels()
    {
        using var crop = TexturedCrop(128, 60);
        var previous = -1f;
        var scores = new List<(float Eyes, float Score)>();
        for (var eyes = 6f; eyes <= 80; eyes += 2)
        {
            var q = Assess(FrontalFace(400, 400, eyes), crop);
            Assert.Equal(eyes, q.InterEyePixels, 0.01f);
            Assert.True(q.Score >= previous, $"score fell from {previous} to {q.Score} at {eyes} px");
            previous = q.Score;
            scores.Add((eyes, q.Score));
        }

        Assert.Equal(0, scores.Single(s => s.Eyes == 10).Score);
        Assert.True(scores.Single(s => s.Eyes == 20).Score < scores.Single(s => s.Eyes == 30).Score);
        Assert.True(scores.Single(s => s.Eyes == 30).Score < scores.Single(s => s.Eyes == 36).Score);
        Assert.Equal(scores.Single(s => s.Eyes == 40).Score, scores.Single(s => s.Eyes == 80).Score);
        Assert.True(previous > 80, $"score {previous} for a sharp, frontal, confident face");
    }

    [Fact]
    public void Inter_eye_distance_is_reported_in_original_pixels_and_scored_in_decoded_ones()
    {
        using var crop = TexturedCrop(128, 60);
        var points = FrontalFace(400, 400, 30);
        var transform = FaceAligner.EstimateAlignment(FaceAligner.FivePoints(points));

        var full = FaceQualityAssessor.Assess(points, 1, crop, transform, Confident);
        var halved = FaceQualityAssessor.Assess(points, 0.5f, crop, transform, Confident);

        Assert.Equal(30, full.InterEyePixels, 0.01f);
        Assert.Equal(60, halved.InterEyePixels, 0.01f);
        Assert.Equal(full.Score, halved.Score);
    }

    [Fact]
    public void A_less_confident_detection_scores_lower()
    {
        using var crop = TexturedCrop(128, 60);
        var points = FrontalFace(56, 52, 35.24f);
        var transform = FaceAligner.EstimateAlignment(FaceAligner.FivePoints(points));
        var scores = new[] { 0.7f, 0.99f, 0.999f, 0.9999f, 0.99999f, Confident }
            .Select(p => FaceQualityAssessor.Assess(points, 1, crop, transform, p))
            .ToList();

        Assert.Equal(0.999f, scores[2].DetectorScore);
        Assert.Equal(0, scores[0].Score);
        Assert.True(scores.Zip(scores.Skip(1)).All(p => p.First.Score <= p.Second.Score));
        Assert.True(scores[2].Score < scores[^1].Score);
    }

    [Fact]
    public void Components_are_finite_and_the_score_within_0_to_100_for_any_landmarks_and_crop_size()
    {
        var random = new Random(7);
        Span<PointF> points = stackalloc PointF[68];
        foreach (var size in new[] { 112, 224, 64 })
        {
            using var crop = ImageBuffer.Rent(size, size);
            for (var trial = 0; trial < 200; trial++)
            {
                random.NextBytes(crop.Pixels);
                for (var i = 0; i < points.Length; i++)
                {
                    points[i] = new PointF(random.NextSingle() * 500, random.NextSingle() * 500);
                }

                var transform = Aligned(points);
                var q = FaceQualityAssessor.Assess(points, 0.5f + random.NextSingle(), crop, transform, random.NextSingle());
                AssertFinite(q);
            }

            // Every point in one place (a landmarker that saw nothing): no eye line, no jaw, no transform to speak of.
            points.Fill(new PointF(50, 50));
            AssertFinite(FaceQualityAssessor.Assess(points, 1, crop, SimilarityTransform.Identity, 0.9f));
        }
    }

    [Fact]
    public void A_larger_crop_reads_the_same_face_region_and_fit()
    {
        using var small = TexturedCrop(128, 60);
        using var large = ImageBuffer.Rent(224, 224);
        Upscale2x(small, large);
        var points = FrontalFace(56, 52, 35.24f);
        var transform = FaceAligner.EstimateAlignment(FaceAligner.FivePoints(points));
        var twice = new SimilarityTransform(transform.A * 2, transform.B * 2, transform.Tx * 2, transform.Ty * 2);

        var a = FaceQualityAssessor.Assess(points, 1, small, transform, Confident);
        var b = FaceQualityAssessor.Assess(points, 1, large, twice, Confident);

        Assert.Equal(a.Brightness, b.Brightness, 1f);
        Assert.Equal(a.Contrast, b.Contrast, 1f);
        Assert.Equal(a.LandmarkFit, b.LandmarkFit, 0.01f);
    }

    [Fact]
    public void Assess_allocates_nothing_but_its_result()
    {
        using var crop = TexturedCrop(128, 60);
        var points = FrontalFace(56, 52, 35.24f);
        var transform = FaceAligner.EstimateAlignment(FaceAligner.FivePoints(points));
        FaceQualityAssessor.Assess(points, 1, crop, transform, Confident);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var q = FaceQualityAssessor.Assess(points, 1, crop, transform, Confident);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(float.IsFinite(q.Score));
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void The_pipeline_assesses_every_face_from_its_own_landmarks_and_crop()
    {
        using var image = TexturedCrop(128, 60);
        var detections = new[] { new FaceDetection(new BoxF(10, 10, 60, 60), 0.99999f), new FaceDetection(new BoxF(50, 50, 100, 100), 0.9f) };
        var pipeline = new FacePipeline(new FixedDetector(detections), new FrontalLandmarker(), new ConstantEmbedder());

        var faces = pipeline.Analyze(image, scale: 0.5f);

        Assert.Equal(2, faces.Count);
        foreach (var face in faces)
        {
            var q = Assert.IsType<FaceQuality>(face.Quality);
            AssertFinite(q);
            Assert.Equal(face.DetectorScore, q.DetectorScore);

            // The landmarker puts the eyes 0.4 box widths apart in buffer pixels; at scale 0.5 that is twice as many original pixels.
            Assert.Equal(0.4f * 50 * 2, q.InterEyePixels, 0.01f);
            var eyes = face.Landmarks.RightEye.X - face.Landmarks.LeftEye.X;
            Assert.Equal(eyes, q.InterEyePixels, 0.01f);
        }

        Assert.True(faces[0].Quality!.Value.Score > faces[1].Quality!.Value.Score, "the less confident detection scores lower");
    }

    private sealed class FixedDetector(FaceDetection[] detections) : IFaceDetector
    {
        public IReadOnlyList<FaceDetection> Detect(ImageBuffer image) => detections;
    }

    private sealed class FrontalLandmarker : ILandmarker
    {
        public void Predict(ImageBuffer image, BoxF box, Span<PointF> points68) =>
            FrontalFace(box.Center.X, box.Y1 + (0.4f * box.Height), 0.4f * box.Width).CopyTo(points68);
    }

    private sealed class ConstantEmbedder : IFaceEmbedder
    {
        public int InputSize => 112;

        public int Dimensions => 2;

        public void Embed(ImageBuffer alignedFace, Span<float> embedding) => embedding.Fill(MathF.Sqrt(0.5f));
    }

    private static FaceQuality Assess(PointF[] points, ImageBuffer crop) =>
        FaceQualityAssessor.Assess(points, 1, crop, Aligned(points), Confident);

    private static SimilarityTransform Aligned(ReadOnlySpan<PointF> points)
    {
        try
        {
            return FaceAligner.EstimateAlignment(FaceAligner.FivePoints(points));
        }
        catch (ArgumentException)
        {
            return SimilarityTransform.Identity;
        }
    }

    private static void AssertFinite(FaceQuality q)
    {
        float[] all = [q.Score, q.InterEyePixels, q.Sharpness, q.Brightness, q.Contrast, q.Yaw, q.Pitch, q.Roll, q.DetectorScore, q.LandmarkFit];
        Assert.All(all, v => Assert.True(float.IsFinite(v), q.ToString()));
        Assert.InRange(q.Score, 0, 100);
        Assert.InRange(q.Yaw, -90, 90);
        Assert.InRange(q.Pitch, -90, 90);
        Assert.InRange(q.Roll, -180, 180);
    }

    /// <summary>
    /// A level, frontal face in the proportions of the ArcFace template (<see cref="FaceAligner.Reference112"/>),
    /// mirror-symmetric about x = <paramref name="cx"/> apart from the nose shift; eyes on y = <paramref name="cy"/>.
    /// </summary>
    private static PointF[] FrontalFace(float cx, float cy, float eyeDistance, float noseShift = 0)
    {
        var d = eyeDistance;
        var points = new PointF[68];
        Array.Fill(points, new PointF(cx, cy + (0.5f * d)));
        void Eye(float x, params int[] lids)
        {
            // Upper lids above, lower lids below: their mean is the eye centre.
            points[lids[0]] = new PointF(x - (0.1f * d), cy - (0.05f * d));
            points[lids[1]] = new PointF(x + (0.1f * d), cy - (0.05f * d));
            points[lids[2]] = new PointF(x + (0.1f * d), cy + (0.05f * d));
            points[lids[3]] = new PointF(x - (0.1f * d), cy + (0.05f * d));
        }

        Eye(cx - (d / 2), 37, 38, 40, 41);
        Eye(cx + (d / 2), 43, 44, 46, 47);
        points[30] = new PointF(cx + noseShift, cy + (0.574f * d));
        points[48] = points[60] = new PointF(cx - (0.414f * d), cy + (1.155f * d));
        points[54] = points[64] = new PointF(cx + (0.414f * d), cy + (1.155f * d));
        points[0] = new PointF(cx - (1.09f * d), cy + (0.14f * d));
        points[16] = new PointF(cx + (1.09f * d), cy + (0.14f * d));
        return points;
    }

    /// <summary>
    /// The mean face turned by <paramref name="yaw"/> (nose towards the image's right when positive), then
    /// <paramref name="pitch"/> (nose down), projected orthographically and turned in the image by <paramref name="roll"/>.
    /// </summary>
    private static PointF[] ProjectMeanFace(float yaw, float pitch, float roll, float pixelsPerUnit, PointF centre)
    {
        var points = new PointF[68];
        Array.Fill(points, centre);
        var (sy, cy) = MathF.SinCos(yaw * MathF.PI / 180);
        var (sp, cp) = MathF.SinCos(pitch * MathF.PI / 180);
        var (sr, cr) = MathF.SinCos(roll * MathF.PI / 180);
        foreach (var (i, x, y, z) in s_meanFace)
        {
            var x1 = (x * cy) - (z * sy);
            var z1 = (x * sy) + (z * cy);
            var y2 = (y * cp) - (z1 * sp);
            var (u, v) = ((x1 * cr) - (y2 * sr), (x1 * sr) + (y2 * cr));
            points[i] = new PointF(centre.X + (u * pixelsPerUnit), centre.Y + (v * pixelsPerUnit));
        }

        return points;
    }

    private static PointF[] Rotate(PointF[] points, PointF about, float degrees)
    {
        var (s, c) = MathF.SinCos(degrees * MathF.PI / 180);
        return points.Select(p =>
        {
            var (x, y) = (p.X - about.X, p.Y - about.Y);
            return new PointF(about.X + (x * c) - (y * s), about.Y + (x * s) + (y * c));
        }).ToArray();
    }

    /// <summary>A 112×112 grey texture (a fixed noise field) with the given mean and peak deviation.</summary>
    private static ImageBuffer TexturedCrop(int mean, int amplitude)
    {
        var crop = ImageBuffer.Rent(112, 112);
        var random = new Random(42);
        var pixels = crop.Pixels;
        for (var i = 0; i < pixels.Length; i += 3)
        {
            var v = (byte)Math.Clamp(mean + random.Next(-amplitude, amplitude + 1), 0, 255);
            pixels[i] = pixels[i + 1] = pixels[i + 2] = v;
        }

        return crop;
    }

    private static void BoxBlur(ImageBuffer image, int radius)
    {
        var source = image.Pixels.ToArray();
        var target = image.Pixels;
        var (w, h) = (image.Width, image.Height);
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                for (var c = 0; c < 3; c++)
                {
                    int sum = 0, n = 0;
                    for (var dy = -radius; dy <= radius; dy++)
                    {
                        for (var dx = -radius; dx <= radius; dx++)
                        {
                            var (xx, yy) = (x + dx, y + dy);
                            if (xx >= 0 && yy >= 0 && xx < w && yy < h)
                            {
                                sum += source[(yy * image.Stride) + (xx * 3) + c];
                                n++;
                            }
                        }
                    }

                    target[(y * image.Stride) + (x * 3) + c] = (byte)(sum / n);
                }
            }
        }
    }

    [Fact]
    public void Shortfalls_name_the_factors_that_pulled_the_score_down_weakest_first_and_none_for_a_good_face()
    {
        // A sharp, well-lit, frontal LFW-like face: every factor near 1, nothing to explain.
        var good = Quality(yaw: 3, detector: 0.99999f);
        Assert.Empty(good.Shortfalls());
        Assert.Equal(good.Score, 100 * FaceQualityAssessor.Factors(40, 300, 120, 45, 3, 5, 0.99999f, 3).Product, 3);

        // A half-profile the detector is less sure of: both named, the weaker (pose) first, with the measurements.
        var turned = Quality(yaw: 50, detector: 0.999f);
        var reasons = turned.Shortfalls();
        Assert.Equal(2, reasons.Count);
        Assert.StartsWith("head turned (yaw 50°", reasons[0], StringComparison.Ordinal);
        Assert.StartsWith("detector unsure (0.9990)", reasons[1], StringComparison.Ordinal);
    }

    private static FaceQuality Quality(float yaw, float detector) =>
        new(FaceQualityAssessor.Score(40, 300, 120, 45, yaw, 5, detector, 3), 40, 300, 120, 45, yaw, 5, 0, detector, 3);

    private static void Upscale2x(ImageBuffer small, ImageBuffer large)
    {
        for (var y = 0; y < large.Height; y++)
        {
            var from = small.Row(y / 2);
            var to = large.Row(y);
            for (var x = 0; x < large.Width; x++)
            {
                from.Slice((x / 2) * 3, 3).CopyTo(to.Slice(x * 3, 3));
            }
        }
    }
}
