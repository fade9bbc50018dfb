namespace Lineup.Index.Ivf;

/// <summary>
/// One inverted list: the keys, scales and int8 codes of the vectors nearest one centroid, each in its own contiguous
/// array so a scan reads them front to back. Not thread-safe; <see cref="IvfVectorIndex"/> guards it.
/// </summary>
internal sealed class IvfList
{
    private readonly int _dimensions;

    public IvfList(int dimensions, int capacity)
    {
        _dimensions = dimensions;
        capacity = Math.Max(capacity, 4);
        Keys = new long[capacity];
        Scales = new float[capacity];
        Codes = new sbyte[(long)capacity * dimensions];
    }

    private IvfList(int dimensions, long[] keys, float[] scales, sbyte[] codes)
    {
        _dimensions = dimensions;
        Keys = keys;
        Scales = scales;
        Codes = codes;
    }

    public long[] Keys { get; private set; }

    public float[] Scales { get; private set; }

    public sbyte[] Codes { get; private set; }

    public int Count { get; private set; }

    public int Capacity => Keys.Length;

    public ReadOnlySpan<sbyte> Code(int slot) => Codes.AsSpan(slot * _dimensions, _dimensions);

    /// <summary>Appends a vector; returns its slot.</summary>
    public int Append(long key, float scale, ReadOnlySpan<sbyte> code)
    {
        if (Count == Keys.Length)
        {
            // Growth by half keeps the waste of a big list small; the lists are many, so each is modest.
            var capacity = Math.Max(Count + 4, Count + (Count / 2));
            if ((long)capacity * _dimensions > Array.MaxLength)
            {
                throw new VectorIndexException(
                    $"An inverted list cannot hold {capacity:N0} vectors of {_dimensions} dimensions; the index needs more lists (Lineup:Index:Lists).");
            }

            Keys = Resize(Keys, capacity);
            Scales = Resize(Scales, capacity);
            Codes = Resize(Codes, capacity * _dimensions);
        }

        var slot = Count++;
        Keys[slot] = key;
        Scales[slot] = scale;
        code.CopyTo(Codes.AsSpan(slot * _dimensions, _dimensions));
        return slot;
    }

    /// <summary>Removes the vector in <paramref name="slot"/> by moving the last one into it; returns the moved key, if any.</summary>
    public bool RemoveAt(int slot, out long movedKey)
    {
        var last = Count - 1;
        movedKey = 0;
        var moved = slot != last;
        if (moved)
        {
            Keys[slot] = Keys[last];
            Scales[slot] = Scales[last];
            Code(last).CopyTo(Codes.AsSpan(slot * _dimensions, _dimensions));
            movedKey = Keys[slot];
        }

        Count = last;
        return moved;
    }

    /// <summary>Shrinks the arrays to the vectors held (at least 4 slots), dropping what growth reserved ahead.</summary>
    public void TrimExcess()
    {
        var capacity = Math.Max(Count, 4);
        if (capacity < Keys.Length)
        {
            Keys = Resize(Keys, capacity);
            Scales = Resize(Scales, capacity);
            Codes = Resize(Codes, capacity * _dimensions);
        }
    }

    /// <summary>Bytes the list's arrays take (capacity, not count).</summary>
    public long Bytes => ((long)Keys.Length * (sizeof(long) + sizeof(float))) + Codes.LongLength;

    /// <summary>An empty list of exactly <paramref name="count"/> slots, not zeroed: <see cref="IvfVectorIndex.Open"/> reads into it.</summary>
    public static IvfList ForLoad(int dimensions, int count)
    {
        var capacity = Math.Max(count, 4);
        return new IvfList(
            dimensions,
            GC.AllocateUninitializedArray<long>(capacity),
            GC.AllocateUninitializedArray<float>(capacity),
            GC.AllocateUninitializedArray<sbyte>(capacity * dimensions));
    }

    /// <summary>Sets the count of a list read by <see cref="IvfVectorIndex.Open"/>.</summary>
    public void Load(int count)
    {
        Count = count;
    }

    private static T[] Resize<T>(T[] array, int length)
    {
        var resized = GC.AllocateUninitializedArray<T>(length);
        array.AsSpan(0, Math.Min(array.Length, length)).CopyTo(resized);
        return resized;
    }
}
