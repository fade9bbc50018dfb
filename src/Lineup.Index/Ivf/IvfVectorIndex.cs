using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Lineup.Core.Indexing;
using Lineup.Core.Numerics;

namespace Lineup.Index.Ivf;

/// <summary>
/// Approximate cosine search by an inverted file over int8 codes (IVF-SQ8): k-means cuts the gallery into lists, a
/// search scores the probe against every centroid and scans the vectors of the nearest <see cref="Probes"/> lists with
/// an integer dot product. Everything is in managed memory, so adds run on both cores (the graph index's native inserts
/// must be serialised), a build costs one k-means and one assignment pass instead of a graph walk per vector, and the
/// cost of a search is a predictable scan rather than a walk whose length varies.
/// </summary>
/// <remarks>
/// <para>Training also fits a projection: the principal components of the sample that keep all but 1/10,000 of its
/// energy (<see cref="CodeDimensions"/>; an orthonormal change of basis, so dot products are kept up to the energy
/// dropped). Face embeddings of the pack's model span about 150 of their 512 dimensions, so a code holds 160 to 192
/// components (192 in the benchmark's galleries), not 512: a third of the bytes to read per vector scanned, which is
/// what a scan is bound by.</para>
/// <para>Each vector is stored normalised and projected as signed bytes with its own scale (its largest component maps
/// to ±127), plus its key and slot entry. The probe is quantised the same way; the product of the two scales turns the
/// integer dot into the cosine, within about 0.002 of the float one. Callers that need exact scores re-rank the
/// candidates with the catalog's embeddings (<c>Lineup:Search:Rerank</c>).</para>
/// <para>Below <see cref="FlatLimit"/> vectors there is one list and a search is an exact scan of the codes. As the
/// gallery grows the lists are re-trained: on a sample (64 vectors per list, dequantised from the codes), then every
/// vector is reassigned. That happens inside the add that crossed the threshold, with searches still answered from the
/// old lists until the new ones are swapped in; <see cref="Reserve"/> tells the index the size to expect, so a bulk build
/// trains once, at its final list count.</para>
/// <para>From 16,384 codes to read, a search deals its lists between itself and one scan thread shared by all searches
/// (when that thread is free): the scan is bound by memory bandwidth, which one core does not exhaust.</para>
/// <para>Locking: searches share a read lock. Adds and removes take the upgradeable lock while they prepare (normalise,
/// quantise, assign, re-train) and the write lock only to change the lists.</para>
/// </remarks>
public sealed class IvfVectorIndex : IStoredVectorIndex
{
    /// <summary>Up to this many vectors the index is one list, scanned exactly.</summary>
    public const int FlatLimit = 16_384;

    /// <summary>Most lists an index may have.</summary>
    public const int MaxLists = 65_536;

    /// <summary>Training sample per list: k-means on fewer rows per centroid places the centroids poorly.</summary>
    private const int SamplePerList = 64;

    private const int TrainingIterations = 10;

    /// <summary>Share of the sample's energy the codes' basis may drop (see <see cref="CodeDimensions"/>).</summary>
    private const double DroppedEnergy = 1e-4;

    /// <summary>Walk an allowed set key by key when it has at least this many times fewer keys than the index has vectors.</summary>
    private const int SetWalkAdvantage = 4;

    /// <summary>A search scans on <see cref="IvfOptions.ScanThreads"/> threads from this many codes (about 0.4 ms of scan).</summary>
    private const long ParallelScanCodes = 16_384;

    /// <summary>Below this many vectors a batch is prepared on the calling thread.</summary>
    private const int ParallelBatch = 512;

    private const int HeaderBytes = 56;

    private static readonly byte[] s_magic = "LNIVF001"u8.ToArray();
    private static readonly byte[] s_end = "LNIVFEND"u8.ToArray();

    [ThreadStatic]
    private static Scratch? t_scratch;

    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private Dictionary<long, long> _where = [];

    /// <summary>The key → slot map of an opened index, built in the background (see <see cref="Open(string, IvfOptions)"/>); null once built.</summary>
    private Task<Dictionary<long, long>>? _mapping;
    private float[] _centroids;
    private IvfList[] _lists;

    /// <summary>Rows: the basis the codes are written in (<see cref="CodeDimensions"/> × <see cref="Dimensions"/>); null before training (the identity).</summary>
    private float[]? _projection;
    private int _codeDimensions;
    private long _trainedAt;
    private long _expected;
    private int? _probes;
    private int _scanThreads;

    public IvfVectorIndex(IvfOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Dimensions = options.Dimensions;
        _probes = options.Probes;
        _scanThreads = options.ScanThreads;
        _codeDimensions = Dimensions;
        _centroids = new float[Dimensions];
        _lists = [new IvfList(Dimensions, 1024)];
    }

