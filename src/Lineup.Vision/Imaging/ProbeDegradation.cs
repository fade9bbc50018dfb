using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using SkiaSharp;

namespace Lineup.Vision.Imaging;

/// <summary>What a <see cref="Degradation"/> does to a probe photo; the meaning of its amount depends on it.</summary>
public enum DegradationKind
{
    /// <summary>Area-filtered downscale of the whole photo so that the face's inter-eye distance becomes Amount pixels (never enlarged).</summary>
    Downscale,

    /// <summary>Gaussian blur of the whole photo with σ = Amount × the face's inter-eye distance.</summary>
    GaussianBlur,

    /// <summary>Re-encoded as JPEG at quality Amount (1–100).</summary>
    Jpeg,

    /// <summary>The photo turned by Amount degrees (positive: clockwise as seen) around the face box centre.</summary>
    Rotation,

    /// <summary>A dark horizontal band over the lower face, like a face mask (Amount is not used).</summary>
    LowerFaceMask,

    /// <summary>Darkened to Amount × the brightness through a gamma, with mild sensor noise.</summary>
    LowLight,
}

/// <summary>One way a probe photo can be worse than a gallery photo, with its strength.</summary>
/// <param name="Name">Short label for tables, e.g. <c>inter-eye 16 px</c>.</param>
/// <param name="Kind">What is done.</param>
/// <param name="Amount">How much; its unit depends on <paramref name="Kind"/>.</param>
public sealed record Degradation(string Name, DegradationKind Kind, float Amount)
{
    /// <summary>
    /// Blur strength of <see cref="Standard"/>: σ = 1/16 of the inter-eye distance, a photo clearly focused
    /// elsewhere. In the 112×112 aligned crop the embedder sees (35 px between the eyes) that is σ ≈ 2.2 px: skin
    /// texture, eyelashes and hair strands are gone and the eyes, nostrils and mouth are soft blobs, still where a
    /// person would find them. Scaling with the face (not a fixed σ in pixels) makes it the same defocus for a
    /// 250×250 LFW crop and a 12-megapixel portrait.
    /// </summary>
    public const float StandardBlurPerInterEye = 1f / 16;

    /// <summary>Gamma applied by <see cref="DegradationKind.LowLight"/> before the gain: a steeper tone curve crushes the shadows.</summary>
    public const float LowLightGamma = 1.5f;

    /// <summary>Standard deviation of the Gaussian sensor noise added by <see cref="DegradationKind.LowLight"/>, in 8-bit levels per channel.</summary>
    public const float LowLightNoise = 2f;

    // Declared before Standard, which reads it during type initialisation.

    /// <summary>The lower face hidden under a dark band from halfway between the eyes and the nose tip down past the chin.</summary>
    public static Degradation Mask { get; } = new("mask", DegradationKind.LowerFaceMask, 0);

    /// <summary>
    /// The standard set: inter-eye distance 32, 24 and 16 px; blur σ = IED / 16; JPEG quality 10; rotation +30°
    /// and −30°; a lower-face mask; low light (× 0.25 after gamma 1.5, noise σ = 2 levels).
    /// </summary>
    public static IReadOnlyList<Degradation> Standard { get; } =
    [
        InterEyeDistance(32),
        InterEyeDistance(24),
        InterEyeDistance(16),
        Blur(StandardBlurPerInterEye),
        JpegQuality(10),
        Rotation(30),
        Rotation(-30),
        Mask,
        LowLight(0.25f),
    ];

    /// <summary>Downscale until the eyes are <paramref name="pixels"/> apart.</summary>
    public static Degradation InterEyeDistance(float pixels) => new($"inter-eye {pixels:0} px", DegradationKind.Downscale, pixels);

    /// <summary>Gaussian blur with σ = <paramref name="sigmaPerInterEye"/> × the inter-eye distance.</summary>
    public static Degradation Blur(float sigmaPerInterEye) => new($"blur σ=IED/{1 / sigmaPerInterEye:0.#}", DegradationKind.GaussianBlur, sigmaPerInterEye);

