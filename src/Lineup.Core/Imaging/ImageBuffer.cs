using System.Buffers;

namespace Lineup.Core.Imaging;

/// <summary>
/// A decoded image as tightly packed 8-bit RGB rows (stride = 3 × width), backed by a pooled array.
/// Core owns this type so that no image-library type leaks into the capability interfaces.
/// </summary>
public sealed class ImageBuffer : IDisposable
{
    public const int Channels = 3;

    private byte[]? _pixels;

    private ImageBuffer(int width, int height, byte[] pixels)
    {
        Width = width;
        Height = height;
        _pixels = pixels;
    }

    public int Width { get; }

    public int Height { get; }

    public int Stride => Width * Channels;

    /// <summary>All pixels, row-major RGB.</summary>
    public Span<byte> Pixels => _pixels is { } p
        ? p.AsSpan(0, Stride * Height)
        : throw new ObjectDisposedException(nameof(ImageBuffer));

    public Span<byte> Row(int y) => Pixels.Slice(y * Stride, Stride);

    /// <summary>Rents a buffer of the given size from the shared pool; contents are unspecified.</summary>
    public static ImageBuffer Rent(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        return new ImageBuffer(width, height, ArrayPool<byte>.Shared.Rent(checked(width * height * Channels)));
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _pixels, null) is { } p)
        {
            ArrayPool<byte>.Shared.Return(p);
        }
    }
}