    /// <summary>
    /// Components a code holds: the embedding's dimensionality until the index is trained, then the principal
    /// components that keep all but 1/10,000 of the sample's energy, rounded up to a multiple of 32 (160 to 192 of 512
    /// for the pack's face model, whose embeddings span about 150 dimensions).
    /// </summary>
    public int CodeDimensions => Volatile.Read(ref _codeDimensions);

    public IvfOptions Options { get; }

    public int Dimensions { get; }

    public long Count
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                var count = 0L;
                foreach (var list in _lists)
                {
                    count += list.Count;
                }

                return count;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>Lists the vectors are cut into now (1 until the index is trained).</summary>
    public int Lists => Volatile.Read(ref _lists).Length;

    /// <summary>Vectors in the index when its lists were last trained (0: never, the index is one exact list).</summary>
    public long TrainedAt => Interlocked.Read(ref _trainedAt);

    /// <summary>
    /// Lists scanned per search: <see cref="IvfOptions.Probes"/> when set, else <see cref="ProbesFor"/> the current list
    /// count. Setting it fixes it for the life of this instance.
    /// </summary>
    public int Probes
    {
        get => _probes ?? ProbesFor(Lists);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _probes = value;
        }
    }

    /// <summary>Threads one search scans on, 1 or 2 (<see cref="IvfOptions.ScanThreads"/>; settable for benchmarks).</summary>
    public int ScanThreads
    {
        get => Volatile.Read(ref _scanThreads);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 2);
            Volatile.Write(ref _scanThreads, value);
        }
    }

    /// <summary>
    /// Releases what growth reserved ahead: each list's arrays shrink to the vectors it holds and the key → slot map to its
    /// keys. For the end of a bulk build (a rebuild, a benchmark), after which the index holds what a reopened one does:
    /// measured, 292 bytes a face before and 238 after at a million faces, 300 and 232 at ten million.
    /// </summary>
    public void TrimExcess()
    {
        _lock.EnterWriteLock();
        try
        {
            foreach (var list in _lists)
            {
                list.TrimExcess();
            }

            Where.TrimExcess();
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Managed bytes the index holds: centroids, projection, lists (at capacity) and the key → slot map.</summary>
    public long MemoryUsageBytes
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                // A dictionary entry holds the key, the value, the hash and the next link (24 bytes) plus a 4-byte bucket.
                return ((_centroids.LongLength + (_projection?.LongLength ?? 0)) * sizeof(float)) + _lists.Sum(l => l.Bytes) + (Where.EnsureCapacity(0) * 28L);
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>
    /// Lists for <paramref name="count"/> vectors: 1 up to <see cref="FlatLimit"/>, then √count (1,000 at a million,
    /// 3,162 at ten million), so a list holds about as many vectors as there are lists and the centroid scoring and the
    /// list scans cost alike.
    /// </summary>
    public static int ListsFor(long count) =>
        count <= FlatLimit ? 1 : (int)Math.Min(MaxLists, Math.Round(Math.Sqrt(count)));

    /// <summary>
    /// Lists scanned for an index of <paramref name="lists"/> lists: ⌈2.5 × lists^0.63⌉ (all of them up to 8), aimed at
    /// recall@10 0.95 on face embeddings, whose neighbours straddle list borders: 76 of 224 lists (34 %) at 50k faces,
    /// 195 of 1,000 (20 %) at a million, 414 of 3,162 (13 %) at ten million. Fitted to <c>lineup bench index --engine
    /// ivf</c> on real plus fitted synthetic faces: at 50k, 64 of 224 lists gave 0.943 and 112 gave 0.984; at a million,
    /// 150 of 1,000 gave 0.930 and 250 gave 0.969 (docs/performance.md).
    /// </summary>
    public static int ProbesFor(int lists) => lists <= 8 ? lists : Math.Min(lists, (int)Math.Ceiling(2.5 * Math.Pow(lists, 0.63)));

    /// <summary>
    /// Tells the index how many vectors are coming (a rebuild, a bulk load), so it trains its lists once, when enough of
    /// them are in, at the count that suits the final size, instead of re-training as it grows.
    /// </summary>
    public void Reserve(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Interlocked.Exchange(ref _expected, count);
    }

    public void Add(long key, ReadOnlySpan<float> vector)
    {
        VectorChecks.Vector(vector, Dimensions, nameof(vector));
        AddCore([key], vector);
    }

    public void AddRange(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors)
    {
        VectorChecks.Batch(keys, vectors, Dimensions);
        if (keys.Length > 0)
        {
            AddCore(keys, vectors);
        }
    }

    public bool Remove(long key)
    {
        _lock.EnterWriteLock();
        try
        {
            if (!Where.Remove(key, out var location))
            {
                return false;
            }

            RemoveAt(location);
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
            return Where.ContainsKey(key);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    public int Search(ReadOnlySpan<float> query, Span<VectorHit> results) => SearchCore(query, results, null);

    /// <summary>
    /// Top-k among <paramref name="allowed"/>. A small set is scored key by key; otherwise the nearest lists are scanned,
    /// skipping other keys, and further lists (nearest first) until k allowed hits are found or every list was scanned.
    /// </summary>
    public int Search(ReadOnlySpan<float> query, Span<VectorHit> results, FaceKeySet allowed)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        if (allowed.IsAll)
        {
            return SearchCore(query, results, null);
        }

        VectorChecks.Vector(query, Dimensions, nameof(query));
        return allowed.Count == 0 ? 0 : SearchCore(query, results, allowed);
    }

    /// <summary>
    /// Writes the index to <paramref name="path"/> (through a temporary file, flushed, then renamed over it, so a crash
    /// leaves the old file or the new one); returns the vectors written. Searches continue meanwhile; writes wait.
    /// </summary>
    public long Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        var temporary = full + ".tmp";
        _lock.EnterReadLock();
        try
        {
            var count = Where.Count;
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> header = stackalloc byte[HeaderBytes];
                s_magic.CopyTo(header);
                BinaryPrimitives.WriteInt32LittleEndian(header[8..], 1);
                BinaryPrimitives.WriteInt32LittleEndian(header[12..], Dimensions);
                BinaryPrimitives.WriteInt32LittleEndian(header[16..], _lists.Length);
                BinaryPrimitives.WriteInt32LittleEndian(header[20..], _codeDimensions);
                BinaryPrimitives.WriteInt64LittleEndian(header[24..], count);
                BinaryPrimitives.WriteInt64LittleEndian(header[32..], _trainedAt);
                BinaryPrimitives.WriteInt64LittleEndian(header[40..], _expected);
                BinaryPrimitives.WriteInt32LittleEndian(header[48..], _projection is null ? 0 : 1);
                stream.Write(header);
                stream.Write(MemoryMarshal.AsBytes(_centroids.AsSpan()));
                if (_projection is not null)
                {
                    stream.Write(MemoryMarshal.AsBytes(_projection.AsSpan()));
                }

                Span<byte> length = stackalloc byte[4];
                foreach (var list in _lists)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(length, list.Count);
                    stream.Write(length);
                    stream.Write(MemoryMarshal.AsBytes(list.Keys.AsSpan(0, list.Count)));
                    stream.Write(MemoryMarshal.AsBytes(list.Scales.AsSpan(0, list.Count)));
                    stream.Write(MemoryMarshal.AsBytes(list.Codes.AsSpan(0, list.Count * _codeDimensions)));
                }

                Span<byte> trailer = stackalloc byte[16];
                s_end.CopyTo(trailer);
                BinaryPrimitives.WriteInt64LittleEndian(trailer[8..], count);
                stream.Write(trailer);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
            return count;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            throw new VectorIndexException($"Could not save the index to {full}: {e.Message}", e);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// Opens an index written by <see cref="Save"/>: its header, centroids, projection and list counts now, each list's
    /// vectors when a search first scans it, and all of them in the background (the file stays open until then). A
    /// file that is not one, was cut short, or holds another dimensionality throws <see cref="VectorIndexException"/>
    /// naming the file; a read that fails later fails the search or the background load the same way.
    /// </summary>
    public static IvfVectorIndex Open(string path, IvfOptions options) => Open(path, options, static load => Task.Run(load));

    /// <summary>Lists whose vectors are in memory (an opened index reads them as it goes).</summary>
    internal int LoadedLists => Volatile.Read(ref _lists).Count(l => l.IsLoaded);

    /// <inheritdoc cref="Open(string, IvfOptions)"/>
    /// <param name="background">Starts the background load (every list, then the key map); tests hold it back.</param>
    internal static IvfVectorIndex Open(string path, IvfOptions options, Func<Func<Dictionary<long, long>>, Task<Dictionary<long, long>>> background)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var full = Path.GetFullPath(path);
        var index = new IvfVectorIndex(options);
        SavedLists? file = null;
        try
        {
            file = new SavedLists(File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.Read), full);
            Span<byte> header = stackalloc byte[HeaderBytes];
            long at = file.Read(header, 0);
            if (!header[..8].SequenceEqual(s_magic))
            {
                throw Corrupt(full, "it is not an inverted-file index (wrong signature)");
            }

            var version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
            var dimensions = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
            var lists = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
            var codeDimensions = BinaryPrimitives.ReadInt32LittleEndian(header[20..]);
            var count = BinaryPrimitives.ReadInt64LittleEndian(header[24..]);
            var projected = BinaryPrimitives.ReadInt32LittleEndian(header[48..]);
            if (version != 1)
            {
                throw Corrupt(full, $"format version {version}, this build reads 1");
            }

            if (dimensions != options.Dimensions)
            {
                throw new VectorIndexException($"The index {full} holds {dimensions}-dimensional vectors; {options.Dimensions} are configured.");
            }

            if (lists is < 1 or > MaxLists || codeDimensions < 1 || codeDimensions > dimensions || projected is not (0 or 1)
                || (projected == 0 && codeDimensions != dimensions) || count < 0 || count > file.Length / codeDimensions)
            {
                throw Corrupt(full, $"{lists} lists of {codeDimensions}-component codes and {count} vectors do not fit the file");
            }

            index._trainedAt = BinaryPrimitives.ReadInt64LittleEndian(header[32..]);
            index._expected = BinaryPrimitives.ReadInt64LittleEndian(header[40..]);
            index._codeDimensions = codeDimensions;
            index._centroids = new float[(long)lists * codeDimensions];
            at += file.Read(MemoryMarshal.AsBytes(index._centroids.AsSpan()), at);
            if (projected == 1)
            {
                index._projection = new float[codeDimensions * dimensions];
                at += file.Read(MemoryMarshal.AsBytes(index._projection.AsSpan()), at);
            }

            // The lists' counts give where each one lies; their vectors are read when first scanned, and all of them in
            // the background, so the first answer needs the lists it scans, not the whole file (2 GB at 10M faces).
            var pending = new IvfList[lists];
            Span<byte> length = stackalloc byte[4];
            long seen = 0;
            for (var l = 0; l < lists; l++)
            {
                at += file.Read(length, at);
                var n = BinaryPrimitives.ReadInt32LittleEndian(length);
                if (n < 0 || seen + n > count)
                {
                    throw Corrupt(full, $"list {l} claims {n} vectors beyond the {count} recorded");
                }

                pending[l] = IvfList.Pending(codeDimensions, n, file, at);
                at += IvfList.SavedBytes(codeDimensions, n);
                seen += n;
            }

            Span<byte> trailer = stackalloc byte[16];
            file.Read(trailer, at);
            if (seen != count || !trailer[..8].SequenceEqual(s_end) || BinaryPrimitives.ReadInt64LittleEndian(trailer[8..]) != count)
            {
                throw Corrupt(full, "its end marker is missing or does not match its header");
            }

            // Searches need only the lists they scan; the rest are read behind the first answer, then the key → slot map
            // (adds, removes, Contains, filtered walks) is built: 10M keys take seconds to hash. Anything that needs the
            // map waits for both.
            index._lists = pending;
            var loading = file;
            index._mapping = background(() =>
            {
                foreach (var list in pending)
                {
                    list.EnsureLoaded();
                }

                loading.Dispose();
                return MapKeys(pending, count, full);
            });
            file = null;
            return index;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            index.Dispose();
            throw new VectorIndexException($"Could not read the index {full}: {e.Message}", e);
        }
        catch
        {
            index.Dispose();
            throw;
        }
        finally
        {
            file?.Dispose();
        }
    }

    public void Dispose() => _lock.Dispose();

    private static VectorIndexException Corrupt(string path, string why) => new($"The index file {path} is unusable: {why}.");

    /// <summary>
    /// The key → slot map. For an opened index it waits for the background build; a file that stored a key twice
    /// fails here, naming the file, on every use (a rebuild from the catalog mends it).
    /// </summary>
    private Dictionary<long, long> Where
    {
        get
        {
            if (Volatile.Read(ref _mapping) is { } mapping)
            {
                _where = mapping.GetAwaiter().GetResult();
                Volatile.Write(ref _mapping, null);
            }

            return _where;
        }
    }

    private static Dictionary<long, long> MapKeys(IvfList[] lists, long count, string path)
    {
        var where = new Dictionary<long, long>((int)count);
        for (var l = 0; l < lists.Length; l++)
        {
            var keys = lists[l].Keys;
            for (var slot = 0; slot < lists[l].Count; slot++)
            {
                if (!where.TryAdd(keys[slot], Location(l, slot)))
                {
                    throw Corrupt(path, $"key {keys[slot]} is stored twice (run lineup index rebuild)");
                }
            }
        }

        return where;
    }

    private static long Location(int list, int slot) => ((long)list << 32) | (uint)slot;

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: a stale temporary file is overwritten by the next save.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }

    private void RemoveAt(long location)
    {
        var list = _lists[(int)(location >> 32)];
        var slot = (int)location;
        if (list.RemoveAt(slot, out var moved))
        {
            Where[moved] = location;
        }
    }

    private void AddCore(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors)
    {
        var d = Dimensions;
        var n = keys.Length;
        var scales = GC.AllocateUninitializedArray<float>(n);
        var assigned = GC.AllocateUninitializedArray<int>(n);
        var source = vectors.ToArray();
        _lock.EnterUpgradeableReadLock();
        try
        {
            // Writers are excluded from here on, so the basis and centroids stay as they are while the batch is coded
            // and assigned.
            var centroids = _centroids;
            var projection = _projection;
            var m = _codeDimensions;
            var lists = _lists.Length;
            var codes = GC.AllocateUninitializedArray<sbyte>(n * m);
            var threads = n < ParallelBatch ? 1 : Math.Min(Options.Threads, Math.Max(1, n / ParallelBatch));
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                var unit = new float[d];
                var coded = new float[m];
                var (from, to) = SphericalKMeans.Slice(n, threads, t);
                for (var i = from; i < to; i++)
                {
                    var row = source.AsSpan(i * d, d);
                    TensorPrimitives.Divide(row, TensorPrimitives.Norm(row), unit);
                    Project(projection, unit, coded);
                    scales[i] = Int8Quantizer.Quantize(coded, codes.AsSpan(i * m, m));
                    assigned[i] = lists == 1 ? 0 : SphericalKMeans.Nearest(centroids, lists, m, coded);
                }
            });

            _lock.EnterWriteLock();
            try
            {
                for (var i = 0; i < n; i++)
                {
                    if (Where.Remove(keys[i], out var old))
                    {
                        RemoveAt(old);
                    }

                    var slot = _lists[assigned[i]].Append(keys[i], scales[i], codes.AsSpan(i * m, m));
                    Where[keys[i]] = Location(assigned[i], slot);
                }
            }
            finally
            {
                _lock.ExitWriteLock();
            }

            TrainIfDue();
        }
        finally
        {
            _lock.ExitUpgradeableReadLock();
        }
    }

    /// <summary>
    /// Trains the lists when the index has grown enough (see the class remarks). Runs under the upgradeable lock:
    /// searches go on against the old lists, which are swapped for the new ones under the write lock at the end.
    /// </summary>
    private void TrainIfDue()
    {
        var count = Where.Count;
        var expected = Interlocked.Read(ref _expected);
        var goal = Math.Max(count, expected);
        var lists = Options.Lists ?? ListsFor(goal);
        if (lists <= 1 || count <= FlatLimit && Options.Lists is null)
        {
            return;
        }

        // The first training waits for a full sample (64 vectors a list), or for every vector of a smaller reserved build.
        var due = _trainedAt == 0
            ? count >= Math.Min(expected > 0 ? expected : long.MaxValue, (long)SamplePerList * lists)
            : Options.Lists is null && ListsFor(count) >= 2 * _lists.Length;
        if (!due)
        {
            return;
        }

        var (projection, centroids, trained, where) = Train(Options.Lists ?? ListsFor(Math.Max(count, goal)));
        _lock.EnterWriteLock();
        try
        {
            _projection = projection;
            _codeDimensions = projection.Length / Dimensions;
            _centroids = centroids;
            _lists = trained;
            _where = where;
            _trainedAt = count;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>
    /// On a sample of the stored vectors (dequantised): the principal components that keep all but
    /// <see cref="DroppedEnergy"/> of its energy, then k-means in their basis; then every stored vector re-coded in the
    /// new basis and assigned to the new lists.
    /// </summary>
    private (float[] Projection, float[] Centroids, IvfList[] Lists, Dictionary<long, long> Where) Train(int lists)
    {
        var d = Dimensions;
        var old = _codeDimensions;
        var count = Where.Count;
        lists = Math.Min(lists, count);

        // A stratified sample: evenly spaced ordinals over the lists in order, so every list contributes its share.
        var rows = (int)Math.Min(count, (long)SamplePerList * lists);
        var sample = new float[(long)rows * old];
        var ordinal = 0L;
        var next = 0;
        foreach (var list in _lists)
        {
            for (var slot = 0; slot < list.Count && next < rows; slot++, ordinal++)
            {
                if (ordinal == (long)((next + 0.5) * count / rows))
                {
                    var row = sample.AsSpan(next * old, old);
                    Int8Quantizer.Dequantize(list.Code(slot), list.Scales[slot], row);
                    TensorPrimitives.Divide(row, TensorPrimitives.Norm(row), row);
                    next++;
                }
            }
        }

        // The basis: rows of `basis` map the current code space to the new one (m × old); composed with the current
        // projection it maps embeddings to codes.
        var basis = PrincipalBasis(sample, next, old);
        var m = basis.Length / old;
        var projected = new float[(long)next * m];
        for (var r = 0; r < next; r++)
        {
            var row = projected.AsSpan(r * m, m);
            Project(basis, sample.AsSpan(r * old, old), row);
            TensorPrimitives.Divide(row, TensorPrimitives.Norm(row), row);
        }

        var projection = _projection is null ? basis : Compose(basis, m, old, _projection, d);
        var centroids = SphericalKMeans.Train(projected, next, m, lists, TrainingIterations, Options.Seed, Options.Threads);
        lists = centroids.Length / m;

        // Re-code and reassign, in parallel over the old lists.
        var current = _lists;
        var targets = new int[current.Length][];
        var scales = new float[current.Length][];
        var codes = new sbyte[current.Length][];
        Parallel.For(0, current.Length, new ParallelOptions { MaxDegreeOfParallelism = Options.Threads }, () => (new float[old], new float[m]), (l, _, buffers) =>
        {
            var (row, coded) = buffers;
            var list = current[l];
            var target = targets[l] = new int[list.Count];
            var scale = scales[l] = new float[list.Count];
            var code = codes[l] = new sbyte[list.Count * m];
            for (var slot = 0; slot < list.Count; slot++)
            {
                Int8Quantizer.Dequantize(list.Code(slot), list.Scales[slot], row);
                Project(basis, row, coded);
                TensorPrimitives.Divide(coded, TensorPrimitives.Norm(coded), coded);
                scale[slot] = Int8Quantizer.Quantize(coded, code.AsSpan(slot * m, m));
                target[slot] = SphericalKMeans.Nearest(centroids, lists, m, coded);
            }

            return buffers;
        }, _ => { });

        var sizes = new int[lists];
        foreach (var target in targets)
        {
            foreach (var t in target)
            {
                sizes[t]++;
            }
        }

        var trained = new IvfList[lists];
        for (var l = 0; l < lists; l++)
        {
            trained[l] = new IvfList(m, sizes[l] + (sizes[l] / 8));
        }

        var where = new Dictionary<long, long>(count);
        for (var l = 0; l < current.Length; l++)
        {
            var list = current[l];
            for (var slot = 0; slot < list.Count; slot++)
            {
                var t = targets[l][slot];
                var at = trained[t].Append(list.Keys[slot], scales[l][slot], codes[l].AsSpan(slot * m, m));
                where.Add(list.Keys[slot], Location(t, at));
            }
        }

        return (projection, centroids, trained, where);
    }

    /// <summary>
    /// The principal directions of the <paramref name="rows"/> × <paramref name="dimensions"/> sample (eigenvectors of
    /// its second-moment matrix, largest first) that keep all but <see cref="DroppedEnergy"/> of its energy, as many as
    /// that takes rounded up to a multiple of 32 (at most all): a row-major m × dimensions matrix.
    /// </summary>
    /// <remarks>A sample of fewer than 4 rows a dimension is too small to tell which directions are empty: then all are kept.</remarks>
    internal static float[] PrincipalBasis(float[] sample, int rows, int dimensions)
    {
        var d = dimensions;
        if (rows < 4 * d)
        {
            var identity = new float[d * d];
            for (var i = 0; i < d; i++)
            {
                identity[(i * d) + i] = 1;
            }

            return identity;
        }

        var (values, vectors) = PrincipalComponents.Of(sample, rows, d);
        var m = PrincipalComponents.Keeping(values, DroppedEnergy);
        m = Math.Min(d, Math.Max(32, (m + 31) / 32 * 32));
        var basis = new float[m * d];
        for (var i = 0; i < m * d; i++)
        {
            basis[i] = (float)vectors[i];
        }

        return basis;
    }

    /// <summary><c>a</c> (m × k) times <c>b</c> (k × n), row-major.</summary>
    private static float[] Compose(float[] a, int m, int k, float[] b, int n)
    {
        var product = new float[m * n];
        for (var i = 0; i < m; i++)
        {
            var target = product.AsSpan(i * n, n);
            for (var j = 0; j < k; j++)
            {
                TensorPrimitives.MultiplyAdd(b.AsSpan(j * n, n), a[(i * k) + j], target, target);
            }
        }

        return product;
    }

    /// <summary>Writes the codes' basis components of <paramref name="vector"/> (a copy when there is no projection yet).</summary>
    private static void Project(float[]? projection, ReadOnlySpan<float> vector, Span<float> coded)
    {
        if (projection is null)
        {
            vector.CopyTo(coded);
            return;
        }

        var d = vector.Length;
        for (var i = 0; i < coded.Length; i++)
        {
            coded[i] = TensorPrimitives.Dot(projection.AsSpan(i * d, d), vector);
        }
    }

    private int SearchCore(ReadOnlySpan<float> query, Span<VectorHit> results, FaceKeySet? allowed)
    {
        VectorChecks.Vector(query, Dimensions, nameof(query));
        if (results.IsEmpty)
        {
            return 0;
        }

        var d = Dimensions;
        var scratch = t_scratch ??= new Scratch();
        scratch.Ensure(d);
        var unit = scratch.Unit.AsSpan(0, d);
        TensorPrimitives.Divide(query, TensorPrimitives.Norm(query), unit);
        var top = new TopHits(results);
        _lock.EnterReadLock();
        try
        {
            // In the codes' basis, which a training may change: read under the lock.
            var m = _codeDimensions;
            var coded = scratch.Coded.AsSpan(0, m);
            Project(_projection, unit, coded);
            var probe = scratch.Probe.AsSpan(0, m);
            var probeScale = Int8Quantizer.Quantize(coded, probe);
            if (allowed is not null && allowed.Count * SetWalkAdvantage < Where.Count)
            {
                foreach (var key in allowed)
                {
                    if (Where.TryGetValue(key, out var location))
                    {
                        var list = _lists[(int)(location >> 32)];
                        var slot = (int)location;
                        var similarity = Similarity(Int8Kernels.Dot(probe, list.Code(slot)), probeScale, list.Scales[slot]);
                        if (similarity >= top.Threshold)
                        {
                            top.Offer(key, similarity);
                        }
                    }
                }

                return top.Complete();
            }

            var lists = _lists;
            if (lists.Length == 1)
            {
                Scan(lists[0], probe, probeScale, ref top, allowed);
                return top.Complete();
            }

            // Score every centroid, then scan the lists nearest first.
            scratch.EnsureLists(lists.Length);
            var scores = scratch.Scores.AsSpan(0, lists.Length);
            var order = scratch.Order.AsSpan(0, lists.Length);
            var centroids = _centroids;
            for (var c = 0; c < lists.Length; c++)
            {
                // Negated, so an ascending sort puts the nearest list first.
                scores[c] = -TensorPrimitives.Dot(centroids.AsSpan(c * m, m), coded);
                order[c] = c;
            }

            var probes = Math.Min(lists.Length, Probes);
            if (allowed is null && probes < lists.Length)
            {
                // Only the nearest `probes` lists are needed: a partial selection through the same heap as the hits.
                var nearest = scratch.Nearest.AsSpan(0, probes);
                var pick = new TopHits(nearest);
                for (var c = 0; c < lists.Length; c++)
                {
                    pick.Offer(c, -scores[c]);
                }

                var picked = pick.Complete();
                var codes = 0L;
                for (var p = 0; p < picked; p++)
                {
                    codes += lists[nearest[p].Key].Count;
                }

                if (Volatile.Read(ref _scanThreads) < 2 || codes < ParallelScanCodes)
                {
                    for (var p = 0; p < picked; p++)
                    {
                        Scan(lists[nearest[p].Key], probe, probeScale, ref top, null);
                    }

                    return top.Complete();
                }

                // Two cores for one probe: the lists are dealt alternately, nearest first, and the shared scan thread
                // scans the odd ones into its own heap while this thread scans the even ones (the read lock held by
                // this thread covers both). The scan is bound by memory bandwidth, which one core does not exhaust.
                var helper = scratch.Helper ??= new ScanWork();
                helper.Start(lists, scratch.Nearest, picked, scratch.Probe, m, probeScale, results.Length);
                try
                {
                    for (var p = 0; p < picked; p += 2)
                    {
                        Scan(lists[nearest[p].Key], probe, probeScale, ref top, null);
                    }
                }
                finally
                {
                    helper.Finish();
                }

                foreach (var hit in helper.Found)
                {
                    if (hit.Similarity >= top.Threshold)
                    {
                        top.Offer(hit.Key, hit.Similarity);
                    }
                }

                return top.Complete();
            }

            scores.Sort(order);
            var scanned = 0;
            foreach (var l in order)
            {
                // Past the usual probes, a filtered search goes on only until it has k hits.
                if (scanned++ >= probes && top.Threshold > float.NegativeInfinity)
                {
                    break;
                }

                Scan(lists[l], probe, probeScale, ref top, allowed);
            }

            return top.Complete();
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    private static void Scan(IvfList list, ReadOnlySpan<short> probe, float probeScale, ref TopHits top, FaceKeySet? allowed)
    {
        var d = probe.Length;
        var count = list.Count;
        var keys = list.Keys;
        var scales = list.Scales;
        var codes = list.Codes.AsSpan(0, count * d);
        for (var i = 0; i < count; i++)
        {
            if (allowed is not null && !allowed.Contains(keys[i]))
            {
                continue;
            }

            var similarity = Similarity(Int8Kernels.Dot(probe, codes.Slice(i * d, d)), probeScale, scales[i]);
            if (similarity >= top.Threshold)
            {
                top.Offer(keys[i], similarity);
            }
        }
    }

    /// <summary>The integer dot back to a cosine, kept within [-1, 1] (rounding can step just past it).</summary>
    private static float Similarity(int dot, float probeScale, float scale) => Math.Clamp(dot * probeScale * scale, -1f, 1f);

    /// <summary>
    /// The scan thread shared by every index's split searches: one, since a search splits in two. A search hands it the
    /// second half only when it is idle; otherwise (another search holds it) the search scans both halves itself, so
    /// concurrent searches never queue behind one another or oversubscribe the cores.
    /// </summary>
    /// <remarks>
    /// Not the thread pool: with every pool thread busy in a search of its own (a server's requests, or two benchmark
    /// clients on two cores), a half queued to the pool waited for it to inject a thread, about half a second (a p99 of
    /// 554 ms at 10M faces); and queueing allocates.
    /// </remarks>
    private static class SplitScanner
    {
        private static readonly SemaphoreSlim s_wake = new(0);
        private static ScanWork? s_pending;

        static SplitScanner()
        {
            new Thread(Loop) { IsBackground = true, Name = "Lineup split scan" }.Start();
        }

        /// <summary>Hands <paramref name="work"/> to the scan thread when it has nothing pending; false otherwise.</summary>
        public static bool TryHand(ScanWork work)
        {
            if (Interlocked.CompareExchange(ref s_pending, work, null) is not null)
            {
                return false;
            }

            s_wake.Release();
            return true;
        }

        private static void Loop()
        {
            while (true)
            {
                s_wake.Wait();
                Interlocked.Exchange(ref s_pending, null)?.Execute();
            }
        }
    }

    /// <summary>
    /// The second half of a split scan, run by <see cref="SplitScanner"/>, or by the searching thread itself when the
    /// scan thread is busy or has not taken it by the time the search's own half is done. One per searching thread,
    /// reused, so a split search allocates nothing after the first.
    /// </summary>
    private sealed class ScanWork
    {
        private const int Queued = 0;
        private const int TakenByPool = 1;
        private const int TakenBack = 2;

        private int _state = TakenBack;
        private IvfList[] _lists = [];
        private VectorHit[] _nearest = [];
        private short[] _probe = [];
        private VectorHit[] _hits = [];
        private int _picked;
        private int _dimensions;
        private float _scale;
        private int _found;
        private Exception? _error;

        private ManualResetEventSlim Done { get; } = new(false);

        /// <summary>What the scan kept, best first. Read after <see cref="Finish"/>; rethrows the scan's failure.</summary>
        public ReadOnlySpan<VectorHit> Found => _error is null ? _hits.AsSpan(0, _found) : throw new VectorIndexException($"A split index scan failed: {_error.Message}", _error);

        public void Start(IvfList[] lists, VectorHit[] nearest, int picked, short[] probe, int dimensions, float scale, int k)
        {
            (_lists, _nearest, _picked, _probe, _dimensions, _scale) = (lists, nearest, picked, probe, dimensions, scale);
            if (_hits.Length != k)
            {
                _hits = new VectorHit[k];
            }

            _found = 0;
            _error = null;
            Done.Reset();
            Volatile.Write(ref _state, Queued);
            SplitScanner.TryHand(this);
        }

        public void Execute()
        {
            if (Interlocked.CompareExchange(ref _state, TakenByPool, Queued) != Queued)
            {
                return;
            }

            try
            {
                Run();
            }
            finally
            {
                Done.Set();
            }
        }

        /// <summary>Called by the searching thread after its own half: runs the other half unless a pool thread took it, then waits for that.</summary>
        public void Finish()
        {
            if (Interlocked.CompareExchange(ref _state, TakenBack, Queued) == Queued)
            {
                Run();
            }
            else
            {
                Done.Wait();
            }
        }

        private void Run()
        {
            try
            {
                var top = new TopHits(_hits);
                for (var p = 1; p < _picked; p += 2)
                {
                    Scan(_lists[_nearest[p].Key], _probe.AsSpan(0, _dimensions), _scale, ref top, null);
                }

                _found = top.Complete();
            }
            catch (Exception e)
            {
                _error = e;
            }
        }
    }

    /// <summary>Per-thread buffers of a search, so a search allocates nothing.</summary>
    private sealed class Scratch
    {
        public ScanWork? Helper { get; set; }

        public float[] Unit { get; private set; } = [];

        public float[] Coded { get; private set; } = [];

        public short[] Probe { get; private set; } = [];

        public float[] Scores { get; private set; } = [];

        public int[] Order { get; private set; } = [];

        public VectorHit[] Nearest { get; private set; } = [];

        public void Ensure(int dimensions)
        {
            if (Unit.Length < dimensions)
            {
                Unit = new float[dimensions];
                Coded = new float[dimensions];
                Probe = new short[dimensions];
            }
        }

        public void EnsureLists(int lists)
        {
            if (Scores.Length < lists)
            {
                Scores = new float[lists];
                Order = new int[lists];
                Nearest = new VectorHit[lists];
            }
        }
    }
}
