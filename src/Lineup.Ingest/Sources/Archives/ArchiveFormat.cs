namespace Lineup.Ingest.Sources.Archives;

/// <summary>The containers <see cref="ArchiveSource"/> reads, told by their first bytes.</summary>
internal enum ArchiveFormat
{
    Zip,
    Tar,

    /// <summary>A tar inside gzip, bzip2, xz, zstd or lzip: SharpCompress's tar reader unwraps all of them.</summary>
    CompressedTar,
}

internal static class ArchiveFormats
{
    /// <summary>Bytes to read from the start of a file for <see cref="Detect"/>.</summary>
    public const int HeadLength = 512;

    private static ReadOnlySpan<byte> GZip => [0x1F, 0x8B];

    private static ReadOnlySpan<byte> Xz => [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];

    private static ReadOnlySpan<byte> Zstd => [0x28, 0xB5, 0x2F, 0xFD];

    public static ArchiveFormat? Detect(ReadOnlySpan<byte> head)
    {
        // A local file header, or the end record alone (an empty zip).
        if (head.StartsWith("PK\x03\x04"u8) || head.StartsWith("PK\x05\x06"u8))
        {
            return ArchiveFormat.Zip;
        }

        if (head.StartsWith(GZip) || head.StartsWith("BZh"u8) || head.StartsWith(Xz) || head.StartsWith(Zstd) || head.StartsWith("LZIP"u8))
        {
            return ArchiveFormat.CompressedTar;
        }

        // POSIX ustar and GNU tar both put "ustar" at 257; pre-POSIX v7 tars have no signature and are not read.
        if (head.Length >= 262 && head.Slice(257, 5).SequenceEqual("ustar"u8))
        {
            return ArchiveFormat.Tar;
        }

        return null;
    }
}
