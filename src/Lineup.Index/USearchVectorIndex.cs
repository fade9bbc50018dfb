using System.Buffers;
using Lineup.Core.Indexing;
using Lineup.Index.Native;

namespace Lineup.Index;

/// <summary>
/// Approximate cosine search over an HNSW graph in USearch, through its C API (see <see cref="NativeMethods"/>).
/// Keys are catalog face ids (as unsigned 64-bit). Similarity is <c>1 - cosine distance</c>.
/// </summary>
/// <remarks>
/// Native safety rules, enforced here rather than left to callers:
/// <list type="bullet">
/// <item>Capacity is reserved (geometrically) before any insert: USearch grows nothing itself, and concurrent adds
/// into an unreserved index crash the process (docs/engines.md).</item>
/// <item>At most <see cref="USearchOptions.Threads"/> native adds/searches run at once: USearch keeps one scratch
/// context per thread slot, so a semaphore hands out slots.</item>
/// <item>Reserve, remove and dispose are exclusive; add, search and contains share the structure lock. Save is exclusive
/// with mutations (a second lock) but lets searches continue.</item>
/// <item>Adding a key that is present removes the old vector first (USearch refuses duplicate keys), so Add is an upsert.</item>
/// </list>
/// </remarks>
public sealed class USearchVectorIndex : IVectorIndex
{
    /// <summary>Below this many vectors a batch is added on the calling thread: fan-out costs more than it saves.</summary>
    private const int ParallelThreshold = 64;

    private const int MinimumReserve = 1024;

    private readonly UsearchHandle _handle;
    private readonly ReaderWriterLockSlim _structure = new(LockRecursionPolicy.NoRecursion);
    private readonly ReaderWriterLockSlim _snapshot = new(LockRecursionPolicy.NoRecursion);
    private readonly SemaphoreSlim _contexts;
    private readonly int _scalarKind;

    // Upper bound on native slots in use: it only grows (removed slots may or may not be reused natively), so reserving
    // against it can over-reserve a little but never under-reserve.
    private long _slotsClaimed;
    private long _capacity;
    private int _expansionSearch;
    private bool _disposed;

    /// <summary>Creates an empty, writable index.</summary>
    public USearchVectorIndex(USearchOptions options)
        : this(options, CreateHandle(options), readOnly: false)
    {
    }

    private USearchVectorIndex(USearchOptions options, UsearchHandle handle, bool readOnly)
    {
        Options = options;
        _handle = handle;
        IsReadOnly = readOnly;
        _contexts = new SemaphoreSlim(options.Threads, options.Threads);
        _scalarKind = NativeMethods.ScalarF32;
        _expansionSearch = options.ExpansionSearch;
        try
        {
            _capacity = (long)NativeMethods.Capacity(_handle, out var error);
            NativeMethods.ThrowIfError(error, "capacity");
            _slotsClaimed = _capacity;
            ApplyRuntimeSettings();
        }
        catch
        {
            _handle.Dispose();
            throw;
        }
    }

    public USearchOptions Options { get; }

    public int Dimensions => Options.Dimensions;

    /// <summary>True when opened as a memory-mapped view: searches work, mutations throw.</summary>
    public bool IsReadOnly { get; }

    public long Count
    {
        get
        {
            _structure.EnterReadLock();
            try
            {
                ThrowIfDisposed();
                var size = NativeMethods.Size(_handle, out var error);
                NativeMethods.ThrowIfError(error, "size");
                return (long)size;
            }
            finally
            {
                _structure.ExitReadLock();
            }
        }
    }

