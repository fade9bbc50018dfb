using System.Numerics;
using System.Runtime.CompilerServices;

namespace Lineup.Core.Imaging;

/// <summary>
/// In-memory lookup from a <see cref="PerceptualHash"/> to the closest catalogued image within a Hamming
/// radius, without scanning every image: multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in
/// Hamming Space with Multi-Index Hashing", CVPR 2012). The 64 bits are cut into 4 bands of 16; each band
/// has a table from its 16-bit value to the images carrying it. If two hashes are within distance t, then by
/// pigeonhole at least one band differs in at most ⌊t / 4⌋ bits (otherwise the total would be at least
/// 4·(⌊t / 4⌋ + 1) &gt; t), so a lookup probes, in each band, every value within ⌊t / 4⌋ bits of the query's
/// and checks each image found there by its full distance. At the default t = 2 that is one exact value
/// per band: four table reads.
/// </summary>
/// <remarks>
/// <para>
/// Cost: a lookup checks the images in 4·Σᵢ₌₀^⌊t/4⌋ C(16, i) of the 4 × 65,536 buckets, kept as contiguous
/// arrays of hashes. For evenly spread bits that is 1/16,384 of the catalogue at t ≤ 3 (1/120 at t = 10);
/// perceptual hashes are less even, and the band values of the shared photo set collide about 5 times as
/// often, so expect about 1/3,000 of the catalogue (3,000 popcounts at 10 million images). With a million
/// random hashes a lookup takes about 3 µs and an image about 110 bytes (64 of data, the rest the slack of
/// buckets that grow by doubling). Cutting the hash into t + 1 bands so
/// that one band must match exactly would need no probing, but at t = 10 a band would hold 5 or 6 bits and
/// a lookup would check a sixth of the catalogue.
/// </para>
/// <para>
/// Thread safety: <see cref="Add"/> may be called from any thread; adds are serialised by a lock (one
/// writer at a time). <see cref="TryFind"/> and <see cref="Count"/> take no lock and may run on any number of
/// threads at the same time as an add: a lookup sees every image whose <see cref="Add"/> returned before the
/// lookup started, and may or may not see one being added meanwhile. Nothing is ever moved or overwritten
/// once a reader can reach it: a bucket that needs to grow is copied and the copy published, and entries live
/// in fixed-size chunks.
/// </para>
/// <para>
/// The index is derived data (the catalogue keeps each image's hash): it has no removal, and is rebuilt
/// from the catalogue after an erasure. Adding an image id twice keeps both entries.
/// </para>
/// </remarks>
public sealed class NearDuplicateIndex
{
    /// <summary>
    /// Largest ratio between two aspect ratios (width / height) that still agree: 1.05 allows 5 %. Resizing
    /// changes a ratio only by rounding (at most 0.6 % for the 50 % and 25 % copies measured, under 2 % for
    /// any copy at least 64 pixels a side); a crop to another shape, added borders or a 90° rotation change
    /// it by more, and common formats differ by 11 % or more (16:10 against 16:9, 4:3 against 3:2).
    /// </summary>
    public const float AspectRatioTolerance = 1.05f;

    private const int Bands = 4;
    private const int BandBits = 64 / Bands;
    private const int KeysPerBand = 1 << BandBits;
    private const int ChunkShift = 14;
    private const int ChunkSize = 1 << ChunkShift;

    private readonly object _writeGate = new();
    private readonly int _maxDistance;
    private readonly int _bandRadius;

    /// <summary>Per band, per 16-bit value: the images whose hash has that value in that band.</summary>
    private readonly Bucket?[][] _buckets;

    /// <summary>Entries in insertion order, in chunks that never move; the outer array is replaced when it grows.</summary>
    private Entry[]?[] _chunks = [];
    private int _count;

    /// <summary>An index answering within <see cref="PerceptualHash.NearDuplicateDistance"/>.</summary>
    public NearDuplicateIndex()
        : this(PerceptualHash.NearDuplicateDistance)
    {
    }

