using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
public sealed class USearchVectorIndex : IStoredVectorIndex
{
    /// <summary>Below this many vectors a batch is added on the calling thread: fan-out costs more than it saves.</summary>

    private const int MinimumReserve = 1024;

    /// <summary>A filtered walk keeps this many times ef candidates (see <see cref="SearchFilteredGraph"/>).</summary>
    private const int FilteredPoolFactor = 2;

    /// <summary>Cost of a filtered graph walk at pass rate 1 over the cost of one exact comparison (see <see cref="ExactFilterLimitFor"/>).</summary>
    private const double ExactFilterCostRatio = 1000;

    /// <summary>The size-chosen ef at and below <see cref="SizedExpansionBase"/> vectors (see <see cref="ExpansionSearchFor"/>).</summary>
    private const int SizedExpansionFloor = 256;

    private const long SizedExpansionBase = 100_000;

    /// <summary>The size-chosen ef never exceeds this (a search at ef 4,096 on 1M vectors takes tens of ms here).</summary>
    private const int SizedExpansionCeiling = 4_096;

    private readonly UsearchHandle _handle;
    private readonly ReaderWriterLockSlim _structure = new(LockRecursionPolicy.NoRecursion);
    private readonly ReaderWriterLockSlim _snapshot = new(LockRecursionPolicy.NoRecursion);
    private readonly SemaphoreSlim _contexts;

    /// <summary>
    /// Native inserts run one at a time. Two inserts into one index at once (our bulk add's two workers, each holding its
    /// own thread slot and within reserved capacity) crashed the test host with SIGSEGV in libusearch_c 2.26.6 about
    /// once in ten runs of the index tests on a loaded 2-core machine (dumps: both crashes inside concurrent
    /// <c>usearch_add</c> calls); with inserts serialised, searches still run beside them.
    /// </summary>
    private readonly Lock _nativeAdd = new();
    private readonly int _scalarKind;
    private readonly int _storedKind;

    // Upper bound on native slots in use: it only grows (removed slots may or may not be reused natively), so reserving
    // against it can over-reserve a little but never under-reserve.
    private long _slotsClaimed;
    private long _capacity;
    private int _expansionSearch;
    private bool _expansionFixed;
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
        _storedKind = ScalarKindOf(options.Quantization);
        _expansionFixed = options.ExpansionSearch is not null;
        _expansionSearch = options.ExpansionSearch ?? SizedExpansionFloor;
        try
        {
            _capacity = (long)NativeMethods.Capacity(_handle, out var error);
            NativeMethods.ThrowIfError(error, "capacity");
            _slotsClaimed = _capacity;
            if (!_expansionFixed)
            {
                var size = (long)NativeMethods.Size(_handle, out error);
                NativeMethods.ThrowIfError(error, "size");
                _expansionSearch = ExpansionSearchFor(size);
            }

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

    /// <summary>
    /// Search breadth (HNSW ef) in effect. USearch forgets it on load, so it is re-applied on every open. With
    /// <see cref="USearchOptions.ExpansionSearch"/> null it is <see cref="ExpansionSearchFor"/> the current count, updated
    /// after every add and remove; setting it fixes it for the life of this instance.
    /// </summary>
    public int ExpansionSearch
    {
        get => Volatile.Read(ref _expansionSearch);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ChangeExpansionSearch(value, fix: true);
        }
    }

    /// <summary>
    /// The ef a search of <paramref name="count"/> vectors gets when none is configured: 256 up to 100,000 vectors, then
    /// 256 × (count / 100,000)^0.6 rounded up to a multiple of 32, at most 4,096 (1M: 1,024; 2M: 1,568; 10M: 4,064;
    /// about 10.2M and beyond: 4,096).
    /// </summary>
    /// <remarks>
    /// Measured with <c>lineup bench index</c> on real DEV faces plus synthetic identities fitted to them, M 16, build ef
    /// 128 (docs/performance.md): at 100,000 faces ef 256 gave recall@10 0.960 (float16); at 1,000,000 ef 256 gave 0.767
    /// and ef 1,024 gave 0.943. Keeping recall means widening the search about as count^0.6 (4× the breadth for 10× the
    /// faces). Latency grows with it: 2.0 ms at 100k and ef 256, 9–17 ms at 1M and ef 1,024, still well under the 40 ms a
    /// search spends on the probe photo.
    /// </remarks>
    public static int ExpansionSearchFor(long count)
    {
        if (count <= SizedExpansionBase)
        {
            return SizedExpansionFloor;
        }

        var ideal = SizedExpansionFloor * Math.Pow((double)count / SizedExpansionBase, 0.6);
        var rounded = (int)Math.Min(SizedExpansionCeiling, Math.Ceiling(ideal / 32) * 32);
        return Math.Max(SizedExpansionFloor, rounded);
    }

