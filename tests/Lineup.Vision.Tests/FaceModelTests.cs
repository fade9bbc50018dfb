using System.Globalization;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Numerics;
using Lineup.Vision.Onnx;
using Xunit.Abstractions;

namespace Lineup.Vision.Tests;

/// <summary>The real models on real photos: parity with the reference, pinned outputs, alignment, verification.</summary>
[Collection(EngineGroup.Name)]
[Trait("Category", "Data")]
public sealed class FaceModelTests(EngineFixture fixture, ITestOutputHelper output)
{
    // Single-face photos found by the full-frame pass.
    private static readonly string[] ParityPhotos =
    [
        "face_recognition/images/Barack_Obama/obama.jpg",
        "deepface/images/Angelina_Jolie/img2.jpg",
        "deepface/images/deepface_person_img13/img13.jpg",
        "deepface/images/deepface_person_img16/img16.jpg",
        "deepface/images/deepface_person_img20/img20.jpg",
        "lfw_deepfunneled/images/Adrian_Annus/Adrian_Annus_0001.jpg",
    ];

    private FaceEngine Engine => fixture.Engine;

    private OnnxFaceDetector Detector => (OnnxFaceDetector)Engine.Detector;

    private OnnxLandmarker Landmarker => (OnnxLandmarker)Engine.Landmarker;

    private DecodedImage Load(string relative) =>
        Engine.Decoder.Decode(File.ReadAllBytes(TestPaths.Face(relative)), DecodeLimits.Default);

    [SkippableFact]
    public void Full_frame_detection_and_landmarks_match_the_reference_port()
    {
        using var fullFrame = Detector.WithOptions(DetectorOptions.FullFrameOnly);
        var scores = new float[OnnxFaceDetector.Anchors * 2];
        var boxes = new float[OnnxFaceDetector.Anchors * 4];
        var input = new float[3 * OnnxFaceDetector.InputWidth * OnnxFaceDetector.InputHeight];
        var points = new PointF[68];
        foreach (var photo in ParityPhotos)
        {
            using var decoded = Load(photo);
            var image = decoded.Image;
            Detector.RunPass(image, new SourceRegion(0, 0, image.Width, image.Height), default, input, scores, boxes);
            var reference = ReferencePort.Detect(scores, boxes, image.Width, image.Height);
            var fixedNms = ReferencePort.Detect(scores, boxes, image.Width, image.Height, scoreOrdered: true);
            var ours = fullFrame.Detect(image);
            Assert.Single(reference);
            Assert.Single(fixedNms);
            Assert.Single(ours);
            var iou = ours[0].Box.IoU(fixedNms[0]);
            var iouAsWritten = ours[0].Box.IoU(reference[0]);

            // The landmark step is compared on the same box, so that only the step itself differs.
            var referencePoints = ReferencePort.Landmarks(Landmarker, image, reference[0]);
            Landmarker.Predict(image, OnnxLandmarker.ReferenceCropOf(image, reference[0]), points);
            var worst = 0f;
            for (var i = 0; i < 68; i++)
            {
                worst = Math.Max(worst, Math.Max(Math.Abs(points[i].X - referencePoints[i].X), Math.Abs(points[i].Y - referencePoints[i].Y)));
            }

            output.WriteLine(
                $"{photo}: ours {ours[0].Box} reference {reference[0]} (NMS fixed {fixedNms[0]}) IoU {iouAsWritten:0.000} " +
                $"(NMS fixed {iou:0.000}); landmarks worst axis error {worst:0.00} px");
            Assert.True(iou >= 0.98f, $"{photo}: IoU {iou} with the reference port (NMS fixed)");
            // As written, the reference keeps the overlapping box with the lowest bottom edge rather than the
            // best-scoring one: still the same face, but up to ~16% of IoU away on large faces.
            Assert.True(iouAsWritten >= 0.8f, $"{photo}: IoU {iouAsWritten} with the reference port as written");
            // 2 px per 200 px of face (one 64×64 input pixel moves a point by face/64 px), plus the 1 px the
            // reference loses by truncating each coordinate with parseInt.
            var tolerance = 1f + (2f * Math.Max(1f, reference[0].Height / 200f));
            Assert.True(worst <= tolerance, $"{photo}: landmark differs by {worst} px (tolerance {tolerance})");
        }
    }

