namespace Lineup.Index.Ivf;

/// <summary>
/// One inverted list: the keys, scales and int8 codes of the vectors nearest one centroid, each in its own contiguous
/// array so a scan reads them front to back. Not thread-safe; <see cref="IvfVectorIndex"/> guards it.
/// </summary>
internal sealed class IvfList
{
    private readonly int _dimensions;
    private long[] _keys;
    private float[] _scales;
    private sbyte[] _codes;

    /// <summary>Where the list's vectors still are in a saved file (<see cref="Pending"/>); null once they are in memory.</summary>
    private SavedLists? _file;

    private long _offset;

    public IvfList(int dimensions, int capacity)
    {
        _dimensions = dimensions;
        capacity = Math.Max(capacity, 4);
        _keys = new long[capacity];
        _scales = new float[capacity];
        _codes = new sbyte[(long)capacity * dimensions];
    }

    private IvfList(int dimensions, long[] keys, float[] scales, sbyte[] codes)
    {
        _dimensions = dimensions;
        _keys = keys;
        _scales = scales;
        _codes = codes;
    }

    public long[] Keys
    {
        get
        {
            EnsureLoaded();
            return _keys;
        }

        private set => _keys = value;
    }

    public float[] Scales
    {
        get
        {
            EnsureLoaded();
            return _scales;
        }

        private set => _scales = value;
    }

    public sbyte[] Codes
    {
        get
        {
            EnsureLoaded();
            return _codes;
        }

        private set => _codes = value;
    }

    public int Count { get; private set; }

    /// <summary>False while the list's vectors are still only in the file it was opened from (<see cref="Pending"/>).</summary>
    public bool IsLoaded => Volatile.Read(ref _file) is null;

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

    /// <summary>
    /// A list of <paramref name="count"/> vectors whose keys, scales and codes are still in <paramref name="file"/> at
    /// <paramref name="offset"/> (as <see cref="IvfVectorIndex.Save"/> wrote them): the first use of its arrays reads
    /// them, so an opened index answers before it has read the whole file.
    /// </summary>
    public static IvfList Pending(int dimensions, int count, SavedLists file, long offset) =>
        new(dimensions, [], [], [])
        {
            Count = count,
            _file = file,
            _offset = offset,
        };

    /// <summary>The bytes a list of <paramref name="count"/> vectors takes in a saved file after its count.</summary>
    public static long SavedBytes(int dimensions, int count) => (long)count * (sizeof(long) + sizeof(float) + dimensions);

    /// <summary>Reads the list's vectors from its file if they are not in memory yet (once; other threads wait for it).</summary>
    public void EnsureLoaded()
    {
        if (Volatile.Read(ref _file) is null)
        {
            return;
        }

        lock (this)
        {
            if (_file is not { } file)
            {
                return;
            }

            // Exactly count slots (at least 4), not zeroed: the reads fill them.
            var capacity = Math.Max(Count, 4);
            var keys = GC.AllocateUninitializedArray<long>(capacity);
            var scales = GC.AllocateUninitializedArray<float>(capacity);
            var codes = GC.AllocateUninitializedArray<sbyte>(capacity * _dimensions);
            var at = _offset;
            at += file.Read(System.Runtime.InteropServices.MemoryMarshal.AsBytes(keys.AsSpan(0, Count)), at);
            at += file.Read(System.Runtime.InteropServices.MemoryMarshal.AsBytes(scales.AsSpan(0, Count)), at);
            file.Read(System.Runtime.InteropServices.MemoryMarshal.AsBytes(codes.AsSpan(0, Count * _dimensions)), at);
            (_keys, _scales, _codes) = (keys, scales, codes);

            // Published last: a thread that sees no file sees the arrays.
            Volatile.Write(ref _file, null);
        }
    }

    private static T[] Resize<T>(T[] array, int length)
    {
        var resized = GC.AllocateUninitializedArray<T>(length);
        array.AsSpan(0, Math.Min(array.Length, length)).CopyTo(resized);
        return resized;
    }
}

/// <summary>
/// The file an index was opened from, while some of its lists are still only there (<see cref="IvfList.Pending"/>):
/// positional reads, safe from any thread. Closed once every list is in memory.
/// </summary>
internal sealed class SavedLists(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string path) : IDisposable
{
    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/>; returns its length.</summary>
    /// <exception cref="VectorIndexException">The file ends early or cannot be read.</exception>
    public int Read(Span<byte> buffer, long offset)
    {
        var done = 0;
        try
        {
            while (done < buffer.Length)
            {
                var read = RandomAccess.Read(handle, buffer[done..], offset + done);
                if (read == 0)
                {
                    throw new VectorIndexException($"The index file {path} is unusable: it ends early (truncated).");
                }

                done += read;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            throw new VectorIndexException($"Could not read the index {path}: {e.Message}", e);
        }

        return done;
    }

    public long Length => RandomAccess.GetLength(handle);

    public void Dispose() => handle.Dispose();
}
