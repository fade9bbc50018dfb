using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Lineup.Core.Indexing;

namespace Lineup.Index.Ivf;

/// <summary>
/// Approximate cosine search by an inverted file over int8 codes (IVF-SQ8): k-means cuts the gallery into lists, a
/// search scores the probe against every centroid and scans the vectors of the nearest <see cref="Probes"/> lists with
/// an integer dot product. Everything is in managed memory, so adds run on both cores (the graph index's native inserts
/// must be serialised), a build costs one k-means and one assignment pass instead of a graph walk per vector, and the
/// cost of a search is a predictable scan rather than a walk whose length varies.
/// </summary>
/// <remarks>
/// <para>Each vector is stored normalised as 512 signed bytes with its own scale (its largest component maps to ±127),
/// 516 bytes plus its key and slot entry. The probe is quantised the same way; the product of the two scales turns the
/// integer dot into the cosine, within about 0.002 of the float one. Callers that need exact scores re-rank the
/// candidates with the catalog's embeddings (<c>Lineup:Search:Rerank</c>).</para>
/// <para>Below <see cref="FlatLimit"/> vectors there is one list and a search is an exact scan of the codes. As the
/// gallery grows the lists are re-trained: on a sample (64 vectors per list, dequantised from the codes), then every
/// vector is reassigned. That happens inside the add that crossed the threshold, with searches still answered from the
/// old lists until the new ones are swapped in; <see cref="Reserve"/> tells the index the size to expect, so a bulk build
/// trains once, at its final list count.</para>
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

    /// <summary>Walk an allowed set key by key when it has at least this many times fewer keys than the index has vectors.</summary>
    private const int SetWalkAdvantage = 4;

    /// <summary>Below this many vectors a batch is prepared on the calling thread.</summary>
    private const int ParallelBatch = 512;

    private static readonly byte[] s_magic = "LNIVF001"u8.ToArray();
    private static readonly byte[] s_end = "LNIVFEND"u8.ToArray();

    [ThreadStatic]
    private static Scratch? t_scratch;

    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private Dictionary<long, long> _where = [];
    private float[] _centroids;
    private IvfList[] _lists;
    private long _trainedAt;
    private long _expected;
    private int? _probes;

    public IvfVectorIndex(IvfOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Dimensions = options.Dimensions;
        _probes = options.Probes;
        _centroids = new float[Dimensions];
        _lists = [new IvfList(Dimensions, 1024)];
    }

    public IvfOptions Options { get; }

    public int Dimensions { get; }

    public long Count
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _where.Count;
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

    /// <summary>Managed bytes the index holds: centroids, lists (at capacity) and the key → slot map.</summary>
    public long MemoryUsageBytes
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                // A dictionary entry holds the key, the value, the hash and the next link (24 bytes) plus a 4-byte bucket.
                return (_centroids.LongLength * sizeof(float)) + _lists.Sum(l => l.Bytes) + (_where.EnsureCapacity(0) * 28L);
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
            if (!_where.Remove(key, out var location))
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
            return _where.ContainsKey(key);
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
            var count = _where.Count;
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> header = stackalloc byte[48];
                s_magic.CopyTo(header);
                BinaryPrimitives.WriteInt32LittleEndian(header[8..], 1);
                BinaryPrimitives.WriteInt32LittleEndian(header[12..], Dimensions);
                BinaryPrimitives.WriteInt32LittleEndian(header[16..], _lists.Length);
                BinaryPrimitives.WriteInt32LittleEndian(header[20..], 0);
                BinaryPrimitives.WriteInt64LittleEndian(header[24..], count);
                BinaryPrimitives.WriteInt64LittleEndian(header[32..], _trainedAt);
                BinaryPrimitives.WriteInt64LittleEndian(header[40..], _expected);
                stream.Write(header);
                stream.Write(MemoryMarshal.AsBytes(_centroids.AsSpan()));
                Span<byte> length = stackalloc byte[4];
                foreach (var list in _lists)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(length, list.Count);
                    stream.Write(length);
                    stream.Write(MemoryMarshal.AsBytes(list.Keys.AsSpan(0, list.Count)));
                    stream.Write(MemoryMarshal.AsBytes(list.Scales.AsSpan(0, list.Count)));
                    stream.Write(MemoryMarshal.AsBytes(list.Codes.AsSpan(0, list.Count * Dimensions)));
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
    /// Reads an index written by <see cref="Save"/>. A file that is not one, was cut short, or holds another
    /// dimensionality throws <see cref="VectorIndexException"/> naming the file.
    /// </summary>
    public static IvfVectorIndex Open(string path, IvfOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var full = Path.GetFullPath(path);
        var index = new IvfVectorIndex(options);
        try
        {
            using var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            Span<byte> header = stackalloc byte[48];
            stream.ReadExactly(header);
            if (!header[..8].SequenceEqual(s_magic))
            {
                throw Corrupt(full, "it is not an inverted-file index (wrong signature)");
            }

            var version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
            var dimensions = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
            var lists = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
            var count = BinaryPrimitives.ReadInt64LittleEndian(header[24..]);
            if (version != 1)
            {
                throw Corrupt(full, $"format version {version}, this build reads 1");
            }

            if (dimensions != options.Dimensions)
            {
                throw new VectorIndexException($"The index {full} holds {dimensions}-dimensional vectors; {options.Dimensions} are configured.");
            }

            if (lists is < 1 or > MaxLists || count < 0 || count > stream.Length / dimensions)
            {
                throw Corrupt(full, $"{lists} lists and {count} vectors do not fit the file");
            }

            index._trainedAt = BinaryPrimitives.ReadInt64LittleEndian(header[32..]);
            index._expected = BinaryPrimitives.ReadInt64LittleEndian(header[40..]);
            index._centroids = new float[(long)lists * dimensions];
            stream.ReadExactly(MemoryMarshal.AsBytes(index._centroids.AsSpan()));
            index._lists = new IvfList[lists];
            index._where = new Dictionary<long, long>((int)count);
            Span<byte> length = stackalloc byte[4];
            long seen = 0;
            for (var l = 0; l < lists; l++)
            {
                stream.ReadExactly(length);
                var n = BinaryPrimitives.ReadInt32LittleEndian(length);
                if (n < 0 || seen + n > count)
                {
                    throw Corrupt(full, $"list {l} claims {n} vectors beyond the {count} recorded");
                }

                var list = new IvfList(dimensions, n);
                stream.ReadExactly(MemoryMarshal.AsBytes(list.Keys.AsSpan(0, n)));
                stream.ReadExactly(MemoryMarshal.AsBytes(list.Scales.AsSpan(0, n)));
                stream.ReadExactly(MemoryMarshal.AsBytes(list.Codes.AsSpan(0, n * dimensions)));
                list.Load(n);
                for (var slot = 0; slot < n; slot++)
                {
                    if (!index._where.TryAdd(list.Keys[slot], Location(l, slot)))
                    {
                        throw Corrupt(full, $"key {list.Keys[slot]} is stored twice");
                    }
                }

                index._lists[l] = list;
                seen += n;
            }

            Span<byte> trailer = stackalloc byte[16];
            stream.ReadExactly(trailer);
            if (seen != count || !trailer[..8].SequenceEqual(s_end) || BinaryPrimitives.ReadInt64LittleEndian(trailer[8..]) != count)
            {
                throw Corrupt(full, "its end marker is missing or does not match its header");
            }

            return index;
        }
        catch (EndOfStreamException)
        {
            index.Dispose();
            throw Corrupt(full, "it ends early (truncated)");
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
    }

    public void Dispose() => _lock.Dispose();

    private static VectorIndexException Corrupt(string path, string why) => new($"The index file {path} is unusable: {why}.");

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
            _where[moved] = location;
        }
    }

    private void AddCore(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors)
    {
        var d = Dimensions;
        var n = keys.Length;
        var codes = GC.AllocateUninitializedArray<sbyte>(n * d);
        var scales = GC.AllocateUninitializedArray<float>(n);
        var assigned = GC.AllocateUninitializedArray<int>(n);
        var source = vectors.ToArray();
        _lock.EnterUpgradeableReadLock();
        try
        {
            // Writers are excluded from here on, so the centroids stay as they are while the batch is assigned to them.
            var centroids = _centroids;
            var lists = _lists.Length;
            var threads = n < ParallelBatch ? 1 : Math.Min(Options.Threads, Math.Max(1, n / ParallelBatch));
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                var unit = new float[d];
                var (from, to) = SphericalKMeans.Slice(n, threads, t);
                for (var i = from; i < to; i++)
                {
                    var row = source.AsSpan(i * d, d);
                    TensorPrimitives.Divide(row, TensorPrimitives.Norm(row), unit);
                    scales[i] = Int8Kernels.Quantize(unit, codes.AsSpan(i * d, d));
                    assigned[i] = lists == 1 ? 0 : SphericalKMeans.Nearest(centroids, lists, d, unit);
                }
            });

            _lock.EnterWriteLock();
            try
            {
                for (var i = 0; i < n; i++)
                {
                    if (_where.Remove(keys[i], out var old))
                    {
                        RemoveAt(old);
                    }

                    var slot = _lists[assigned[i]].Append(keys[i], scales[i], codes.AsSpan(i * d, d));
                    _where[keys[i]] = Location(assigned[i], slot);
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
        var count = _where.Count;
        var goal = Math.Max(count, Interlocked.Read(ref _expected));
        var lists = Options.Lists ?? ListsFor(goal);
        if (lists <= 1 || count <= FlatLimit && Options.Lists is null)
        {
            return;
        }

        var due = _trainedAt == 0
            ? count >= Math.Min(goal, (long)SamplePerList * lists)
            : Options.Lists is null && ListsFor(count) >= 2 * _lists.Length;
        if (!due)
        {
            return;
        }

        var (centroids, trained, where) = Train(Options.Lists ?? ListsFor(Math.Max(count, goal)));
        _lock.EnterWriteLock();
        try
        {
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

    /// <summary>k-means on a sample of the stored vectors (dequantised), then every vector reassigned to the new lists.</summary>
    private (float[] Centroids, IvfList[] Lists, Dictionary<long, long> Where) Train(int lists)
    {
        var d = Dimensions;
        var count = _where.Count;
        lists = Math.Min(lists, count);

        // A stratified sample: evenly spaced ordinals over the lists in order, so every list contributes its share.
        var rows = (int)Math.Min(count, (long)SamplePerList * lists);
        var sample = new float[(long)rows * d];
        var ordinal = 0L;
        var next = 0;
        foreach (var list in _lists)
        {
            for (var slot = 0; slot < list.Count && next < rows; slot++, ordinal++)
            {
                if (ordinal == (long)((next + 0.5) * count / rows))
                {
                    var row = sample.AsSpan(next * d, d);
                    Int8Kernels.Dequantize(list.Code(slot), list.Scales[slot], row);
                    TensorPrimitives.Divide(row, TensorPrimitives.Norm(row), row);
                    next++;
                }
            }
        }

        var centroids = SphericalKMeans.Train(sample, next, d, lists, TrainingIterations, Options.Seed, Options.Threads);
        lists = centroids.Length / d;

        // Reassign: in parallel over the old lists (the scale does not change which centroid is nearest).
        var old = _lists;
        var targets = new int[old.Length][];
        Parallel.For(0, old.Length, new ParallelOptions { MaxDegreeOfParallelism = Options.Threads }, () => new float[d], (l, _, row) =>
        {
            var list = old[l];
            var target = targets[l] = new int[list.Count];
            for (var slot = 0; slot < list.Count; slot++)
            {
                Int8Kernels.Dequantize(list.Code(slot), 1, row);
                target[slot] = SphericalKMeans.Nearest(centroids, lists, d, row);
            }

            return row;
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
            trained[l] = new IvfList(d, sizes[l] + (sizes[l] / 8));
        }

        var where = new Dictionary<long, long>(count);
        for (var l = 0; l < old.Length; l++)
        {
            var list = old[l];
            for (var slot = 0; slot < list.Count; slot++)
            {
                var t = targets[l][slot];
                var at = trained[t].Append(list.Keys[slot], list.Scales[slot], list.Code(slot));
                where.Add(list.Keys[slot], Location(t, at));
            }
        }

        return (centroids, trained, where);
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
        var probe = scratch.Probe.AsSpan(0, d);
        var probeScale = Int8Kernels.Quantize(unit, probe);
        var top = new TopHits(results);
        _lock.EnterReadLock();
        try
        {
            if (allowed is not null && allowed.Count * SetWalkAdvantage < _where.Count)
            {
                foreach (var key in allowed)
                {
                    if (_where.TryGetValue(key, out var location))
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
                scores[c] = -TensorPrimitives.Dot(centroids.AsSpan(c * d, d), unit);
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
                for (var p = 0; p < picked; p++)
                {
                    Scan(lists[nearest[p].Key], probe, probeScale, ref top, null);
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

    /// <summary>Per-thread buffers of a search, so a search allocates nothing.</summary>
    private sealed class Scratch
    {
        public float[] Unit { get; private set; } = [];

        public short[] Probe { get; private set; } = [];

        public float[] Scores { get; private set; } = [];

        public int[] Order { get; private set; } = [];

        public VectorHit[] Nearest { get; private set; } = [];

        public void Ensure(int dimensions)
        {
            if (Unit.Length < dimensions)
            {
                Unit = new float[dimensions];
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
