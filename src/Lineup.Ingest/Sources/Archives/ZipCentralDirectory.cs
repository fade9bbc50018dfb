using System.Buffers.Binary;
using System.Text;

namespace Lineup.Ingest.Sources.Archives;

/// <summary>One member as the zip central directory describes it.</summary>
internal readonly record struct ZipDirectoryEntry(string Name, long Size, bool IsDirectory, bool IsRegular);

/// <summary>
/// Reads the zip central directory (APPNOTE 6.3.10 sections 4.3.12 to 4.3.16, with the zip64 records). The
/// forward-only reader sees only local headers, which carry no file type, so symbolic links (a Unix mode in the
/// central directory's external attributes) can only be told from here; the directory also counts members
/// without decompressing anything. A truncated zip has no central directory: callers then stream without it.
/// </summary>
internal static class ZipCentralDirectory
{
    private const uint EndSignature = 0x06054B50;
    private const uint Zip64LocatorSignature = 0x07064B50;
    private const uint Zip64EndSignature = 0x06064B50;
    private const uint EntrySignature = 0x02014B50;
    private const int EndLength = 22;
    private const int MaxCommentLength = ushort.MaxValue;

    /// <summary>The members listed in the central directory, or null when there is no intact one.</summary>
    public static List<ZipDirectoryEntry>? TryRead(Stream file, Func<ZipDirectoryEntry, bool> keep)
    {
        try
        {
            return Read(file, keep);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or ArgumentException)
        {
            return null;
        }
    }

    private static List<ZipDirectoryEntry>? Read(Stream file, Func<ZipDirectoryEntry, bool> keep)
    {
        if (FindEnd(file) is not { } end)
        {
            return null;
        }

        file.Position = end.Offset;
        var kept = new List<ZipDirectoryEntry>();

        // Not disposed: disposing a BufferedStream would close the file, which belongs to the caller.
        var reader = new BufferedStream(file, 64 * 1024);
        Span<byte> fixedPart = stackalloc byte[46];
        for (long i = 0; i < end.Count; i++)
        {
            reader.ReadExactly(fixedPart);
            if (BinaryPrimitives.ReadUInt32LittleEndian(fixedPart) != EntrySignature)
            {
                return null;
            }

            var madeBy = fixedPart[5];
            long size = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart[24..]);
            var nameLength = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[28..]);
            var extraLength = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[30..]);
            var commentLength = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[32..]);
            var external = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart[38..]);
            var nameBytes = new byte[nameLength];
            reader.ReadExactly(nameBytes);
            var extra = new byte[extraLength];
            reader.ReadExactly(extra);
            reader.Seek(commentLength, SeekOrigin.Current);
            if (size == uint.MaxValue)
            {
                size = Zip64Size(extra) ?? size;
            }

            // SharpCompress is told to read every name as UTF-8 too, so the two spellings match.
            var name = Encoding.UTF8.GetString(nameBytes);
            var isDirectory = name.EndsWith('/') || (external & 0x10) != 0;
            var isRegular = true;
            if (madeBy is 3 or 19)
            {
                // Made on Unix or macOS: the high 16 bits are st_mode.
                var type = (external >> 16) & 0xF000;
                isDirectory |= type == 0x4000;
                isRegular = type is 0 or 0x8000 or 0x4000;
            }

            var entry = new ZipDirectoryEntry(name, size, isDirectory, isRegular);
            if (keep(entry))
            {
                kept.Add(entry);
            }
        }

        return kept;
    }

    private static long? Zip64Size(byte[] extra)
    {
        var span = extra.AsSpan();
        while (span.Length >= 4)
        {
            var id = BinaryPrimitives.ReadUInt16LittleEndian(span);
            var length = BinaryPrimitives.ReadUInt16LittleEndian(span[2..]);
            if (span.Length < 4 + length)
            {
                return null;
            }

            // The zip64 extended field lists the uncompressed size first when the main field is 0xFFFFFFFF.
            if (id == 0x0001 && length >= 8)
            {
                return BinaryPrimitives.ReadInt64LittleEndian(span[4..]);
            }

            span = span[(4 + length)..];
        }

        return null;
    }

    private readonly record struct DirectoryEnd(long Offset, long Count);

    private static DirectoryEnd? FindEnd(Stream file)
    {
        var length = file.Length;
        if (length < EndLength)
        {
            return null;
        }

        var tailLength = (int)Math.Min(length, EndLength + MaxCommentLength);
        var tail = new byte[tailLength];
        file.Position = length - tailLength;
        file.ReadExactly(tail);
        for (var i = tailLength - EndLength; i >= 0; i--)
        {
            var record = tail.AsSpan(i);
            if (BinaryPrimitives.ReadUInt32LittleEndian(record) != EndSignature
                || i + EndLength + BinaryPrimitives.ReadUInt16LittleEndian(record[20..]) > tailLength)
            {
                continue;
            }

            long count = BinaryPrimitives.ReadUInt16LittleEndian(record[10..]);
            long offset = BinaryPrimitives.ReadUInt32LittleEndian(record[16..]);
            var endPosition = length - tailLength + i;
            if (count == ushort.MaxValue || offset == uint.MaxValue)
            {
                return FindZip64End(file, endPosition);
            }

            return offset < endPosition ? new DirectoryEnd(offset, count) : null;
        }

        return null;
    }

    private static DirectoryEnd? FindZip64End(Stream file, long endPosition)
    {
        if (endPosition < 20)
        {
            return null;
        }

        Span<byte> locator = stackalloc byte[20];
        file.Position = endPosition - 20;
        file.ReadExactly(locator);
        if (BinaryPrimitives.ReadUInt32LittleEndian(locator) != Zip64LocatorSignature)
        {
            return null;
        }

        var recordPosition = BinaryPrimitives.ReadInt64LittleEndian(locator[8..]);
        if (recordPosition < 0 || recordPosition > endPosition - 56)
        {
            return null;
        }

        Span<byte> record = stackalloc byte[56];
        file.Position = recordPosition;
        file.ReadExactly(record);
        if (BinaryPrimitives.ReadUInt32LittleEndian(record) != Zip64EndSignature)
        {
            return null;
        }

        var count = BinaryPrimitives.ReadInt64LittleEndian(record[32..]);
        var offset = BinaryPrimitives.ReadInt64LittleEndian(record[48..]);
        return offset >= 0 && offset < recordPosition && count >= 0 ? new DirectoryEnd(offset, count) : null;
    }
}
