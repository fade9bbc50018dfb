namespace Lineup.Vision.Onnx;

/// <summary>How <see cref="OnnxFaceDetector"/> searches an image.</summary>
public sealed record DetectorOptions
{
    public static DetectorOptions Default { get; } = new();

    /// <summary>
    /// One full-frame pass and nothing else: the reference's behaviour (used by the parity tests and
    /// where speed matters more than small or frame-filling faces).
    /// </summary>
    public static DetectorOptions FullFrameOnly { get; } = new() { Tiling = false, Padding = false };

    /// <summary>Lowest face score kept (the reference uses 0.65).</summary>
    public float ScoreThreshold { get; init; } = 0.65f;

    /// <summary>IoU above which a lower-scored box is suppressed by a higher-scored one (0.4).</summary>
    public float NmsThreshold { get; init; } = 0.4f;

    /// <summary>
    /// When merging passes, a box whose area lies mostly (this fraction) inside a higher-scored box is a
    /// duplicate of it: a partial face from a tile, or a face part seen at a finer scale.
    /// </summary>
    public float ContainmentThreshold { get; init; } = 0.45f;

    /// <summary>Extra passes over overlapping 4:3 tiles, so that faces smaller than 1/30 of the image are found.</summary>
    public bool Tiling { get; init; } = true;

    /// <summary>Smallest face to find, as a fraction of the image width (tiles are sized from it).</summary>
    public float MinFaceFraction { get; init; } = 1f / 40;

    /// <summary>
    /// Faces smaller than this (in buffer pixels) are not looked for by tiling: they are too small to
    /// recognise anyway, and tiling a small image only upsamples it.
    /// </summary>
    public int MinFacePixels { get; init; } = 24;

    /// <summary>
    /// An extra pass over the image surrounded by a border, so that a face filling the frame (a tight crop,
    /// an aligned 112×112 face, a passport photo) is seen whole, as the detector was trained.
    /// </summary>
    public bool Padding { get; init; } = true;

    /// <summary>Border added on each side for the padded pass, as a fraction of the image's longer side.</summary>
    public float PaddingFraction { get; init; } = 0.3f;

    /// <summary>Upper bound on the faces returned for one image (highest scores kept).</summary>
    public int MaxFaces { get; init; } = 500;

    internal void Validate()
    {
        if (ScoreThreshold is <= 0 or >= 1 || NmsThreshold is <= 0 or > 1 || ContainmentThreshold is <= 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ScoreThreshold), "Score, NMS and containment thresholds lie in (0, 1).");
        }

        if (MinFaceFraction is <= 0 or > 1 || PaddingFraction is < 0 or > 2 || MaxFaces <= 0 || MinFacePixels < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MinFaceFraction), "Detector options out of range.");
        }
    }
}
