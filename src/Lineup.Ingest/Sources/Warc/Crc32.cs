using System.Buffers.Binary;

namespace Lineup.Ingest.Sources.Warc;

/// <summary>
/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum in every gzip member trailer
/// (RFC 1952 §2.3.1). Slicing-by-8: eight table lookups per 8 input bytes. The BCL has this only in the
/// System.IO.Hashing package, which the project does not reference.
/// </summary>
internal static class Crc32
{
    private static readonly uint[] s_table = BuildTable();

    /// <summary>Continues <paramref name="crc"/> (0 for a fresh checksum) over <paramref name="bytes"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> bytes)
    {
        var table = s_table;
        var c = ~crc;
        while (bytes.Length >= 8)
        {
            var one = BinaryPrimitives.ReadUInt32LittleEndian(bytes) ^ c;
            var two = BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]);
            c = table[(7 * 256) + (one & 0xFF)] ^ table[(6 * 256) + ((one >> 8) & 0xFF)]
                ^ table[(5 * 256) + ((one >> 16) & 0xFF)] ^ table[(4 * 256) + (one >> 24)]
                ^ table[(3 * 256) + (two & 0xFF)] ^ table[(2 * 256) + ((two >> 8) & 0xFF)]
                ^ table[256 + ((two >> 16) & 0xFF)] ^ table[two >> 24];
            bytes = bytes[8..];
        }

        foreach (var b in bytes)
        {
            c = table[(c ^ b) & 0xFF] ^ (c >> 8);
        }

        return ~c;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        for (var i = 0; i < 256; i++)
        {
            for (var slice = 1; slice < 8; slice++)
            {
                var previous = table[((slice - 1) * 256) + i];
                table[(slice * 256) + i] = table[previous & 0xFF] ^ (previous >> 8);
            }
        }

        return table;
    }
}
