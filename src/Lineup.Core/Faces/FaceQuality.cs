using System.Buffers;
using Lineup.Core.Imaging;

namespace Lineup.Core.Faces;

/// <summary>
/// How usable one face is for recognition: a combined 0–100 <see cref="Score"/> and every measurement it was formed
/// from, so a reviewer can see why a face scored low and a later build can re-weigh them.
/// </summary>
/// <param name="Score">0 (useless) to 100 (as good as this pipeline gets); see <see cref="FaceQualityAssessor"/>.</param>
/// <param name="InterEyePixels">Distance between the eye centres in original-image pixels.</param>
/// <param name="Sharpness">Variance of the 4-neighbour Laplacian of the luma (0–255) over the central face region of
/// the aligned 112×112 crop, in grey levels². On the DEV photos: median 183 for LFW's 250×250 photos, 300 for Glint's
/// 112×112 crops, 1,000–3,000 for faces shrunk from large photos; the blurred Glint crops that failed to match, 20–40.</param>
/// <param name="Brightness">Mean luma (0–255) of that central face region.</param>
/// <param name="Contrast">Standard deviation of the luma (0–255) over the same region.</param>
/// <param name="Yaw">Degrees, from the 68 landmarks; positive when the nose points towards the image's right.</param>
/// <param name="Pitch">Degrees, from the 68 landmarks; positive when the face is tilted down (nose towards the mouth).</param>
/// <param name="Roll">Degrees, the eye line's angle; positive when the face is turned clockwise in the image (the eye on
/// the image's right lower).</param>
/// <param name="DetectorScore">The detector's face probability, 0–1.</param>
/// <param name="LandmarkFit">RMS distance, in pixels of the 112×112 crop, between the five alignment points after the
/// similarity transform and the template they were fitted to (<see cref="FaceAligner.Reference112"/>): median 3.3 on the
/// DEV faces, over 6 for most half-profiles and misplaced landmarks.</param>
public readonly record struct FaceQuality(
    float Score,
    float InterEyePixels,
    float Sharpness,
    float Brightness,
    float Contrast,
    float Yaw,
    float Pitch,
    float Roll,
    float DetectorScore,
    float LandmarkFit)
{
    /// <summary>
    /// What pulled the score down, weakest first, in words with the measurement: each factor of
    /// <see cref="FaceQualityAssessor.Factors"/> under <paramref name="below"/>. The stored eye distance (original pixels)
    /// stands in for the decoded one the score used; they differ only for large photos decoded at reduced size.
    /// </summary>
    public IReadOnlyList<string> Shortfalls(float below = 0.75f)
    {
        var f = FaceQualityAssessor.Factors(InterEyePixels, Sharpness, Brightness, Contrast, Yaw, Pitch, DetectorScore, LandmarkFit);
        var relativeSharpness = Contrast > 1 ? Sharpness / (Contrast * Contrast) : Sharpness;
        (float Factor, string Text)[] all =
        [
            (f.Resolution, $"eyes {InterEyePixels:0} px apart"),
            (f.Sharpness, $"blurred (Laplacian variance {relativeSharpness:0.000} of the contrast²)"),
            (f.Pose, $"head turned (yaw {Yaw:0}°, pitch {Pitch:0}°)"),
            (f.LandmarkFit, $"landmarks do not fit a face ({LandmarkFit:0.0} px off the template)"),
            (f.Detection, $"detector unsure ({DetectorScore:0.0000})"),
            (f.Exposure, $"badly exposed (brightness {Brightness:0}/255, contrast {Contrast:0})"),
        ];
        return all.Where(a => a.Factor < below).OrderBy(a => a.Factor).Select(a => a.Text).ToArray();
    }
}

/// <summary>The six factors, each 0–1, whose product (× 100) is <see cref="FaceQuality.Score"/>.</summary>
public readonly record struct QualityFactors(float Resolution, float Sharpness, float Pose, float LandmarkFit, float Detection, float Exposure)
{
    public float Product => Resolution * Sharpness * Pose * LandmarkFit * Detection * Exposure;
}