    public static Degradation JpegQuality(int quality) => new($"JPEG q{quality}", DegradationKind.Jpeg, quality);

    /// <summary>Turn by <paramref name="degrees"/> (positive: clockwise as seen) around the face centre.</summary>
    public static Degradation Rotation(float degrees) => new($"rotation {degrees:+0;-0}°", DegradationKind.Rotation, degrees);

    /// <summary>Brightness × <paramref name="gain"/> after gamma <see cref="LowLightGamma"/>, plus noise.</summary>
    public static Degradation LowLight(float gain) => new($"low light ×{gain:0.##}", DegradationKind.LowLight, gain);
}

/// <summary>
/// Makes a probe photo worse in one controlled way (<see cref="Degradation"/>), around a known face, to measure
/// how identification holds up. Deterministic: the same input gives the same bytes (the noise has a fixed seed).
/// </summary>
public static class ProbeDegradation
{
    /// <summary>Seed of the low-light sensor noise.</summary>
    internal const int NoiseSeed = 20_261_129;

    /// <summary>Colour of the mask band: a dark grey cloth.</summary>
    internal static readonly SKColor MaskColour = new(34, 34, 38);

    /// <summary>zlib level of the lossless results: a fast one, since these files are analysed once and never kept.</summary>
    private const int PngZlibLevel = 3;