    [SkippableTheory]
    // Measured with DetectorOptions.Default on this pack; tolerance 3% of the face size.
    [InlineData("face_recognition/images/Barack_Obama/obama.jpg", 336, 91, 647, 403, 441, 212, 548, 213)]
    [InlineData("deepface/images/Angelina_Jolie/img2.jpg", 514, 167, 1040, 693, 678, 392, 856, 389)]
    [InlineData("lfw_deepfunneled/images/Adrian_Annus/Adrian_Annus_0001.jpg", 44, 59, 174, 189, 96, 114, 144, 111)]
    public void Box_and_eyes_stay_where_they_were_measured(
        string photo, float x1, float y1, float x2, float y2, float leftEyeX, float leftEyeY, float rightEyeX, float rightEyeY)
    {
        var analysis = Engine.AnalyzeFile(TestPaths.Face(photo), DecodeLimits.Default);
        var face = analysis.Faces.MaxBy(f => f.Box.Area)!;
        var b = face.Box;
        var l = face.Landmarks;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[InlineData(\"{photo}\", {b.X1:0}, {b.Y1:0}, {b.X2:0}, {b.Y2:0}, {l.LeftEye.X:0}, {l.LeftEye.Y:0}, {l.RightEye.X:0}, {l.RightEye.Y:0})]"));
        var tolerance = 0.03f * b.Height;
        Assert.InRange(b.X1, x1 - tolerance, x1 + tolerance);
        Assert.InRange(b.Y1, y1 - tolerance, y1 + tolerance);
        Assert.InRange(b.X2, x2 - tolerance, x2 + tolerance);
        Assert.InRange(b.Y2, y2 - tolerance, y2 + tolerance);
        Assert.InRange(l.LeftEye.X, leftEyeX - tolerance, leftEyeX + tolerance);
        Assert.InRange(l.LeftEye.Y, leftEyeY - tolerance, leftEyeY + tolerance);
        Assert.InRange(l.RightEye.X, rightEyeX - tolerance, rightEyeX + tolerance);
        Assert.InRange(l.RightEye.Y, rightEyeY - tolerance, rightEyeY + tolerance);
    }

    [SkippableFact]
    public void Landmark_framing_finds_the_template_points_on_aligned_glint_crops()
    {
        // Glint photos are already aligned to the 112×112 template, so the template is their true five points.
        var photos = File.ReadLines(TestPaths.Face("manifest.csv")).Skip(1).Select(l => l.Split(',')[0])
            .Where(p => p.StartsWith("glint_celebs/", StringComparison.Ordinal)).Take(60).ToList();
        Skip.If(photos.Count == 0, "no Glint photos in the manifest");
        var reference = FaceAligner.Reference112;
        Span<PointF> points = stackalloc PointF[68];
        double framed = 0, asReference = 0;
        var n = 0;
        foreach (var photo in photos)
        {
            using var decoded = Load(photo);
            var faces = Engine.Detector.Detect(decoded.Image);
            if (faces.Count == 0)
            {
                continue;
            }

            var box = faces.MaxBy(f => f.Box.Area).Box;
            Landmarker.Predict(decoded.Image, box, points);
            framed += Error(FaceAligner.FivePoints(points), reference);
            Landmarker.Predict(decoded.Image, OnnxLandmarker.ReferenceCropOf(decoded.Image, box), points);
            asReference += Error(FaceAligner.FivePoints(points), reference);
            n++;
        }

        output.WriteLine($"{n} crops: mean error {framed / n:0.000} IOD framed, {asReference / n:0.000} with the reference crop");
        Assert.True(n >= 50, $"only {n} Glint faces found");
        // Measured: 0.112 against 0.136 on these 60, 0.101 against 0.122 on all 297.
        Assert.True(framed / n < 0.12, $"mean error {framed / n} IOD");
        Assert.True(framed < asReference * 0.95, $"framing {framed / n} vs reference crop {asReference / n}");

        static double Error(in Landmarks5 found, in Landmarks5 truth)
        {
            var iod = Distance(truth.LeftEye, truth.RightEye);
            double sum = 0;
            for (var i = 0; i < 5; i++)
            {
                sum += Distance(found[i], truth[i]) / iod;
            }

            return sum / 5;
        }
    }

