using System.Buffers.Binary;

namespace Lineup.Ingest.Sources.Warc;

/// <summary>Recognises the formats the decoder reads by their first bytes, for payloads served without a useful type.</summary>
internal static class ImageSignature
{
    /// <summary>Bytes to peek to recognise every format here.</summary>
    public const int PeekBytes = 18;

    public static bool Matches(ReadOnlySpan<byte> head) =>
        head.StartsWith([(byte)0xFF, (byte)0xD8, (byte)0xFF])
        || head.StartsWith([(byte)0x89, (byte)'P', (byte)'N', (byte)'G', (byte)0x0D, (byte)0x0A, (byte)0x1A, (byte)0x0A])
        || head.StartsWith("GIF87a"u8)
        || head.StartsWith("GIF89a"u8)
        || (head.Length >= 12 && head.StartsWith("RIFF"u8) && head[8..12].SequenceEqual("WEBP"u8))
        || IsBmp(head);

    /// <summary>"BM" alone is too weak (text starts so): the DIB header size must be one that exists.</summary>
    private static bool IsBmp(ReadOnlySpan<byte> head) =>
        head.Length >= 18 && head.StartsWith("BM"u8)
        && BinaryPrimitives.ReadUInt32LittleEndian(head[14..]) is 12 or 40 or 52 or 56 or 64 or 108 or 124;
}
