using System.Collections;
using System.Numerics;

namespace Lineup.Core.Indexing;

/// <summary>
/// The catalog face ids a filtered search may return: the answer of a search filter, handed to
/// <see cref="IVectorIndex.Search(ReadOnlySpan{float}, Span{VectorHit}, FaceKeySet)"/>. Immutable, so one set serves
/// concurrent searches.
/// </summary>
/// <remarks>
/// Face ids are dense autoincrement ids, so a set is stored in whichever of two forms is smaller: a sorted array of
/// ids (8 bytes per id, binary-search lookups) while it is sparse, a bitmap over ids 0..max (1 bit per id, O(1)
/// lookups) once it holds at least one id in 64. At 10M faces a set that passes half of them is a 1.25 MB bitmap
/// instead of a 40 MB array; a set of a few thousand ids stays a few kilobytes. The index calls
/// <see cref="Contains"/> once per graph node it visits, which is why lookups must not allocate or hash.
/// </remarks>
public sealed class FaceKeySet : IEnumerable<long>
{
    /// <summary>A bitmap costs max/8 bytes and an array 8 per id: the bitmap is smaller from one id in 64 on.</summary>
    private const int BitmapDensity = 64;

    private readonly long[]? _sorted;
    private readonly ulong[]? _bits;
    private readonly long _count;

    private FaceKeySet(long[]? sorted, ulong[]? bits, long count)
    {
        _sorted = sorted;
        _bits = bits;
        _count = count;
    }

    /// <summary>No restriction: every face passes (the answer to an empty filter).</summary>
    public static FaceKeySet All { get; } = new(null, null, -1);

    /// <summary>No face passes.</summary>
    public static FaceKeySet Empty { get; } = new([], null, 0);

    /// <summary>True for <see cref="All"/>: the search is not restricted and <see cref="Count"/> is undefined.</summary>
    public bool IsAll => _count < 0;

    /// <summary>How many ids pass.</summary>
    /// <exception cref="InvalidOperationException">The set is <see cref="All"/>.</exception>
    public long Count => _count >= 0
        ? _count
        : throw new InvalidOperationException("The unrestricted set has no count; check IsAll first.");

    /// <summary>True when the set is held as a bitmap (diagnostics and tests).</summary>
    public bool IsBitmap => _bits is not null;

    /// <summary>Builds a set from ids in any order; repeats are kept once.</summary>
    public static FaceKeySet FromKeys(ReadOnlySpan<long> keys)
    {
        var builder = new Builder();
        foreach (var key in keys)
        {
            builder.Add(key);
        }

        return builder.Build();
    }

    /// <summary>True when <paramref name="key"/> passes. Allocation-free; O(1) for a bitmap, O(log n) for an array.</summary>
    public bool Contains(long key)
    {
        if (_bits is { } bits)
        {
            var word = (ulong)key >> 6;
            return word < (ulong)bits.Length && (bits[word] & (1UL << (int)(key & 63))) != 0;
        }

        return _sorted is not { } sorted || sorted.AsSpan().BinarySearch(key) >= 0;
    }

    /// <summary>The ids in ascending order.</summary>
    /// <exception cref="InvalidOperationException">The set is <see cref="All"/>.</exception>
    public Enumerator GetEnumerator() => IsAll
        ? throw new InvalidOperationException("The unrestricted set cannot be enumerated; check IsAll first.")
        : new Enumerator(_sorted, _bits);

    IEnumerator<long> IEnumerable<long>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => IsAll ? "all faces" : $"{_count:N0} faces";

    /// <summary>Ascending ids of a <see cref="FaceKeySet"/>; a struct, so a <c>foreach</c> allocates nothing.</summary>
    public struct Enumerator : IEnumerator<long>
    {
        private readonly long[]? _sorted;
        private readonly ulong[]? _bits;
        private int _index;
        private ulong _word;