    [SkippableFact]
    public void Mirror_augmented_embedding_does_not_change_when_the_crop_is_mirrored()
    {
        using var decoded = Load("deepface/images/Angelina_Jolie/img2.jpg");
        var face = Engine.Detector.Detect(decoded.Image)[0];
        Span<PointF> points = stackalloc PointF[68];
        Engine.Landmarker.Predict(decoded.Image, face.Box, points);
        using var crop = FaceAligner.Align(decoded.Image, FaceAligner.FivePoints(points));
        using var mirrored = ImageBuffer.Rent(crop.Width, crop.Height);
        for (var y = 0; y < crop.Height; y++)
        {
            var s = crop.Row(y);
            var d = mirrored.Row(y);
            for (var x = 0; x < crop.Width; x++)
            {
                s.Slice((crop.Width - 1 - x) * 3, 3).CopyTo(d.Slice(x * 3, 3));
            }
        }

        var a = new float[Engine.Dimensions];
        var b = new float[Engine.Dimensions];
        Engine.Embedder.Embed(crop, a);
        Engine.Embedder.Embed(mirrored, b);
        Assert.True(VectorMath.CosineOfUnit(a, b) > 0.9999f, $"cosine {VectorMath.CosineOfUnit(a, b)}");
    }

    [SkippableFact]
    public void Aligned_crop_puts_the_eyes_on_the_reference_points()
    {
        using var decoded = Load("deepface/images/Angelina_Jolie/img2.jpg");
        var face = Engine.Detector.Detect(decoded.Image)[0];
        Span<PointF> points = stackalloc PointF[68];
        Engine.Landmarker.Predict(decoded.Image, face.Box, points);
        using var crop = FaceAligner.Align(decoded.Image, FaceAligner.FivePoints(points));

        // Landmarks found again on the aligned crop itself (independent of the transform that made it).
        var again = Engine.Detector.Detect(crop);
        Assert.NotEmpty(again);
        Engine.Landmarker.Predict(crop, again[0].Box, points);
        var five = FaceAligner.FivePoints(points);
        var reference = FaceAligner.Reference112;
        output.WriteLine($"eyes on the crop: {five.LeftEye} {five.RightEye}; reference {reference.LeftEye} {reference.RightEye}");
        Assert.True(Distance(five.LeftEye, reference.LeftEye) < 5, $"left eye at {five.LeftEye}");
        Assert.True(Distance(five.RightEye, reference.RightEye) < 5, $"right eye at {five.RightEye}");
    }