    /// <summary>Search breadth (HNSW ef). USearch forgets it on load, so it is re-applied on every open.</summary>
    public int ExpansionSearch
    {
        get => Volatile.Read(ref _expansionSearch);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _structure.EnterWriteLock();
            try
            {
                ThrowIfDisposed();
                NativeMethods.ChangeExpansionSearch(_handle, (nuint)value, out var error);
                NativeMethods.ThrowIfError(error, "change expansion");
                _expansionSearch = value;
            }
            finally
            {
                _structure.ExitWriteLock();
            }
        }
    }

    /// <summary>Bytes the native index holds (graph plus vectors).</summary>
    public long MemoryUsageBytes => (long)Read(static h => (ulong)NativeMethods.MemoryUsage(h, out var e).ThrowIfError(e, "memory usage"));

    /// <summary>The SIMD kernel family USearch picked on this CPU (for example "skylake" or "sapphire").</summary>
    public string HardwareAcceleration =>
        Read(static h => NativeMethods.ReadString(NativeMethods.HardwareAcceleration(h, out var e).ThrowIfError(e, "hardware")) ?? "unknown");

    /// <summary>Version of the loaded native library.</summary>
    public static string NativeVersion => NativeMethods.ReadString(NativeMethods.Version()) ?? "unknown";

    /// <summary>
    /// Opens an index file written by <see cref="Save"/>: loaded into memory, or (<paramref name="view"/>) memory-mapped
    /// read-only, which starts instantly and shares pages between processes. The file must have been built with the same
    /// dimensions and quantization as <paramref name="options"/>; run-time settings (ef, threads) come from the options.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="VectorIndexException">The file is not a readable USearch index of the expected shape.</exception>
    public static USearchVectorIndex Open(string path, USearchOptions options, bool view = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new FileNotFoundException($"No index file at '{fullPath}'.", fullPath);
        }

        // The header is checked first: a file of another shape or kind is reported plainly, not as a native failure.
        var header = new NativeMethods.InitOptions();
        NativeMethods.Metadata(fullPath, ref header, out var error);
        if (error != 0)
        {
            throw new VectorIndexException(
                $"Index file '{fullPath}' is not a readable USearch index: {NativeMethods.ReadString(error)}");
        }

        if ((int)header.Dimensions != options.Dimensions || header.Quantization != ScalarKindOf(options.Quantization)
            || header.MetricKind != NativeMethods.MetricCos)
        {
            throw new VectorIndexException(
                $"Index file '{fullPath}' holds {header.Dimensions}-dimensional vectors (scalar kind {header.Quantization}, metric " +
                $"{header.MetricKind}); expected {options.Dimensions}-dimensional {options.Quantization} cosine.");
        }

        var handle = CreateHandle(options);
        try
        {
            if (view)
            {
                NativeMethods.View(handle, fullPath, out error);
            }
            else
            {
                NativeMethods.Load(handle, fullPath, out error);
            }

            if (error != 0)
            {
                throw new VectorIndexException(
                    $"Index file '{fullPath}' could not be {(view ? "mapped" : "loaded")}: {NativeMethods.ReadString(error)}");
            }
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        return new USearchVectorIndex(options, handle, view);
    }

    /// <summary>Adds or replaces one vector.</summary>
    public void Add(long key, ReadOnlySpan<float> vector)
    {
        VectorChecks.Vector(vector, Dimensions, nameof(vector));
        AddBatch([key], vector);
    }

    /// <summary>
    /// Adds or replaces <c>keys.Length</c> vectors. Large batches are inserted by up to <see cref="USearchOptions.Threads"/>
    /// workers; when a key repeats within the batch the last vector wins.
    /// </summary>
    public void AddRange(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors)
    {
        VectorChecks.Batch(keys, vectors, Dimensions);
        if (keys.IsEmpty)
        {
            return;
        }

        if (HasDuplicates(keys))
        {
            // Rare (a caller re-sending a face); sequential upserts give "last wins" without racing on one key.
            for (var i = 0; i < keys.Length; i++)
            {
                AddBatch(keys.Slice(i, 1), vectors.Slice(i * Dimensions, Dimensions));
            }

            return;
        }

        AddBatch(keys, vectors);
    }

    public bool Remove(long key)
    {
        ThrowIfReadOnly();
        _snapshot.EnterReadLock();
        _structure.EnterWriteLock();
        try
        {
            ThrowIfDisposed();
            return RemoveCore(key);
        }
        finally
        {
            _structure.ExitWriteLock();
            _snapshot.ExitReadLock();
        }
    }

    public bool Contains(long key) => Read(h => NativeMethods.Contains(h, (ulong)key, out var e).ThrowIfError(e, "contains"));

    public unsafe int Search(ReadOnlySpan<float> query, Span<VectorHit> results)
    {
        VectorChecks.Vector(query, Dimensions, nameof(query));
        if (results.IsEmpty)
        {
            return 0;
        }

        var k = results.Length;
        ulong[]? rentedKeys = null;
        float[]? rentedDistances = null;
        var keys = k <= 256 ? stackalloc ulong[k] : (rentedKeys = ArrayPool<ulong>.Shared.Rent(k)).AsSpan(0, k);
        var distances = k <= 256 ? stackalloc float[k] : (rentedDistances = ArrayPool<float>.Shared.Rent(k)).AsSpan(0, k);
        try
        {
            nuint found;
            _structure.EnterReadLock();
            try
            {
                ThrowIfDisposed();
                _contexts.Wait();
                try
                {
                    nint error;
                    fixed (float* q = query)
                    fixed (ulong* kp = keys)
                    fixed (float* dp = distances)
                    {
                        found = NativeMethods.Search(_handle, q, NativeMethods.ScalarF32, (nuint)k, kp, dp, out error);
                    }

                    NativeMethods.ThrowIfError(error, "search");
                }
                finally
                {
                    _contexts.Release();
                }
            }
            finally
            {
                _structure.ExitReadLock();
            }

            var n = (int)found;
            for (var i = 0; i < n; i++)
            {
                results[i] = new VectorHit((long)keys[i], 1f - distances[i]);
            }

            return n;
        }
        finally
        {
            if (rentedKeys is not null)
            {
                ArrayPool<ulong>.Shared.Return(rentedKeys);
                ArrayPool<float>.Shared.Return(rentedDistances!);
            }
        }
    }

    /// <summary>Makes room for <paramref name="capacity"/> vectors in total, so a known bulk load allocates once.</summary>
    public void Reserve(long capacity)
    {
        ThrowIfReadOnly();
        _structure.EnterWriteLock();
        try
        {
            ThrowIfDisposed();
            if (capacity > _capacity)
            {
                ReserveCore(capacity);
            }
        }
        finally
        {
            _structure.ExitWriteLock();
        }
    }

    /// <summary>
    /// Writes the index to <paramref name="path"/> atomically: into <c>path.tmp</c>, flushed to disk, then renamed over
    /// the old file, so a crash leaves either the old or the new index, never a torn one. Searches continue meanwhile;
    /// mutations wait.
    /// </summary>
    /// <returns>The number of vectors written (mutations cannot change it between the write and the count).</returns>
    public long Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var fullPath = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(fullPath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var temporary = fullPath + ".tmp";
        long count;
        _snapshot.EnterWriteLock();
        try
        {
            _structure.EnterReadLock();
            try
            {
                ThrowIfDisposed();
                NativeMethods.Save(_handle, temporary, out var error);
                NativeMethods.ThrowIfError(error, $"save to '{temporary}'");
                count = (long)NativeMethods.Size(_handle, out error);
                NativeMethods.ThrowIfError(error, "size");
            }
            finally
            {
                _structure.ExitReadLock();
            }

            using (var written = new FileStream(temporary, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
                written.Flush(flushToDisk: true);
            }

            // The directory entry is not fsynced: if the rename is lost in a power cut, the previous index (or none)
            // is found, its metadata no longer matches the catalog, and it is caught up or rebuilt.
            File.Move(temporary, fullPath, overwrite: true);
            return count;
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
        finally
        {
            _snapshot.ExitWriteLock();
        }
    }

    public void Dispose()
    {
        _snapshot.EnterWriteLock();
        _structure.EnterWriteLock();
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _handle.Dispose();
        }
        finally
        {
            _structure.ExitWriteLock();
            _snapshot.ExitWriteLock();
        }
    }

    internal static int ScalarKindOf(VectorQuantization quantization) => quantization switch
    {
        VectorQuantization.F32 => NativeMethods.ScalarF32,
        VectorQuantization.F16 => NativeMethods.ScalarF16,
        VectorQuantization.I8 => NativeMethods.ScalarI8,
        _ => throw new ArgumentOutOfRangeException(nameof(quantization), quantization, null),
    };

    private static UsearchHandle CreateHandle(USearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var init = new NativeMethods.InitOptions
        {
            MetricKind = NativeMethods.MetricCos,
            Quantization = ScalarKindOf(options.Quantization),
            Dimensions = (nuint)options.Dimensions,
            Connectivity = (nuint)options.Connectivity,
            ExpansionAdd = (nuint)options.ExpansionAdd,
            ExpansionSearch = (nuint)options.ExpansionSearch,
            Multi = 0,
        };
        var handle = NativeMethods.Init(ref init, out var error);
        if (error != 0 || handle.IsInvalid)
        {
            handle.Dispose();
            throw new VectorIndexException($"USearch could not create an index: {NativeMethods.ReadString(error) ?? "null handle"}");
        }

        return handle;
    }

    private void ApplyRuntimeSettings()
    {
        NativeMethods.ChangeExpansionSearch(_handle, (nuint)_expansionSearch, out var error);
        NativeMethods.ThrowIfError(error, "change expansion");
        if (!IsReadOnly)
        {
            NativeMethods.ChangeExpansionAdd(_handle, (nuint)Options.ExpansionAdd, out error);
            NativeMethods.ThrowIfError(error, "change expansion");
        }

        // Thread slots are (re)sized by reserve; set them after every reserve so they never fall below Options.Threads.
        NativeMethods.ChangeThreadsAdd(_handle, (nuint)Options.Threads, out error);
        NativeMethods.ThrowIfError(error, "change threads");
        NativeMethods.ChangeThreadsSearch(_handle, (nuint)Options.Threads, out error);
        NativeMethods.ThrowIfError(error, "change threads");
    }

    /// <summary>Caller holds the structure write lock.</summary>
    private void ReserveCore(long needed)
    {
        var target = Math.Max(needed, Math.Max(_capacity * 2, MinimumReserve));
        NativeMethods.Reserve(_handle, (nuint)target, out var error);
        NativeMethods.ThrowIfError(error, $"reserve {target}");
        _capacity = (long)NativeMethods.Capacity(_handle, out error);
        NativeMethods.ThrowIfError(error, "capacity");
        ApplyRuntimeSettings();
    }

    private void EnsureCapacity(int incoming)
    {
        var needed = Interlocked.Add(ref _slotsClaimed, incoming);
        if (needed <= Volatile.Read(ref _capacity))
        {
            return;
        }

        // Waits for in-flight adds (they hold the read lock and slots within the old capacity) before growing.
        _structure.EnterWriteLock();
        try
        {
            ThrowIfDisposed();
            if (needed > _capacity)
            {
                ReserveCore(needed);
            }
        }
        finally
        {
            _structure.ExitWriteLock();
        }
    }

    private unsafe void AddBatch(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors)
    {
        ThrowIfReadOnly();
        List<int>? present = null;
        _snapshot.EnterReadLock();
        try
        {
            EnsureCapacity(keys.Length);
            _structure.EnterReadLock();
            try
            {
                ThrowIfDisposed();
                fixed (long* keyPointer = keys)
                fixed (float* vectorPointer = vectors)
                {
                    var keyAddress = (nint)keyPointer;
                    var vectorAddress = (nint)vectorPointer;
                    var count = keys.Length;
                    var workers = Math.Min(Options.Threads, Math.Max(1, count / ParallelThreshold));
                    if (workers <= 1)
                    {
                        for (var i = 0; i < count; i++)
                        {
                            if (!TryInsert(keyAddress, vectorAddress, i))
                            {
                                (present ??= []).Add(i);
                            }
                        }
                    }
                    else
                    {
                        var sync = new Lock();
                        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = workers }, i =>
                        {
                            if (!TryInsert(keyAddress, vectorAddress, i))
                            {
                                lock (sync)
                                {
                                    (present ??= []).Add(i);
                                }
                            }
                        });
                    }
                }
            }
            finally
            {
                _structure.ExitReadLock();
            }

            if (present is not null)
            {
                ReplaceExisting(keys, vectors, present);
            }
        }
        finally
        {
            _snapshot.ExitReadLock();
        }
    }

    /// <summary>Inserts row <paramref name="i"/> unless its key is present; false means "needs a replace".</summary>
    private unsafe bool TryInsert(nint keys, nint vectors, int i)
    {
        var key = (ulong)((long*)keys)[i];
        var vector = (float*)vectors + ((long)i * Dimensions);
        _contexts.Wait();
        try
        {
            if (NativeMethods.Contains(_handle, key, out var error))
            {
                return false;
            }

            NativeMethods.ThrowIfError(error, "contains");
            NativeMethods.Add(_handle, key, vector, _scalarKind, out error);
            if (error == 0)
            {
                return true;
            }

            // Another thread inserted the same key between our check and add: resolve it as a replace.
            if (NativeMethods.Contains(_handle, key, out _))
            {
                return false;
            }

            NativeMethods.ThrowIfError(error, $"add of key {key}");
            return true;
        }
        finally
        {
            _contexts.Release();
        }
    }

    private unsafe void ReplaceExisting(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors, List<int> rows)
    {
        _structure.EnterWriteLock();
        try
        {
            ThrowIfDisposed();
            foreach (var i in rows)
            {
                RemoveCore(keys[i]);
                fixed (float* vector = vectors.Slice(i * Dimensions, Dimensions))
                {
                    NativeMethods.Add(_handle, (ulong)keys[i], vector, _scalarKind, out var error);
                    NativeMethods.ThrowIfError(error, $"replace of key {keys[i]}");
                }
            }
        }
        finally
        {
            _structure.ExitWriteLock();
        }
    }

    /// <summary>Caller holds the structure write lock.</summary>
    private bool RemoveCore(long key)
    {
        var removed = NativeMethods.Remove(_handle, (ulong)key, out var error);
        NativeMethods.ThrowIfError(error, $"remove of key {key}");
        return removed > 0;
    }

    private T Read<T>(Func<UsearchHandle, T> call)
    {
        _structure.EnterReadLock();
        try
        {
            ThrowIfDisposed();
            return call(_handle);
        }
        finally
        {
            _structure.ExitReadLock();
        }
    }

    private static bool HasDuplicates(ReadOnlySpan<long> keys)
    {
        if (keys.Length < 2)
        {
            return false;
        }

        var seen = new HashSet<long>(keys.Length);
        foreach (var key in keys)
        {
            if (!seen.Add(key))
            {
                return true;
            }
        }

        return false;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: a stale .tmp is overwritten by the next save.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }

    private void ThrowIfReadOnly()
    {
        if (IsReadOnly)
        {
            throw new InvalidOperationException("This index is a read-only memory-mapped view; open it without view to modify it.");
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}

/// <summary>Turns a native error out-parameter into an exception inline, so one-line native calls stay one line.</summary>
internal static class NativeResultExtensions
{
    public static T ThrowIfError<T>(this T value, nint error, string operation)
    {
        NativeMethods.ThrowIfError(error, operation);
        return value;
    }
}
