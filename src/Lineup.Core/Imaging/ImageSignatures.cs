using System.Buffers.Binary;

namespace Lineup.Core.Imaging;

/// <summary>
/// Tells the formats Lineup decodes apart by their first bytes (never by a file name or a declared type).
/// Shared by the decoder, which refuses anything else before a native codec sees it, and by sources that
/// must recognise untyped payloads (a WARC record served as <c>application/octet-stream</c>).
/// </summary>
public static class ImageSignatures
{
    /// <summary>Bytes to look at to recognise every format here.</summary>
    public const int PeekBytes = 18;

    private static ReadOnlySpan<byte> Png => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    public static ImageFormat Sniff(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
        {
            return ImageFormat.Jpeg;
        }

        if (head.StartsWith(Png))
        {
            return ImageFormat.Png;
        }

        if (head.Length >= 12 && head.StartsWith("RIFF"u8) && head.Slice(8, 4).SequenceEqual("WEBP"u8))
        {
            return ImageFormat.WebP;
        }

        if (head.StartsWith("GIF87a"u8) || head.StartsWith("GIF89a"u8))
        {
            return ImageFormat.Gif;
        }

        // "BM" alone is too weak (text starts so): the DIB header size must be one that exists.
        return head.Length >= 18 && head.StartsWith("BM"u8)
            && BinaryPrimitives.ReadUInt32LittleEndian(head[14..]) is 12 or 40 or 52 or 56 or 64 or 108 or 124
                ? ImageFormat.Bmp
                : ImageFormat.Unknown;
    }
}