    [SkippableFact]
    public void Same_person_pairs_score_above_and_different_people_below_the_threshold()
    {
        // Over all 1,496 pairs of pairs.csv, cosine 0.35 gave FAR 0.12% / FRR 14% and 0.40 (the manifest's
        // calibration) FAR 0% / FRR 18%; this fixed sample separates at 0.35.
        const float threshold = 0.35f;
        var rows = File.ReadAllLines(TestPaths.Face("pairs.csv")).Skip(1).Select(l => l.Split(','))
            .Where(p => p[3] is "deepface_master.csv" or "lfw_view2_fold05").ToList();
        // A fixed sample: the first genuine and impostor pairs of each protocol.
        var sample = rows.GroupBy(p => (p[3], p[2])).SelectMany(g => g.Take(8)).ToList();
        var embeddings = new Dictionary<string, float[]>();
        float[] Embedding(string path)
        {
            if (!embeddings.TryGetValue(path, out var e))
            {
                var faces = Engine.AnalyzeFile(TestPaths.Face(path), DecodeLimits.Default).Faces;
                Assert.NotEmpty(faces);
                embeddings[path] = e = faces.MaxBy(f => f.Box.Area)!.Embedding;
                Assert.Equal(1f, VectorMath.CosineOfUnit(e, e), 3);
            }

            return e;
        }

        var failures = new List<string>();
        foreach (var p in sample)
        {
            var similarity = VectorMath.CosineOfUnit(Embedding(p[0]), Embedding(p[1]));
            var same = p[2] == "1";
            output.WriteLine($"{(same ? "genuine " : "impostor")} {similarity:0.000} {p[0]} {p[1]}");
            if (same != similarity >= threshold)
            {
                failures.Add($"{similarity:0.000} {string.Join(',', p)}");
            }
        }

        Assert.Equal(32, sample.Count);
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [SkippableFact]
    public void Group_photos_have_at_least_the_documented_number_of_faces()
    {
        var rows = File.ReadAllLines(TestPaths.Face("groups.csv")).Skip(1).Select(l => l.Split(','))
            .Where(p => p[1].Length > 0).ToList();
        Assert.NotEmpty(rows);
        var misses = new List<string>();
        foreach (var p in rows)
        {
            var expected = int.Parse(p[1], CultureInfo.InvariantCulture);
            var found = Engine.AnalyzeFile(TestPaths.Face(p[0]), DecodeLimits.Default).Faces.Count;
            output.WriteLine($"{p[0]}: {found}/{expected}");
            if (found < expected)
            {
                misses.Add($"{p[0]}: {found}/{expected}");
            }
        }

        Assert.True(misses.Count == 0, string.Join('\n', misses));
    }

    [SkippableTheory]
    [InlineData("glint_celebs/images/Hugh_Jackman/2813.png")]
    [InlineData("lfw_deepfunneled/images/Adrian_Annus/Adrian_Annus_0001.jpg")]
    public void Tight_crops_are_found_thanks_to_the_padded_pass(string photo)
    {
        var analysis = Engine.AnalyzeFile(TestPaths.Face(photo), DecodeLimits.Default);
        Assert.NotEmpty(analysis.Faces);
        var face = analysis.Faces.MaxBy(f => f.Box.Area)!;
        Assert.True(face.Box.Height > 0.4f * analysis.Info.Height, $"face box {face.Box} in a {analysis.Info.Width}×{analysis.Info.Height} crop");
    }

    [SkippableFact]
    public void Engine_reports_model_id_scale_and_stage_timings()
    {
        var analysis = Engine.AnalyzeFile(TestPaths.Face("faceaisharp/groups/group_10mpx.jpg"), DecodeLimits.Default);
        Assert.Equal("faceplugin-0.0.1", Engine.ModelId);
        Assert.Equal(4844, analysis.Info.Width);
        Assert.InRange(analysis.Scale, 0.49f, 0.51f);
        Assert.True(analysis.Faces.Count >= 20, $"{analysis.Faces.Count} faces");
        // Coordinates are in original pixels: faces spread over the full 4844-pixel width.
        Assert.True(analysis.Faces.Max(f => f.Box.X2) > 3000);
        Assert.True(analysis.Faces.Zip(analysis.Faces.Skip(1)).All(p => p.First.DetectorScore >= p.Second.DetectorScore));
        var t = analysis.Timings;
        output.WriteLine($"decode {t.DecodeMs:0.0} detect {t.DetectMs:0.0} landmarks {t.LandmarksMs:0.0} align {t.AlignMs:0.0} embed {t.EmbedMs:0.0} ms");
        Assert.True(t.DecodeMs > 0 && t.DetectMs > 0 && t.LandmarksMs > 0 && t.AlignMs > 0 && t.EmbedMs > 0);
    }

    [SkippableFact]
    public void Concurrent_analyses_share_the_sessions_and_agree()
    {
        string[] photos = [.. ParityPhotos.Take(4)];
        var sequential = photos.Select(p => Engine.AnalyzeFile(TestPaths.Face(p), DecodeLimits.Default).Faces[0].Embedding).ToArray();
        var parallel = new float[photos.Length][];
        Parallel.For(0, photos.Length * 3, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
            parallel[i % photos.Length] = Engine.AnalyzeFile(TestPaths.Face(photos[i % photos.Length]), DecodeLimits.Default).Faces[0].Embedding);
        for (var i = 0; i < photos.Length; i++)
        {
            Assert.Equal(sequential[i], parallel[i]);
        }
    }

    [SkippableFact]
    public void File_over_the_byte_limit_is_refused_before_reading()
    {
        var e = Assert.Throws<ImageRejectedException>(() =>
            Engine.AnalyzeFile(TestPaths.Face("faceaisharp/groups/group_10mpx.jpg"), DecodeLimits.Default with { MaxBytes = 1000 }));
        Assert.Equal(ImageRejection.TooManyBytes, e.Reason);
    }

    private static float Distance(PointF a, PointF b) => MathF.Sqrt(((a.X - b.X) * (a.X - b.X)) + ((a.Y - b.Y) * (a.Y - b.Y)));
}
