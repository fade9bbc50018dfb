using System.ComponentModel.DataAnnotations;

namespace Lineup.Core.Catalog;

/// <summary>
/// A small JPEG kept in the catalog for the analyst's screens: a face thumbnail or an image preview. The original
/// photo is never copied into the data directory; these are all the UI can show of it.
/// </summary>
/// <param name="Width">Pixel width of the encoded JPEG.</param>
/// <param name="Height">Pixel height of the encoded JPEG.</param>
/// <param name="Jpeg">The encoded bytes (baseline JPEG).</param>
public sealed record Picture(int Width, int Height, byte[] Jpeg)
{
    public int Width { get; } = Width > 0 ? Width : throw new ArgumentOutOfRangeException(nameof(Width), Width, "A picture has a positive width.");

    public int Height { get; } = Height > 0 ? Height : throw new ArgumentOutOfRangeException(nameof(Height), Height, "A picture has a positive height.");

    public byte[] Jpeg { get; } = Jpeg is { Length: > 0 } ? Jpeg : throw new ArgumentException("A picture has encoded bytes.", nameof(Jpeg));
}

/// <summary>Reads the pictures written with the gallery's faces and images.</summary>
public interface IPictureStore
{
    /// <summary>The face's thumbnail (a loose, upright crop around its box); null for an unknown face or one stored without.</summary>
    Task<Picture?> GetFaceThumbnailAsync(long faceId, CancellationToken ct = default);

    /// <summary>
    /// The image's downscaled preview; null for an unknown image or one stored without. Face boxes stay in original
    /// pixels: scale them by <see cref="Picture.Width"/> / <see cref="ImageRecord.Width"/> to draw them on it.
    /// </summary>
    Task<Picture?> GetImagePreviewAsync(long imageId, CancellationToken ct = default);
}

/// <summary>What pictures ingest makes of each gallery photo, and how large.</summary>
public sealed record PictureOptions
{
    public const int MinSide = 32;

    public const int MaxSide = 2048;

    public static PictureOptions Default { get; } = new();

    /// <summary>Longest side of a face thumbnail in pixels: 112 is the aligned crop's size, enough to tell faces apart in a list.</summary>
    [Range(MinSide, MaxSide)]
    public int FaceThumbnailSide { get; init; } = 112;

    /// <summary>Longest side of an image preview in pixels; a smaller image keeps its size (never upscaled).</summary>
    [Range(MinSide, MaxSide)]
    public int PreviewSide { get; init; } = 640;

    /// <summary>libjpeg quality of both kinds of picture.</summary>
    [Range(30, 100)]
    public int JpegQuality { get; init; } = 80;

    /// <summary>False: ingest stores no pictures (the UI then shows boxes without images).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Throws <see cref="ValidationException"/> naming the first setting out of range.</summary>
    public void Validate() => Validator.ValidateObject(this, new ValidationContext(this), validateAllProperties: true);
}
