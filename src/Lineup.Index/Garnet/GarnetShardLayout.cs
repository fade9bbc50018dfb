using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;

namespace Lineup.Index.Garnet;

/// <summary>
/// Where faces live in the cluster: K vector-set keys, one per shard, and a fixed hash from face id to shard.
/// </summary>
/// <remarks>
/// <para>
/// Shard <c>s</c>'s key carries a hash tag chosen so that its slot falls in the s-th of K equal parts of the 16,384
/// slots (the first tag <c>s{s}-{n}</c>, n = 0, 1, …, whose CRC16 slot lands there). On a cluster whose P primaries hold
/// equal contiguous slot ranges (what <c>scripts/garnet-cluster.sh</c> and <c>redis-cli --cluster create</c> build),
/// shards 0..K/P-1 sit on the first primary, the next K/P on the second, and so on: an even spread whenever P divides K.
/// </para>
/// <para>
/// The tags depend on K alone, never on the live topology: a key name chosen from the current slot owners would change
/// after a reshard or failover and orphan the shard's data under its old name. A reshard moves the keys with their slots
/// instead, and <see cref="GarnetVectorIndex.ShardStatusAsync"/> shows where each shard ended up.
/// </para>
/// <para>
/// Face → shard is <c>XxHash3(id as 8 little-endian bytes, seed 0) mod K</c>: specified, so every process and version
/// agrees, and well mixed for sequential ids. Changing K re-deals every face: the index must then be rebuilt.
/// </para>
/// </remarks>
public sealed class GarnetShardLayout
{
    public const int SlotCount = 16384;

    private readonly string[] _keys;
    private readonly string[] _stagingKeys;
    private readonly int[] _slots;

    public GarnetShardLayout(string keyPrefix, int shards)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyPrefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(shards, SlotCount);
        if (keyPrefix.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            throw new ArgumentException("The key prefix may not contain '{' or '}': the shard's hash tag must be the key's first.", nameof(keyPrefix));
        }

        KeyPrefix = keyPrefix;
        Shards = shards;
        _keys = new string[shards];
        _stagingKeys = new string[shards];
        _slots = new int[shards];
        for (var s = 0; s < shards; s++)
        {
            var first = (int)((long)s * SlotCount / shards);
            var end = (int)((long)(s + 1) * SlotCount / shards);
            for (var n = 0; ; n++)
            {
                var tag = string.Create(CultureInfo.InvariantCulture, $"s{s}-{n}");
                var slot = HashSlot(tag);
                if (slot >= first && slot < end)
                {
                    _keys[s] = $"{keyPrefix}:{{{tag}}}";
                    _stagingKeys[s] = $"{keyPrefix}:{{{tag}}}:repopulating";
                    _slots[s] = slot;
                    break;
                }
            }
        }
    }

    public string KeyPrefix { get; }

    public int Shards { get; }

    /// <summary>The vector-set key of a shard, e.g. <c>lineup:faces:{s0-12}</c>.</summary>
    public string KeyOf(int shard) => _keys[shard];

    /// <summary>Where <see cref="GarnetVectorIndex.RepopulateShardAsync"/> builds a shard before renaming it over the live key (same slot).</summary>
    public string StagingKeyOf(int shard) => _stagingKeys[shard];

    public int SlotOf(int shard) => _slots[shard];

    public int ShardOf(long faceId)
    {
        Span<byte> bytes = stackalloc byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, faceId);
        return (int)(XxHash3.HashToUInt64(bytes) % (ulong)Shards);
    }

    /// <summary>The Redis cluster hash slot of a key: CRC16 (XMODEM) of the hash tag, or of the whole key without one, mod 16384.</summary>
    public static int HashSlot(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var bytes = Encoding.UTF8.GetBytes(key);
        ReadOnlySpan<byte> hashed = bytes;
        var open = hashed.IndexOf((byte)'{');
        if (open >= 0)
        {
            var close = hashed[(open + 1)..].IndexOf((byte)'}');
            if (close > 0)
            {
                hashed = hashed.Slice(open + 1, close);
            }
        }

        return Crc16(hashed) % SlotCount;
    }

    /// <summary>CRC-16/XMODEM (polynomial 0x1021, initial 0), as in the Redis cluster specification.</summary>
    private static int Crc16(ReadOnlySpan<byte> data)
    {
        var crc = 0;
        foreach (var b in data)
        {
            crc ^= b << 8;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }
        }

        return crc & 0xFFFF;
    }
}