    /// <param name="maxDistance">Largest Hamming distance a lookup reports, 0 to 24 (the probe count grows quickly beyond).</param>
    public NearDuplicateIndex(int maxDistance)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDistance);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxDistance, 24);
        _maxDistance = maxDistance;
        _bandRadius = maxDistance / Bands;
        _buckets = new Bucket?[Bands][];
        for (var b = 0; b < Bands; b++)
        {
            _buckets[b] = new Bucket?[KeysPerBand];
        }
    }

    /// <summary>Number of images added.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Largest Hamming distance a lookup reports.</summary>
    public int MaxDistance => _maxDistance;

    /// <summary>Catalogues an image.</summary>
    /// <param name="aspectRatio">Width / height of the original image (upright).</param>
    public void Add(long imageId, ulong hash, float aspectRatio)
    {
        CheckAspectRatio(aspectRatio);
        lock (_writeGate)
        {
            var index = _count;
            var chunks = _chunks;
            var chunk = index >> ChunkShift;
            if ((index & (ChunkSize - 1)) == 0)
            {
                if (chunk == chunks.Length)
                {
                    // Readers holding the old table only look up entries it already reaches.
                    var grown = new Entry[]?[Math.Max(4, chunks.Length * 2)];
                    chunks.CopyTo(grown, 0);
                    Volatile.Write(ref _chunks, grown);
                    chunks = grown;
                }

                chunks[chunk] = new Entry[ChunkSize];
            }

            chunks[chunk]![index & (ChunkSize - 1)] = new Entry(imageId, aspectRatio);
            for (var b = 0; b < Bands; b++)
            {
                ref var slot = ref _buckets[b][BandKey(hash, b)];
                if (slot is null || !slot.TryAppend(hash, index))
                {
                    Volatile.Write(ref slot, Bucket.Grown(slot, hash, index));
                }
            }

            Volatile.Write(ref _count, index + 1);
        }
    }

    /// <summary>
    /// The closest catalogued image within <see cref="MaxDistance"/> whose aspect ratio agrees within
    /// <see cref="AspectRatioTolerance"/>; among equally close images, the one added first.
    /// </summary>
    public bool TryFind(ulong hash, float aspectRatio, out long imageId, out int distance)
    {
        CheckAspectRatio(aspectRatio);
        var best = -1;
        var bestDistance = int.MaxValue;
        for (var b = 0; b < Bands; b++)
        {
            var buckets = _buckets[b];
            var key = BandKey(hash, b);
            for (var weight = 0; weight <= _bandRadius; weight++)
            {
                // Every 16-bit mask with `weight` bits set, in increasing order (Gosper's hack).
                var mask = (1 << weight) - 1;
                while (mask < KeysPerBand)
                {
                    if (Volatile.Read(ref buckets[key ^ mask]) is { } bucket)
                    {
                        Scan(bucket, hash, aspectRatio, ref best, ref bestDistance);
                    }

                    if (mask == 0)
                    {
                        break;
                    }

                    var lowest = mask & -mask;
                    var ripple = mask + lowest;
                    mask = ripple | (((mask ^ ripple) >> 2) / lowest);
                }
            }
        }

        if (best < 0)
        {
            imageId = 0;
            distance = -1;
            return false;
        }

        imageId = EntryAt(best).ImageId;
        distance = bestDistance;
        return true;
    }

    /// <summary>Whether two aspect ratios (width / height) agree within <see cref="AspectRatioTolerance"/>.</summary>
    public static bool AspectRatiosAgree(float a, float b) =>
        Math.Max(a, b) <= Math.Min(a, b) * AspectRatioTolerance;

    private void Scan(Bucket bucket, ulong hash, float aspectRatio, ref int best, ref int bestDistance)
    {
        var count = Volatile.Read(ref bucket.Count);
        var hashes = bucket.Hashes.AsSpan(0, count);
        var entries = bucket.Entries;
        for (var i = 0; i < hashes.Length; i++)
        {
            var d = BitOperations.PopCount(hashes[i] ^ hash);
            if (d > _maxDistance || d > bestDistance)
            {
                continue;
            }

            var index = entries[i];
            if ((d == bestDistance && index >= best) || !AspectRatiosAgree(EntryAt(index).AspectRatio, aspectRatio))
            {
                continue;
            }

            best = index;
            bestDistance = d;
        }
    }

    /// <summary>Reads the chunk table after the bucket that named the entry, so the entry's chunk is in it.</summary>
    private ref readonly Entry EntryAt(int index) =>
        ref Volatile.Read(ref _chunks)[index >> ChunkShift]![index & (ChunkSize - 1)];

    private static void CheckAspectRatio(float aspectRatio, [CallerArgumentExpression(nameof(aspectRatio))] string? name = null)
    {
        if (!float.IsFinite(aspectRatio) || aspectRatio <= 0)
        {
            throw new ArgumentOutOfRangeException(name, aspectRatio, "The aspect ratio must be a positive, finite width / height.");
        }
    }

    private static int BandKey(ulong hash, int band) => (int)((hash >> (band * BandBits)) & (KeysPerBand - 1));

    private readonly record struct Entry(long ImageId, float AspectRatio);

    /// <summary>
    /// Hashes (kept beside the entry numbers so a scan reads one contiguous array) of the images sharing
    /// one band value. Slots below <see cref="Count"/> never change; a full bucket is replaced by a copy.
    /// </summary>
    private sealed class Bucket(ulong[] hashes, int[] entries, int count)
    {
        public readonly ulong[] Hashes = hashes;
        public readonly int[] Entries = entries;
        public int Count = count;

        public bool TryAppend(ulong hash, int entry)
        {
            var n = Count;
            if (n == Hashes.Length)
            {
                return false;
            }

            Hashes[n] = hash;
            Entries[n] = entry;
            Volatile.Write(ref Count, n + 1);
            return true;
        }

        public static Bucket Grown(Bucket? old, ulong hash, int entry)
        {
            var n = old?.Count ?? 0;
            var capacity = Math.Max(4, n * 2);
            var hashes = new ulong[capacity];
            var entries = new int[capacity];
            if (old is not null)
            {
                old.Hashes.AsSpan(0, n).CopyTo(hashes);
                old.Entries.AsSpan(0, n).CopyTo(entries);
            }

            hashes[n] = hash;
            entries[n] = entry;
            return new Bucket(hashes, entries, n + 1);
        }
    }
}
