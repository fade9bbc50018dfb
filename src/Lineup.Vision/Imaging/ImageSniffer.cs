using System.Buffers.Binary;
using Lineup.Core.Imaging;

namespace Lineup.Vision.Imaging;

/// <summary>
/// Recognises a container by its magic bytes (<see cref="ImageSignatures"/>, never the file name) and, for the
/// formats whose size sits at a fixed offset, reads the claimed dimensions without any decoder: a hostile header is refused before a native
/// codec sees it.
/// </summary>
internal static class ImageSniffer
{
    public static ImageFormat Sniff(ReadOnlySpan<byte> data) => ImageSignatures.Sniff(data);

    /// <summary>
    /// The stored (not yet EXIF-rotated) dimensions a PNG, GIF or BMP header claims; null for formats whose size
    /// needs a parser (JPEG, WebP: the codec reads those headers without decoding pixels) or a header too short.
    /// </summary>
    public static (long Width, long Height)? ClaimedSize(ImageFormat format, ReadOnlySpan<byte> data) => format switch
    {
        // Signature (8), IHDR length (4), "IHDR" (4), width (4, big-endian), height (4).
        ImageFormat.Png when data.Length >= 24 && data.Slice(12, 4).SequenceEqual("IHDR"u8) =>
            (BinaryPrimitives.ReadUInt32BigEndian(data.Slice(16, 4)), BinaryPrimitives.ReadUInt32BigEndian(data.Slice(20, 4))),
        // Logical screen width and height, little-endian, after the 6-byte signature.
        ImageFormat.Gif when data.Length >= 10 =>
            (BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(6, 2)), BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(8, 2))),
        // BITMAPINFOHEADER (or larger): width and height (negative = top-down) at offsets 18 and 22.
        ImageFormat.Bmp when data.Length >= 26 && BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(14, 4)) >= 40 =>
            (Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(data.Slice(18, 4))),
             Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(data.Slice(22, 4)))),
        _ => null,
    };

    public static string Name(ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => "JPEG",
        ImageFormat.Png => "PNG",
        ImageFormat.WebP => "WebP",
        ImageFormat.Gif => "GIF",
        ImageFormat.Bmp => "BMP",
        _ => "unknown",
    };
}