        internal Enumerator(long[]? sorted, ulong[]? bits)
        {
            _sorted = sorted;
            _bits = bits;
            _index = -1;
            _word = 0;
            Current = 0;
        }

        public long Current { get; private set; }

        readonly object IEnumerator.Current => Current;

        public bool MoveNext()
        {
            if (_bits is null)
            {
                if (_sorted is null || ++_index >= _sorted.Length)
                {
                    return false;
                }

                Current = _sorted[_index];
                return true;
            }

            while (_word == 0)
            {
                if (++_index >= _bits.Length)
                {
                    return false;
                }

                _word = _bits[_index];
            }

            Current = ((long)_index << 6) + BitOperations.TrailingZeroCount(_word);
            _word &= _word - 1;
            return true;
        }

        public void Reset()
        {
            _index = -1;
            _word = 0;
        }

        public readonly void Dispose()
        {
        }
    }

    /// <summary>
    /// Collects ids (any order, repeats allowed) and switches from an array to a bitmap as soon as the bitmap is the
    /// smaller, so collecting 10M ids never holds the 80 MB array.
    /// </summary>
    public sealed class Builder
    {
        private readonly long _maxKeyHint;
        private long[] _keys = [];
        private int _length;
        private long _maxKey = -1;
        private ulong[]? _bits;
        private long _bitCount;

        /// <param name="maxKeyHint">The largest id that may be added (for example the catalog's largest face id), or
        /// a negative number when unknown; it lets the builder choose the bitmap early.</param>
        public Builder(long maxKeyHint = -1)
        {
            _maxKeyHint = maxKeyHint;
        }

        public void Add(long key)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(key);
            if (_bits is not null)
            {
                SetBit(key);
                return;
            }

            if (_length == _keys.Length)
            {
                if (ShouldUseBitmap(_length + 1L, Math.Max(_maxKey, key)))
                {
                    ToBitmap();
                    SetBit(key);
                    return;
                }

                Array.Resize(ref _keys, Math.Max(16, _keys.Length * 2));
            }

            _keys[_length++] = key;
            _maxKey = Math.Max(_maxKey, key);
        }

        public FaceKeySet Build()
        {
            if (_bits is not null)
            {
                return new FaceKeySet(null, _bits, _bitCount);
            }

            var keys = _keys.AsSpan(0, _length);
            keys.Sort();
            var distinct = 0;
            for (var i = 0; i < keys.Length; i++)
            {
                if (i == 0 || keys[i] != keys[distinct - 1])
                {
                    keys[distinct++] = keys[i];
                }
            }

            if (distinct == 0)
            {
                return Empty;
            }

            if (ShouldUseBitmap(distinct, _maxKey))
            {
                ToBitmap();
                return new FaceKeySet(null, _bits, _bitCount);
            }

            return new FaceKeySet(keys[..distinct].ToArray(), null, distinct);
        }

        private bool ShouldUseBitmap(long count, long maxKey) =>
            count * BitmapDensity > Math.Max(maxKey, _maxKeyHint) + 1;

        private void ToBitmap()
        {
            _bits = new ulong[(Math.Max(_maxKey, _maxKeyHint) >> 6) + 1];
            foreach (var key in _keys.AsSpan(0, _length))
            {
                SetBit(key);
            }

            _keys = [];
            _length = 0;
        }

        private void SetBit(long key)
        {
            if ((key >> 6) >= Array.MaxLength)
            {
                throw new ArgumentOutOfRangeException(nameof(key), key, "Face ids beyond 2^36 cannot be held in a bitmap.");
            }

            var word = (int)(key >> 6);
            if (word >= _bits!.Length)
            {
                Array.Resize(ref _bits, Math.Max(word + 1, _bits.Length * 2));
            }

            var mask = 1UL << (int)(key & 63);
            if ((_bits[word] & mask) == 0)
            {
                _bits[word] |= mask;
                _bitCount++;
            }
        }
    }
}