/// <summary>
/// Measures a face's quality from what the pipeline already has after alignment: the 68 landmarks, the aligned crop
/// and the alignment transform. No model, no allocation but the result; about 20 µs per face in an optimised build
/// (the embedder takes 8–17 ms).
/// </summary>
public static class FaceQualityAssessor
{
    /// <summary>
    /// The probe floor this pack's measurements support: a probe face scoring below it should be refused rather than
    /// searched. On pairs.csv a floor of 30 refuses 7.5 % of the faces and takes the genuine pairs' FNMR at cosine
    /// 0.337 from 5.2 % to 3.3 % (at FMR 1 %: 2.4 % to 1.4 %); 20 refuses 4.9 % (3.7 %), 40 refuses 11 % (2.7 %).
    /// Faces whose central region averages under 100 of 255 were refused three times as often (17.8 % against 5.7 % at
    /// 30), through the detector and sharpness terms: an operator should know that a refusal is not neutral.
    /// </summary>
    public const float RecommendedProbeFloor = 30;

    /// <summary>
    /// The central face region of the 112×112 crop over which brightness, contrast and sharpness are measured:
    /// x 28–84, y 40–100 holds both eyes (template x 38 and 74, y 52), the nose and the mouth (y 92) and leaves out
    /// hair, ears and background, and the black border the warp leaves where the crop runs past the photo.
    /// </summary>
    private const int RegionX = 28;

    private const int RegionY = 40;

    private const int RegionWidth = 56;

    private const int RegionHeight = 60;

    /// <summary>
    /// Pose constants from the OpenFace/dlib 68-point 3-D mean face (the <c>landmarks_68_3D</c> table of
    /// TadasBaltrusaitis/OpenFace, also in DeepFaceLab's LandmarksProcessor.py), projected orthographically.
    /// Yaw: the jaw ends (points 0 and 16) lie ±72.4 units either side of the midline, 84.4 units behind the nose
    /// tip (30), so across the eye line the nose tip sits u = (84.4 / 72.4)·tan(yaw) half-spans from the jaw's
    /// midpoint: yaw = atan(u · 72.4 / 84.4).
    /// </summary>
    private const float YawJawOverDepth = 72.4f / 84.4f;

    /// <summary>
    /// Pitch: down the face, the nose tip sits at v = (30.7 + 37.8·t) / (67.5 + 4.8·t) of the way from the eye
    /// centres to the mouth corners (t = tan(pitch); 0.455 for a level face), which inverts to
    /// t = (67.5·v − 30.7) / (37.8 − 4.8·v). Same mean face and five points as <see cref="FaceAligner.FivePoints"/>.
    /// </summary>
    private const float PitchEyeToMouth = 67.5f;

    private const float PitchEyeToNose = 30.7f;

    private const float PitchNoseDepth = 37.8f;

    private const float PitchMouthDepth = 4.8f;

    private const float Degrees = 180f / MathF.PI;

