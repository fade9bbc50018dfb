using System.Numerics.Tensors;
using Lineup.Core.Indexing;

namespace Lineup.Index;

/// <summary>
/// Brute-force cosine search: the reference every approximate index is measured against (recall@k), and a sound
/// choice for small galleries. Vectors are stored normalised, row after row in one array, so a search is a linear
/// pass of <see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/> over contiguous memory.
/// Searches run concurrently; adds and removes take an exclusive lock.
/// </summary>
public sealed class ExactVectorIndex : IVectorIndex
{
    /// <summary>Walk the allowed keys when there are at least this many rows per allowed key.</summary>
    private const int SetWalkAdvantage = 4;

    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly Dictionary<long, int> _slots = [];
    private float[] _vectors;
    private long[] _keys;
    private int _count;

    public ExactVectorIndex(int dimensions, int initialCapacity = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        Dimensions = dimensions;
        initialCapacity = Math.Max(initialCapacity, 16);
        _vectors = new float[(long)initialCapacity * dimensions];
        _keys = new long[initialCapacity];
    }

    public int Dimensions { get; }

    public long Count
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _count;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>Adds or replaces one vector (stored normalised).</summary>
    public void Add(long key, ReadOnlySpan<float> vector)
    {
        VectorChecks.Vector(vector, Dimensions, nameof(vector));
        _lock.EnterWriteLock();
        try
        {
            AddCore(key, vector);
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    public void AddRange(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors)
    {
        VectorChecks.Batch(keys, vectors, Dimensions);
        _lock.EnterWriteLock();
        try
        {
            EnsureCapacity(_count + keys.Length);
            for (var i = 0; i < keys.Length; i++)
            {
                AddCore(keys[i], vectors.Slice(i * Dimensions, Dimensions));
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Removes a key by moving the last row into its slot, keeping storage dense.</summary>
    public bool Remove(long key)
    {
        _lock.EnterWriteLock();
        try
        {
            if (!_slots.Remove(key, out var slot))
            {
                return false;
            }

            var last = _count - 1;
            if (slot != last)
            {
                Row(last).CopyTo(Row(slot));
                _keys[slot] = _keys[last];
                _slots[_keys[slot]] = slot;
            }

            _count = last;
            return true;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    public bool Contains(long key)
    {
        _lock.EnterReadLock();
        try
        {
            return _slots.ContainsKey(key);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    public int Search(ReadOnlySpan<float> query, Span<VectorHit> results)
    {
        VectorChecks.Vector(query, Dimensions, nameof(query));
        if (results.IsEmpty)
        {
            return 0;
        }

        var norm = TensorPrimitives.Norm(query);
        var top = new TopHits(results);
        _lock.EnterReadLock();
        try
        {
            var vectors = _vectors.AsSpan(0, _count * Dimensions);
            for (var i = 0; i < _count; i++)
            {
                // Stored rows are unit length, so dot / |query| is the cosine.
                var similarity = TensorPrimitives.Dot(vectors.Slice(i * Dimensions, Dimensions), query) / norm;
                if (similarity >= top.Threshold)
                {
                    top.Offer(_keys[i], similarity);
                }
            }
        }
        finally
        {
            _lock.ExitReadLock();
        }

        return top.Complete();
    }

    /// <summary>
    /// Exact top-k among <paramref name="allowed"/>. A small set is walked key by key through the slot map; a large one
    /// is tested row by row during the usual scan (a bitmap test costs less than the dot product it saves).
    /// </summary>
    public int Search(ReadOnlySpan<float> query, Span<VectorHit> results, FaceKeySet allowed)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        if (allowed.IsAll)
        {
            return Search(query, results);
        }

        VectorChecks.Vector(query, Dimensions, nameof(query));
        if (results.IsEmpty || allowed.Count == 0)
        {
            return 0;
        }

        var norm = TensorPrimitives.Norm(query);
        var top = new TopHits(results);
        _lock.EnterReadLock();
        try
        {
            var vectors = _vectors.AsSpan(0, _count * Dimensions);

            // A dictionary probe costs a few row-scan steps, so walking the set pays when it is well under the row count.
            if (allowed.Count * SetWalkAdvantage < _count)
            {
                foreach (var key in allowed)
                {
                    if (_slots.TryGetValue(key, out var slot))
                    {
                        var similarity = TensorPrimitives.Dot(vectors.Slice(slot * Dimensions, Dimensions), query) / norm;
                        if (similarity >= top.Threshold)
                        {
                            top.Offer(key, similarity);
                        }
                    }
                }
            }
            else
            {
                for (var i = 0; i < _count; i++)
                {
                    if (allowed.Contains(_keys[i]))
                    {
                        var similarity = TensorPrimitives.Dot(vectors.Slice(i * Dimensions, Dimensions), query) / norm;
                        if (similarity >= top.Threshold)
                        {
                            top.Offer(_keys[i], similarity);
                        }
                    }
                }
            }
        }
        finally
        {
            _lock.ExitReadLock();
        }

        return top.Complete();
    }

    public void Dispose() => _lock.Dispose();

    private void AddCore(long key, ReadOnlySpan<float> vector)
    {
        if (!_slots.TryGetValue(key, out var slot))
        {
            EnsureCapacity(_count + 1);
            slot = _count++;
            _keys[slot] = key;
            _slots.Add(key, slot);
        }

        var row = Row(slot);
        vector.CopyTo(row);
        TensorPrimitives.Divide(row, TensorPrimitives.Norm(row), row);
    }

    private Span<float> Row(int slot) => _vectors.AsSpan(slot * Dimensions, Dimensions);

    private void EnsureCapacity(int needed)
    {
        if (needed <= _keys.Length)
        {
            return;
        }

        // Doubling keeps the amortised cost of an add O(d) and the array contiguous for the scan.
        var capacity = Math.Max(needed, _keys.Length * 2);
        if ((long)capacity * Dimensions > Array.MaxLength)
        {
            throw new InvalidOperationException(
                $"The exact index cannot hold {capacity:N0} vectors of {Dimensions} dimensions in one array; use the USearch index.");
        }

        Array.Resize(ref _vectors, capacity * Dimensions);
        Array.Resize(ref _keys, capacity);
    }
}