    /// <summary>
    /// Decodes <paramref name="encoded"/> (within <paramref name="limits"/>: invalid or oversized input throws
    /// <see cref="ImageRejectedException"/>), applies <paramref name="degradation"/> and encodes the result: JPEG
    /// for <see cref="DegradationKind.Jpeg"/>, PNG (lossless) for everything else.
    /// </summary>
    /// <param name="faceBox">The face's box in original-image pixels (as <see cref="AnalyzedFace.Box"/>).</param>
    /// <param name="faceLandmarks">The face's five points in original-image pixels.</param>
    /// <remarks>
    /// The photo is worked on as decoded: an image larger than <see cref="DecodeLimits.MaxDecodedSide"/> comes back
    /// at the decoded size, with the face geometry scaled to it. Rotation keeps the canvas size and fills the
    /// corners that come from outside the photo with its mean colour (what the detector's padded pass also does),
    /// so that nothing of the frame but the turn changes.
    /// </remarks>
    public static byte[] Apply(ReadOnlySpan<byte> encoded, Degradation degradation, BoxF faceBox, Landmarks5 faceLandmarks, DecodeLimits limits)
    {
        ArgumentNullException.ThrowIfNull(degradation);
        ArgumentNullException.ThrowIfNull(limits);
        CheckGeometry(faceBox, faceLandmarks);
        CheckAmount(degradation);
        using var decoded = new SkiaImageDecoder().Decode(encoded, limits);
        var scale = decoded.Scale;
        var box = new BoxF(faceBox.X1 * scale, faceBox.Y1 * scale, faceBox.X2 * scale, faceBox.Y2 * scale);
        var interEye = faceLandmarks.InterEyeDistance * scale;
        using var bitmap = ToBitmap(decoded.Image);
        switch (degradation.Kind)
        {
            case DegradationKind.Downscale:
                {
                    var k = Math.Min(1f, degradation.Amount / interEye);
                    using var small = Resize(bitmap, k);
                    return EncodePng(small);
                }

            case DegradationKind.GaussianBlur:
                {
                    var sigma = degradation.Amount * interEye;
                    using var blurred = Draw(bitmap, bitmap.Width, bitmap.Height, default, (canvas, image) =>
                    {
                        // Clamp: the edge pixels continue outwards, so the border does not darken.
                        using var filter = SKImageFilter.CreateBlur(sigma, sigma, SKShaderTileMode.Clamp);
                        using var paint = new SKPaint { ImageFilter = filter };
                        canvas.DrawImage(image, 0, 0, paint);
                    });
                    return EncodePng(blurred);
                }

            case DegradationKind.Jpeg:
                return Encode(bitmap, new SKJpegEncoderOptions((int)degradation.Amount, SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore));

            case DegradationKind.Rotation:
                {
                    var centre = box.Center;
                    var (r, g, b) = MeanColour(decoded.Image);
                    using var turned = Draw(bitmap, bitmap.Width, bitmap.Height, new SKColor(r, g, b), (canvas, image) =>
                    {
                        // y points down, so a positive angle turns clockwise as seen.
                        canvas.RotateDegrees(degradation.Amount, centre.X, centre.Y);
                        canvas.DrawImage(image, 0, 0, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None));
                    });
                    return EncodePng(turned);
                }

            case DegradationKind.LowerFaceMask:
                {
                    var band = MaskBand(box, faceLandmarks, scale);
                    using (var canvas = new SKCanvas(bitmap))
                    {
                        using var paint = new SKPaint { Color = MaskColour, IsAntialias = true };
                        canvas.DrawRect(band, paint);
                    }

                    return EncodePng(bitmap);
                }

            case DegradationKind.LowLight:
                Darken(bitmap, degradation.Amount);
                return EncodePng(bitmap);

            default:
                throw new ArgumentOutOfRangeException(nameof(degradation), degradation.Kind, "Unknown degradation.");
        }
    }

    /// <summary>
    /// The mask band in buffer pixels: from halfway between the eye line and the nose tip (a surgical mask's top
    /// edge sits on the nose bridge) to a tenth of the box below its bottom (past the chin), and a twentieth of
    /// the box wider than it on each side.
    /// </summary>
    internal static SKRect MaskBand(BoxF box, Landmarks5 landmarks, float scale)
    {
        var eyeY = (landmarks.LeftEye.Y + landmarks.RightEye.Y) / 2 * scale;
        var noseY = landmarks.Nose.Y * scale;
        var top = eyeY + (0.5f * (noseY - eyeY));
        var margin = 0.05f * box.Width;
        return new SKRect(box.X1 - margin, top, box.X2 + margin, box.Y2 + (0.1f * box.Height));
    }

    private static void CheckGeometry(BoxF box, Landmarks5 landmarks)
    {
        if (!float.IsFinite(box.X1) || !float.IsFinite(box.Y1) || !float.IsFinite(box.X2) || !float.IsFinite(box.Y2)
            || !(box.Width > 0) || !(box.Height > 0))
        {
            throw new ArgumentException($"The face box {box} is empty or not finite.", "faceBox");
        }

        for (var i = 0; i < 5; i++)
        {
            if (!float.IsFinite(landmarks[i].X) || !float.IsFinite(landmarks[i].Y))
            {
                throw new ArgumentException("A face landmark is not finite.", "faceLandmarks");
            }
        }

        if (!(landmarks.InterEyeDistance > 0))
        {
            throw new ArgumentException("The face's eyes coincide (inter-eye distance 0).", "faceLandmarks");
        }
    }

    private static void CheckAmount(Degradation degradation)
    {
        var a = degradation.Amount;
        var valid = degradation.Kind switch
        {
            DegradationKind.Downscale => a >= 1,
            DegradationKind.GaussianBlur => a > 0 && a <= 1,
            DegradationKind.Jpeg => a is >= 1 and <= 100 && a == MathF.Round(a),
            DegradationKind.Rotation => float.IsFinite(a),
            DegradationKind.LowerFaceMask => true,
            DegradationKind.LowLight => a is > 0 and <= 1,
            _ => false,
        };
        if (!valid)
        {
            throw new ArgumentOutOfRangeException(nameof(degradation), $"{degradation.Kind} with amount {a} is out of range.");
        }
    }

    /// <summary>
    /// Area-like shrink: mipmapped trilinear sampling box-filters each halving, as image services do, so that a
    /// small face is what a camera further away would see rather than an aliased one.
    /// </summary>
    private static SKBitmap Resize(SKBitmap bitmap, float k)
    {
        var width = Math.Max(1, (int)MathF.Round(bitmap.Width * k));
        var height = Math.Max(1, (int)MathF.Round(bitmap.Height * k));
        if (width == bitmap.Width && height == bitmap.Height)
        {
            return bitmap.Copy();
        }

        return bitmap.Resize(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
            ?? throw new InvalidOperationException($"Skia could not resize {bitmap.Width}×{bitmap.Height} to {width}×{height}.");
    }

    private static SKBitmap Draw(SKBitmap source, int width, int height, SKColor background, Action<SKCanvas, SKImage> draw)
    {
        var target = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        try
        {
            using var canvas = new SKCanvas(target);
            canvas.Clear(background.Alpha == 0 ? SKColors.Black : background);
            using var image = SKImage.FromBitmap(source);
            draw(canvas, image);
            canvas.Flush();
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    /// <summary>
    /// v ↦ 255 · gain · (v / 255)^γ per channel, then Gaussian noise (σ = <see cref="Degradation.LowLightNoise"/>
    /// levels, fixed seed) and rounding: an underexposed shot whose few remaining levels carry the sensor's noise.
    /// </summary>
    private static void Darken(SKBitmap bitmap, float gain)
    {
        Span<float> levels = stackalloc float[256];
        for (var v = 0; v < 256; v++)
        {
            levels[v] = 255f * gain * MathF.Pow(v / 255f, Degradation.LowLightGamma);
        }

        var random = new Random(NoiseSeed);
        var pixels = bitmap.GetPixelSpan();
        for (var i = 0; i < pixels.Length; i += 4)
        {
            for (var c = 0; c < 3; c++)
            {
                var value = levels[pixels[i + c]] + (Degradation.LowLightNoise * Gaussian(random));
                pixels[i + c] = (byte)Math.Clamp(MathF.Round(value), 0, 255);
            }
        }
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    private static float Gaussian(Random random)
    {
        var u = 1 - random.NextDouble();
        var v = random.NextDouble();
        return (float)(Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
    }

    private static (byte R, byte G, byte B) MeanColour(ImageBuffer image)
    {
        long r = 0, g = 0, b = 0;
        var pixels = image.Pixels;
        for (var i = 0; i < pixels.Length; i += 3)
        {
            r += pixels[i];
            g += pixels[i + 1];
            b += pixels[i + 2];
        }

        var n = Math.Max(1L, pixels.Length / 3);
        return ((byte)(r / n), (byte)(g / n), (byte)(b / n));
    }

    private static SKBitmap ToBitmap(ImageBuffer image)
    {
        var bitmap = new SKBitmap(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var target = bitmap.GetPixelSpan();
        ReadOnlySpan<byte> source = image.Pixels;
        for (int i = 0, o = 0; i < source.Length; i += 3, o += 4)
        {
            target[o] = source[i];
            target[o + 1] = source[i + 1];
            target[o + 2] = source[i + 2];
            target[o + 3] = 255;
        }

        return bitmap;
    }

    private static byte[] EncodePng(SKBitmap bitmap) =>
        Encode(bitmap, new SKPngEncoderOptions(SKPngEncoderFilterFlags.AllFilters, PngZlibLevel));

    private static byte[] Encode(SKBitmap bitmap, SKPngEncoderOptions options)
    {
        using var pixmap = bitmap.PeekPixels();
        using var data = pixmap.Encode(options) ?? throw new InvalidOperationException("Skia could not encode the PNG.");
        return data.ToArray();
    }

    private static byte[] Encode(SKBitmap bitmap, SKJpegEncoderOptions options)
    {
        using var pixmap = bitmap.PeekPixels();
        using var data = pixmap.Encode(options) ?? throw new InvalidOperationException("Skia could not encode the JPEG.");
        return data.ToArray();
    }
}
