namespace Lineup.Core.Imaging;

/// <summary>Container formats recognised by content sniffing (never by file name).</summary>
public enum ImageFormat
{
    Unknown = 0,
    Jpeg,
    Png,
    WebP,
    Gif,
    Bmp,
}

/// <summary>What the header of an encoded image says, read before any pixel is decoded.</summary>
/// <param name="Width">Width after EXIF orientation is applied.</param>
/// <param name="Height">Height after EXIF orientation is applied.</param>
public readonly record struct ImageInfo(ImageFormat Format, int Width, int Height, long ByteLength);

/// <summary>Budgets an encoded image must fit before it is decoded.</summary>
public sealed record DecodeLimits
{
    public static DecodeLimits Default { get; } = new();

    /// <summary>Largest encoded file accepted, in bytes.</summary>
    public long MaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Largest pixel count (width × height) the header may claim.</summary>
    public long MaxPixels { get; init; } = 100_000_000;

    /// <summary>
    /// Longest side the decoded buffer needs; larger images are decoded at a reduced size (JPEG decodes
    /// directly at 1/2, 1/4 or 1/8 scale). 0 decodes at full size.
    /// </summary>
    public int MaxDecodedSide { get; init; } = 2560;
}

/// <summary>A decoded, upright image and the scale from original pixels to buffer pixels.</summary>
public sealed class DecodedImage(ImageBuffer image, ImageInfo info, float scale) : IDisposable
{
    public ImageBuffer Image { get; } = image;

    /// <summary>The original's format and upright dimensions.</summary>
    public ImageInfo Info { get; } = info;

    /// <summary>Buffer pixels per original pixel (1 when decoded at full size, 0.5 at half size).</summary>
    public float Scale { get; } = scale;

    public void Dispose() => Image.Dispose();
}

/// <summary>Decodes untrusted encoded images safely.</summary>
public interface IImageDecoder
{
    /// <summary>Reads the header only. Throws <see cref="ImageRejectedException"/> when the input is not acceptable.</summary>
    ImageInfo Probe(ReadOnlySpan<byte> encoded, DecodeLimits limits);

    /// <summary>Decodes to upright RGB. Throws <see cref="ImageRejectedException"/> on any bad input.</summary>
    DecodedImage Decode(ReadOnlySpan<byte> encoded, DecodeLimits limits);
}

/// <summary>Why an input image was refused.</summary>
public enum ImageRejection
{
    Empty,
    UnknownFormat,
    TooManyBytes,
    TooManyPixels,
    Corrupt,
}

/// <summary>An input image that cannot be used; the message names the reason in words a user understands.</summary>
public sealed class ImageRejectedException(ImageRejection reason, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public ImageRejection Reason { get; } = reason;
}