    private void ChangeExpansionSearch(int value, bool fix)
    {
        _structure.EnterWriteLock();
        try
        {
            ThrowIfDisposed();
            if (!fix && _expansionFixed)
            {
                return;
            }

            NativeMethods.ChangeExpansionSearch(_handle, (nuint)value, out var error);
            NativeMethods.ThrowIfError(error, "change expansion");
            _expansionSearch = value;
            _expansionFixed |= fix;
        }
        finally
        {
            _structure.ExitWriteLock();
        }
    }

    /// <summary>After a change in count: moves a size-chosen ef to the new count's (a write lock only when it changes).</summary>
    private void FollowCount()
    {
        if (Volatile.Read(ref _expansionFixed))
        {
            return;
        }

        var wanted = ExpansionSearchFor(Count);
        if (wanted != Volatile.Read(ref _expansionSearch))
        {
            ChangeExpansionSearch(wanted, fix: false);
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
        FollowCount();
    }

    /// <summary>
    /// Adds or replaces <c>keys.Length</c> vectors, one native insert at a time (see <see cref="_nativeAdd"/>); when a key
    /// repeats within the batch the last vector wins.
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
        }
        else
        {
            AddBatch(keys, vectors);
        }

        FollowCount();
    }

    public bool Remove(long key)
    {
        ThrowIfReadOnly();
        bool removed;
        _snapshot.EnterReadLock();
        _structure.EnterWriteLock();
        try
        {
            ThrowIfDisposed();
            removed = RemoveCore(key);
        }
        finally
        {
            _structure.ExitWriteLock();
            _snapshot.ExitReadLock();
        }

        if (removed)
        {
            FollowCount();
        }

        return removed;
    }

    public bool Contains(long key) => Read(h => NativeMethods.Contains(h, (ulong)key, out var e).ThrowIfError(e, "contains"));

    public int Search(ReadOnlySpan<float> query, Span<VectorHit> results)
    {
        VectorChecks.Vector(query, Dimensions, nameof(query));
        return results.IsEmpty ? 0 : SearchGraph(query, results, null);
    }

    /// <summary>
    /// Filtered search. When at most <see cref="ExactFilterLimitFor"/> keys are allowed, their stored vectors
    /// are compared one by one (exact, and cheaper than a graph walk that must pass over the other keys to find them);
    /// otherwise the HNSW walk skips disallowed keys as it goes (<c>usearch_filtered_search</c>, with twice the candidate
    /// pool of an unfiltered search, see <see cref="SearchFilteredGraph"/>). Should the walk come
    /// back with fewer than <c>results.Length</c> hits although more keys are allowed (allowed keys stranded among
    /// disallowed ones), the exact comparison answers instead, so a short result always means "no more allowed keys".
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

        if (allowed.Count <= ExactFilterLimitFor(Count))
        {
            return SearchAllowedExactly(query, results, allowed);
        }

        var found = SearchFilteredGraph(query, results, allowed);
        return found < results.Length && found < allowed.Count ? SearchAllowedExactly(query, results, allowed) : found;
    }

    /// <summary>
    /// The filtered walk with a candidate pool of <see cref="FilteredPoolFactor"/> × ef (USearch keeps max(ef, count)
    /// candidates), best <c>results.Length</c> kept.
    /// </summary>
    /// <remarks>
    /// Allowed keys are sparser than the graph, so at the same ef the walk settles on a worse set. On 20k clustered
    /// 512-d vectors with whole clusters (50 %) allowed, recall@10 against exact filtered search was 0.933 with a pool
    /// of ef = 128, 0.957 with 192, 0.975 with 256, 0.993 with 512; the misses were near-ties among unrelated faces
    /// (similarity 0.13-0.17, within 0.01 of the truth) for probes whose own identity was filtered out.
    /// </remarks>
    internal int SearchFilteredGraph(ReadOnlySpan<float> query, Span<VectorHit> results, FaceKeySet allowed)
    {
        var pool = Math.Max(results.Length, FilteredPoolFactor * ExpansionSearch);
        if (pool == results.Length)
        {
            return SearchGraph(query, results, allowed);
        }

        var candidates = ArrayPool<VectorHit>.Shared.Rent(pool);
        try
        {
            var found = Math.Min(SearchGraph(query, candidates.AsSpan(0, pool), allowed), results.Length);
            candidates.AsSpan(0, found).CopyTo(results);
            return found;
        }
        finally
        {
            ArrayPool<VectorHit>.Shared.Return(candidates);
        }
    }

    /// <summary>
    /// The most allowed keys for which a filtered search over <paramref name="count"/> vectors compares vectors exactly
    /// rather than walking the graph: <see cref="USearchOptions.ExactFilterLimit"/>, or <c>sqrt(1000 × count)</c>.
    /// </summary>
    /// <remarks>
    /// Why a square root: a filtered graph walk visits about ef/p nodes to find ef allowed ones (p the pass rate), so it
    /// costs about a/p, while the exact comparison costs c·p·count; they cross at p·count = sqrt(a/c · count).
    /// Measured (512-d clustered unit vectors, F16, M 16, ef 64, CPU time per query on one thread of a busy 2-core
    /// machine): a ≈ 0.5 ms at 20k and 1.0-1.3 ms at 100k vectors; c ≈ 0.4-0.5 µs per key at 20k and 0.6-1 µs at 100k
    /// (cache misses); so a/c ≈ 1000-1300. At 100k the walk took 2.7 / 6.4 / 10.2 / 18.7 / 37 / 60 / 180 ms at pass
    /// rates 50 / 20 / 10 / 5 / 2 / 1 / 0.05 %, the exact comparison 48 / 17 / 8.1 / 3.2 / 1.0 / 0.54 / 0.03 ms: they
    /// cross near 10 %, 10,000 keys, which is sqrt(1000 × 100k). Below the switch the walk is also the less accurate
    /// (recall@10 0.93-0.99 against 1.000 when whole clusters were allowed).
    /// </remarks>
    internal long ExactFilterLimitFor(long count) =>
        Options.ExactFilterLimit ?? (long)Math.Sqrt(ExactFilterCostRatio * Math.Max(count, 0));

    /// <summary>
    /// Exact top-k among <paramref name="allowed"/>: each key's stored vector is read back (<c>usearch_get</c>) in the
    /// index's own scalar kind and widened to float here. Keys the index does not hold are skipped.
    /// </summary>
    /// <remarks>
    /// Asking USearch for float from an F16 index cost 1.4 µs per 512-d vector (its conversion is scalar); copying the
    /// halves and widening them with <see cref="TensorPrimitives.ConvertToSingle(ReadOnlySpan{Half}, Span{float})"/>
    /// costs 0.4 µs (1,000 keys of 20k) to 0.8 µs (10,000 keys, more cache misses) per key.
    /// </remarks>
    internal unsafe int SearchAllowedExactly(ReadOnlySpan<float> query, Span<VectorHit> results, FaceKeySet allowed)
    {
        var queryNorm = TensorPrimitives.Norm(query);
        var top = new TopHits(results);
        var raw = ArrayPool<byte>.Shared.Rent(Dimensions * sizeof(float));
        var widened = ArrayPool<float>.Shared.Rent(Dimensions);
        try
        {
            var vector = widened.AsSpan(0, Dimensions);
            var stored = raw.AsSpan(0, Dimensions * BytesPerScalar(Options.Quantization));
            _structure.EnterReadLock();
            try
            {
                ThrowIfDisposed();
                fixed (byte* r = stored)
                {
                    foreach (var key in allowed)
                    {
                        var found = NativeMethods.Get(_handle, (ulong)key, 1, r, _storedKind, out var error);
                        NativeMethods.ThrowIfError(error, $"get of key {key}");
                        if (found == 0)
                        {
                            continue;
                        }

                        Widen(stored, vector);
                        var norm = TensorPrimitives.Norm(vector);
                        if (norm == 0)
                        {
                            continue;
                        }

                        var similarity = TensorPrimitives.Dot(vector, query) / (norm * queryNorm);
                        if (similarity >= top.Threshold)
                        {
                            top.Offer(key, similarity);
                        }
                    }
                }
            }
            finally
            {
                _structure.ExitReadLock();
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(widened);
            ArrayPool<byte>.Shared.Return(raw);
        }

        return top.Complete();
    }

    private static int BytesPerScalar(VectorQuantization quantization) => quantization switch
    {
        VectorQuantization.F32 => sizeof(float),
        VectorQuantization.F16 => 2,
        _ => sizeof(sbyte),
    };

    /// <summary>Stored scalars to float. Cosine ignores scale, so I8 values (unit vectors times 127) need no unscaling.</summary>
    private void Widen(ReadOnlySpan<byte> stored, Span<float> vector)
    {
        switch (Options.Quantization)
        {
            case VectorQuantization.F32:
                MemoryMarshal.Cast<byte, float>(stored).CopyTo(vector);
                break;
            case VectorQuantization.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(stored), vector);
                break;
            default:
                TensorPrimitives.ConvertChecked(MemoryMarshal.Cast<byte, sbyte>(stored), vector);
                break;
        }
    }

    /// <summary>HNSW search, restricted to <paramref name="allowed"/> during the walk when it is not null.</summary>
    internal unsafe int SearchGraph(ReadOnlySpan<float> query, Span<VectorHit> results, FaceKeySet? allowed)
    {
        var k = results.Length;
        ulong[]? rentedKeys = null;
        float[]? rentedDistances = null;
        var keys = k <= 256 ? stackalloc ulong[k] : (rentedKeys = ArrayPool<ulong>.Shared.Rent(k)).AsSpan(0, k);
        var distances = k <= 256 ? stackalloc float[k] : (rentedDistances = ArrayPool<float>.Shared.Rent(k)).AsSpan(0, k);

        // The callback finds the set through a handle: the set is a managed object, the native side only carries a pointer.
        var state = allowed is null ? default : GCHandle.Alloc(allowed);
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
                        found = allowed is null
                            ? NativeMethods.Search(_handle, q, NativeMethods.ScalarF32, (nuint)k, kp, dp, out error)
                            : NativeMethods.FilteredSearch(
                                _handle, q, NativeMethods.ScalarF32, (nuint)k, &IsAllowed, GCHandle.ToIntPtr(state), kp, dp, out error);
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
            if (state.IsAllocated)
            {
                state.Free();
            }

            if (rentedKeys is not null)
            {
                ArrayPool<ulong>.Shared.Return(rentedKeys);
                ArrayPool<float>.Shared.Return(rentedDistances!);
            }
        }
    }

    /// <summary>
    /// The filter callback. It must not throw (an exception cannot cross the native frames): <see cref="FaceKeySet.Contains"/>
    /// does not, and a key beyond <see cref="long.MaxValue"/> simply is not in the set.
    /// </summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int IsAllowed(ulong key, nint state) =>
        Unsafe.As<FaceKeySet>(GCHandle.FromIntPtr(state).Target!).Contains((long)key) ? 1 : 0;

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

    /// <summary>Serialises <c>usearch_init</c> and runs <see cref="WarmUpKernels"/> once, before any index exists.</summary>
    private static readonly Lock s_nativeInit = new();

    private static bool s_warm;

    /// <summary>
    /// Builds, fills and searches one tiny index of each scalar kind on one thread, once per process, so that the native
    /// library's lazily chosen distance kernels (picked per scalar kind at first use) are settled before indexes are used
    /// from several threads. The index tests' host crashed (SIGSEGV, no managed frame at fault) now and then when
    /// several test classes first used their indexes at the same moment on a loaded machine.
    /// </summary>
    private static unsafe void WarmUpKernels()
    {
        const int D = 8;
        Span<float> vector = stackalloc float[D];
        Span<ulong> keys = stackalloc ulong[2];
        Span<float> distances = stackalloc float[2];
        foreach (var kind in new[] { NativeMethods.ScalarF32, NativeMethods.ScalarF16, NativeMethods.ScalarI8 })
        {
            var init = new NativeMethods.InitOptions
            {
                MetricKind = NativeMethods.MetricCos,
                Quantization = kind,
                Dimensions = D,
                Connectivity = 4,
                ExpansionAdd = 8,
                ExpansionSearch = 8,
            };
            using var handle = NativeMethods.Init(ref init, out var error);
            NativeMethods.ThrowIfError(error, "warm-up init");
            NativeMethods.Reserve(handle, 4, out error);
            NativeMethods.ThrowIfError(error, "warm-up reserve");
            fixed (float* v = vector)
            fixed (ulong* k = keys)
            fixed (float* d = distances)
            {
                for (var i = 0; i < 2; i++)
                {
                    vector.Clear();
                    vector[i] = 1;
                    NativeMethods.Add(handle, (ulong)i + 1, v, NativeMethods.ScalarF32, out error);
                    NativeMethods.ThrowIfError(error, "warm-up add");
                }

                NativeMethods.Search(handle, v, NativeMethods.ScalarF32, 2, k, d, out error);
                NativeMethods.ThrowIfError(error, "warm-up search");
            }
        }
    }

    private static UsearchHandle CreateHandle(USearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        lock (s_nativeInit)
        {
            if (!s_warm)
            {
                WarmUpKernels();
                s_warm = true;
            }

            return CreateHandleCore(options);
        }
    }

    private static UsearchHandle CreateHandleCore(USearchOptions options)
    {
        var init = new NativeMethods.InitOptions
        {
            MetricKind = NativeMethods.MetricCos,
            Quantization = ScalarKindOf(options.Quantization),
            Dimensions = (nuint)options.Dimensions,
            Connectivity = (nuint)options.Connectivity,
            ExpansionAdd = (nuint)options.ExpansionAdd,
            ExpansionSearch = (nuint)(options.ExpansionSearch ?? SizedExpansionFloor),
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
                    for (var i = 0; i < count; i++)
                    {
                        if (!TryInsert(keyAddress, vectorAddress, i))
                        {
                            (present ??= []).Add(i);
                        }
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
            lock (_nativeAdd)
            {
                NativeMethods.Add(_handle, key, vector, _scalarKind, out error);
            }

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