    /// <summary>
    /// Measures one face. <paramref name="points68"/> and <paramref name="imageToCrop"/> are in the decoded buffer's
    /// pixels, <paramref name="scale"/> is buffer pixels per original pixel (<see cref="DecodedImage.Scale"/>) and
    /// <paramref name="crop"/> is the aligned crop <paramref name="imageToCrop"/> produced (any square size; the
    /// regions and residuals are scaled to the 112×112 template).
    /// </summary>
    public static FaceQuality Assess(
        ReadOnlySpan<PointF> points68, float scale, ImageBuffer crop, in SimilarityTransform imageToCrop, float detectorScore)
    {
        ArgumentNullException.ThrowIfNull(crop);
        if (points68.Length < 68)
        {
            throw new ArgumentException("68 landmark points are needed.", nameof(points68));
        }

        if (!(scale > 0) || !float.IsFinite(scale))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "The decode scale must be positive.");
        }

        var five = FaceAligner.FivePoints(points68);
        var eyeX = five.RightEye.X - five.LeftEye.X;
        var eyeY = five.RightEye.Y - five.LeftEye.Y;
        var eyeBuffer = MathF.Sqrt((eyeX * eyeX) + (eyeY * eyeY));
        var roll = eyeBuffer > 0 ? MathF.Atan2(eyeY, eyeX) * Degrees : 0f;
        var (yaw, pitch) = EstimateYawPitch(points68, five);
        var fit = LandmarkFit(five, imageToCrop, crop.Width);
        var (brightness, contrast, sharpness) = MeasureCrop(crop);
        var score = Score(eyeBuffer, sharpness, brightness, contrast, yaw, pitch, detectorScore, fit);
        return new FaceQuality(
            score, Finite(eyeBuffer / scale), sharpness, brightness, contrast, yaw, pitch, roll, Finite(detectorScore), fit);
    }

    /// <summary>
    /// Combines the components into 0–100: 100 × the product of one smooth ramp (smoothstep between two knees) per
    /// failure cause, so that any one cause alone can sink a face and the causes multiply like independent chances
    /// of success. <paramref name="effectiveInterEyePixels"/> is the eye distance in the pixels the crop was warped
    /// from (original pixels × decode scale): that, not the original size, is the detail the embedder got.
    /// <para>
    /// Measured on pairs.csv (636 genuine / 860 impostor pairs, each photo's most prominent face): the genuine pairs
    /// whose weaker face falls on the bad side of each cut, against the rest, miss at cosine 0.337 (the pack's
    /// threshold) and at 0.234 (FMR 1 % over all impostors):
    /// detector score below 0.9999: 87 pairs 18.4 % / 11.5 %, the rest 3.1 % / 0.9 %;
    /// Sharpness / Contrast² below 0.1: 206 pairs 11.7 % / 5.8 %, the rest 2.1 % / 0.7 %;
    /// landmark fit 6 px or more: 70 pairs 21.4 % / 7.1 %, the rest 3.2 % / 1.8 %;
    /// |yaw| 30° or more: 63 pairs 15.9 % / 7.9 %, the rest 4.0 % / 1.7 %;
    /// eyes under 30 px apart: 25 pairs 32 % / 8 %, the rest 4.1 % / 2.1 %;
    /// |pitch| 20° or more: 4.9 % / 1.2 % against 5.3 % / 2.8 % (no effect); |roll| 10° or more: 8.5 % against 4.9 %
    /// at 0.337 (alignment undoes roll; not scored).
    /// Dropping one factor from the product and re-measuring the error-versus-discard curve, the mean FNMR over 5–30 %
    /// discarded (relative to none discarded, averaged over both thresholds) goes from 0.54 to 0.63 without the
    /// detector term, 0.60 without sharpness, 0.57 without landmark fit, 0.56 without pose and 0.55 without resolution,
    /// which matters only for the few small faces in the set. The knees come from a coarse grid searched on the
    /// even-numbered pairs (0.52 there); on the odd-numbered pairs they reach 0.63, where the grid's best reached 0.53 and
    /// its median 0.62. With 33 misses in all, knees within a factor of about 1.5 cannot be told apart, so they are
    /// rounded to values with a physical reading rather than fitted further.
    /// </para>
    /// <para>
    /// With these ramps, discarding the 5, 10, 20 and 30 % of pairs with the lowest min(score) takes the FNMR at 0.337
    /// from 5.19 % to 3.96, 3.32, 2.54 and 1.84 %, and at FMR 1 % from 2.36 % to 1.65, 1.57, 0.78 and 0.92 %
    /// (FaceQualityMeasurementTests prints the table).
    /// </para>
    /// <para>
    /// Brightness is scored only at the extremes (a face region averaging under 50 of 255, or over 215), although on
    /// this data faces averaging under 100 missed 14.8 % against 2.8 %: the mean luma of a face region measures skin
    /// tone as much as exposure (many of the darker faces in the set are well-exposed photos of people with dark
    /// skin), and a probe floor built on it would refuse people for their skin. Contrast likewise only catches a flat,
    /// featureless region (standard deviation under 12). Sharpness is scored relative to contrast
    /// (Laplacian variance / luma variance), which is unchanged by a uniform gain, and separated genuine failures
    /// better than the raw Laplacian variance (Spearman correlation with the genuine cosine 0.41 against 0.33).
    /// </para>
    /// </summary>
    public static QualityFactors Factors(
        float effectiveInterEyePixels,
        float sharpness,
        float brightness,
        float contrast,
        float yaw,
        float pitch,
        float detectorScore,
        float landmarkFit)
    {
        // The embedder's crop holds the eyes 35.2 px apart: a larger face is shrunk to that and gains nothing, a face
        // under 12 px is blown up three times and more.
        var resolution = Ramp(effectiveInterEyePixels, 12, 36);

        // Laplacian variance over luma variance: a few hundredths for an up-scaled or motion-blurred face, 0.1–0.3
        // for a sharp LFW face, about 1 for a face shrunk from a large photo.
        var relativeSharpness = contrast > 1 ? sharpness / (contrast * contrast) : sharpness;
        var sharp = Ramp(relativeSharpness, 0, 0.1f);

        // Yaw from landmarks: the embedder copes with 15°, half-profile (45°) costs most of the similarity.
        // Pitch is only penalised far out (no effect was measured below 20°, and the estimate reads 5–10° high).
        var pose = (1 - Ramp(MathF.Abs(yaw), 15, 60)) * (1 - Ramp(MathF.Abs(pitch), 30, 75));

        // A residual of 2–4 crop pixels is the template's fit to an ordinary frontal face; by 12 the five points are
        // not a face's in any pose (a hand, a profile with a guessed far eye).
        var fit = 1 - Ramp(landmarkFit, 3, 12);

        // The detector's confidence in decades: −log10(1 − p), 2 at p = 0.99, 5.5 at p = 0.9999968. Detections pass at
        // 0.65, but nine in ten DEV faces score above 0.9999; occlusion, profile and blur show up as lower scores. The
        // knees belong to this pack's detector: another detector's scores need measuring again.
        var decades = -MathF.Log10(MathF.Max(1e-7f, 1 - Math.Clamp(detectorScore, 0, 1)));
        var detection = Ramp(decades, 2, 5.5f);

        var exposure = Ramp(brightness, 20, 50) * (1 - Ramp(brightness, 215, 250)) * Ramp(contrast, 4, 12);
        return new QualityFactors(resolution, sharp, pose, fit, detection, exposure);
    }

    /// <summary>The combined score: 100 × the product of <see cref="Factors"/>.</summary>
    public static float Score(
        float effectiveInterEyePixels,
        float sharpness,
        float brightness,
        float contrast,
        float yaw,
        float pitch,
        float detectorScore,
        float landmarkFit) =>
        Finite(100 * Factors(effectiveInterEyePixels, sharpness, brightness, contrast, yaw, pitch, detectorScore, landmarkFit).Product);

    /// <summary>
    /// Yaw and pitch in degrees from the nose tip's place between the jaw ends (across the eye line) and between the
    /// eye centres and the mouth corners (along the perpendicular), so an in-plane roll does not leak into either.
    /// </summary>
    internal static (float Yaw, float Pitch) EstimateYawPitch(ReadOnlySpan<PointF> points68, in Landmarks5 five)
    {
        var ax = five.RightEye.X - five.LeftEye.X;
        var ay = five.RightEye.Y - five.LeftEye.Y;
        var length = MathF.Sqrt((ax * ax) + (ay * ay));
        if (!(length > 1e-6f))
        {
            return (0, 0);
        }

        // u runs from the left to the right eye, w at right angles to it, down the face.
        var (ux, uy) = (ax / length, ay / length);
        var (wx, wy) = (-uy, ux);
        var nose = points68[30];
        float Across(PointF p) => (p.X * ux) + (p.Y * uy);
        float Down(PointF p) => (p.X * wx) + (p.Y * wy);

        var jaw0 = Across(points68[0]);
        var jaw16 = Across(points68[16]);
        var half = (jaw16 - jaw0) / 2;
        var yaw = 0f;
        if (half > 1e-6f)
        {
            var u = (Across(nose) - ((jaw0 + jaw16) / 2)) / half;
            yaw = MathF.Atan(u * YawJawOverDepth) * Degrees;
        }

        var eyes = (Down(five.LeftEye) + Down(five.RightEye)) / 2;
        var mouth = (Down(five.MouthLeft) + Down(five.MouthRight)) / 2;
        var pitch = 0f;
        if (mouth - eyes > 1e-6f)
        {
            var v = (Down(nose) - eyes) / (mouth - eyes);
            var denominator = PitchNoseDepth - (PitchMouthDepth * v);
            var t = denominator > 1e-3f ? ((PitchEyeToMouth * v) - PitchEyeToNose) / denominator : float.PositiveInfinity;
            pitch = MathF.Atan(t) * Degrees;
        }

        return (Finite(yaw), Finite(pitch));
    }

    /// <summary>RMS residual of the similarity fit, in 112-template pixels.</summary>
    internal static float LandmarkFit(in Landmarks5 five, in SimilarityTransform imageToCrop, int cropSize)
    {
        var k = cropSize / (float)FaceAligner.CropSize;
        var r = FaceAligner.Reference112;
        var sum = Squared(imageToCrop.Apply(five.LeftEye), r.LeftEye, k)
            + Squared(imageToCrop.Apply(five.RightEye), r.RightEye, k)
            + Squared(imageToCrop.Apply(five.Nose), r.Nose, k)
            + Squared(imageToCrop.Apply(five.MouthLeft), r.MouthLeft, k)
            + Squared(imageToCrop.Apply(five.MouthRight), r.MouthRight, k);
        return Finite(MathF.Sqrt(sum / 5) / k);
    }

    /// <summary>Mean and standard deviation of the luma, and the variance of its Laplacian, over the central region.</summary>
    internal static (float Brightness, float Contrast, float Sharpness) MeasureCrop(ImageBuffer crop)
    {
        var k = crop.Width / (float)FaceAligner.CropSize;
        var x0 = Math.Clamp((int)(RegionX * k), 0, crop.Width - 1);
        var y0 = Math.Clamp((int)(RegionY * k), 0, crop.Height - 1);
        var w = Math.Clamp((int)(RegionWidth * k), 1, crop.Width - x0);
        var h = Math.Clamp((int)(RegionHeight * k), 1, crop.Height - y0);
        var n = w * h;
        float[]? rented = null;
        var luma = n <= 4096 ? stackalloc float[n] : (rented = ArrayPool<float>.Shared.Rent(n));
        try
        {
            ReadOnlySpan<byte> pixels = crop.Pixels;
            double sum = 0, sumSquares = 0;
            for (var y = 0; y < h; y++)
            {
                var row = pixels.Slice(((y0 + y) * crop.Stride) + (x0 * ImageBuffer.Channels), w * ImageBuffer.Channels);
                var line = luma.Slice(y * w, w);
                for (var x = 0; x < w; x++)
                {
                    var o = x * ImageBuffer.Channels;
                    var l = (0.299f * row[o]) + (0.587f * row[o + 1]) + (0.114f * row[o + 2]);
                    line[x] = l;
                    sum += l;
                    sumSquares += l * l;
                }
            }

            var mean = sum / n;
            var contrast = Math.Sqrt(Math.Max(0, (sumSquares / n) - (mean * mean)));

            double lapSum = 0, lapSquares = 0;
            var m = 0;
            for (var y = 1; y < h - 1; y++)
            {
                var up = luma.Slice((y - 1) * w, w);
                var line = luma.Slice(y * w, w);
                var down = luma.Slice((y + 1) * w, w);
                for (var x = 1; x < w - 1; x++)
                {
                    double lap = up[x] + down[x] + line[x - 1] + line[x + 1] - (4 * line[x]);
                    lapSum += lap;
                    lapSquares += lap * lap;
                }

                m += w - 2;
            }

            var sharpness = m > 0 ? Math.Max(0, (lapSquares / m) - ((lapSum / m) * (lapSum / m))) : 0;
            return (Finite((float)mean), Finite((float)contrast), Finite((float)sharpness));
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    /// <summary>0 at or below <paramref name="low"/>, 1 at or above <paramref name="high"/>, smooth (smoothstep) between.</summary>
    internal static float Ramp(float value, float low, float high)
    {
        if (!(value > low))
        {
            return 0;
        }

        if (value >= high)
        {
            return 1;
        }

        var t = (value - low) / (high - low);
        return t * t * (3 - (2 * t));
    }

    private static float Squared(PointF p, PointF reference, float k)
    {
        var dx = p.X - (reference.X * k);
        var dy = p.Y - (reference.Y * k);
        return (dx * dx) + (dy * dy);
    }

    private static float Finite(float value) => float.IsFinite(value) ? value : 0f;
}
