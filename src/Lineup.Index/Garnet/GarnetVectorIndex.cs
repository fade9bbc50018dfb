using System.Buffers;
using System.Globalization;
using System.Net;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using Lineup.Core.Indexing;
using StackExchange.Redis;

namespace Lineup.Index.Garnet;

/// <summary>
/// Cosine nearest-neighbour search over a Garnet cluster's vector sets (the <c>--enable-vector-set-preview</c> feature of
/// garnet-server 2.2.8). Faces are dealt over K vector-set keys (<see cref="GarnetShardLayout"/>) spread across the
/// primaries; a search fans out to all K in parallel and merges the top-k by similarity. Element name = face id (decimal);
/// attributes <c>{"c":collectionId,"j":"jurisdiction"}</c> feed the filtered search (VSIM <c>FILTER</c>).
/// </summary>
/// <remarks>
/// <para>
/// Vectors are normalised here and stored under <c>XDISTANCE_METRIC XCOSINE_NORMALIZED</c>, which assumes unit vectors
/// (it does not normalise) and scores distance = 1 − cosine; similarity is reported as 1 − distance. Every VADD repeats the
/// metric, quantisation, EF and M: Garnet takes an omitted quantisation as Q8 and refuses a VADD whose settings differ
/// from the key's ("quantization mismatch", "M value mismatch").
/// </para>
/// <para>
/// Reads go to the shard's primary. A connection failure or timeout there sends that shard's read to its replica
/// (<see cref="CommandFlags.DemandReplica"/>; StackExchange.Redis opens replica connections READONLY) and marks the
/// primary suspect for <see cref="SuspectPrimaryFor"/>, so a hung node costs one timeout per window rather than one per
/// search. Garnet has no automatic failover: writes to a shard whose primary is down fail until an operator runs
/// <see cref="FailoverAsync"/> (CLUSTER FAILOVER TAKEOVER on the replica). Commands fail fast while a node is
/// disconnected (<see cref="BacklogPolicy.FailFast"/>) instead of queueing until the timeout.
/// </para>
/// <para>
/// Measured with <see cref="GarnetIndexBenchmark"/> (100k × 512 clustered unit vectors, 6 shards on 3 primaries + 3
/// replicas, NOQUANT, Links 16, 1,000 queries, exact top-10 as truth; one 2-core machine running every node, the client
/// and other builds at load average ~25): BuildEf 100 inserts 278 faces/s, BuildEf 200 217/s; recall@10 0.962 @ EF 20,
/// 0.997 @ 50, 0.9996 @ 100, 1.000 @ 200; p50/p99 5.7/66 ms @ EF 100, 10/51 ms @ EF 200 (the p99s are mostly the load).
/// An exact single-threaded scan of the same 100k took 11-15 ms per query, so the cluster pays off from about a million
/// faces, or when the vectors must live off the search host.
/// </para>
/// </remarks>
public sealed class GarnetVectorIndex : IVectorIndex, IFaceAttributeIndex, IAsyncDisposable
{
    /// <summary>After a primary fails to answer, its shard's reads go straight to the replica for this long.</summary>
    public static readonly TimeSpan SuspectPrimaryFor = TimeSpan.FromSeconds(2);

    /// <summary>
    /// A filtered search over at most this many face ids fetches their vectors and compares them exactly. 2,048 × 512-d
    /// float32 is 4 MiB on the wire; past that, widening an approximate search costs less.
    /// </summary>
    public const int ExactFilterLimit = 2048;

    private const int MaxJurisdictionLength = 64;

    private readonly ConnectionMultiplexer _connection;
    private readonly IDatabase _database;
    private readonly object[] _addSettings;
    private readonly long[] _primarySuspectUntil;
    private readonly string?[] _staging;
    private readonly SemaphoreSlim[] _repopulationGates;
    private int _disposed;

    private GarnetVectorIndex(GarnetIndexOptions options, ConnectionMultiplexer connection)
    {
        Options = options;
        Layout = new GarnetShardLayout(options.KeyPrefix, options.Shards);
        _connection = connection;
        _database = connection.GetDatabase();
        _addSettings =
        [
            "XDISTANCE_METRIC", "XCOSINE_NORMALIZED",
            options.Quantisation == GarnetQuantisation.Q8 ? "Q8" : "NOQUANT",
            "EF", options.BuildEf,
            "M", options.Links,
        ];
        _primarySuspectUntil = new long[options.Shards];
        _staging = new string?[options.Shards];
        _repopulationGates = new SemaphoreSlim[options.Shards];
        for (var s = 0; s < options.Shards; s++)
        {
            _repopulationGates[s] = new SemaphoreSlim(1, 1);
        }
    }

    public GarnetIndexOptions Options { get; }

    public GarnetShardLayout Layout { get; }

    public int Dimensions => Options.Dimensions;

    /// <summary>Sum of the shards' VCARD (primary, else replica).</summary>
    /// <exception cref="VectorIndexException">A shard answered on neither node.</exception>
    public long Count => CountAsync().GetAwaiter().GetResult();

    /// <summary>
    /// Connects to the cluster and checks that shard keys already present were built with these options (dimensions,
    /// metric, quantisation, links): a mismatch is reported here rather than on the first add.
    /// </summary>
    /// <exception cref="VectorIndexException">No node answered, or existing keys were built with other settings.</exception>
    public static async Task<GarnetVectorIndex> ConnectAsync(GarnetIndexOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("FP32 blobs are sent in the machine's byte order, which must be little-endian.");
        }

        var configuration = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            ConnectTimeout = (int)options.ConnectTimeout.TotalMilliseconds,
            SyncTimeout = (int)options.SyncTimeout.TotalMilliseconds,
            AsyncTimeout = (int)options.SyncTimeout.TotalMilliseconds,
            BacklogPolicy = BacklogPolicy.FailFast,
            ClientName = "lineup-index",

            // CLUSTER NODES (status) and CLUSTER FAILOVER (operations) are admin commands to StackExchange.Redis.
            AllowAdmin = true,

            // Replies are parsed as RESP2 arrays (VSIM WITHSCORES: element, score, …; VINFO: name, value, …).
            Protocol = RedisProtocol.Resp2,
        };
        foreach (var endpoint in options.Endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            configuration.EndPoints.Add(endpoint);
        }

        var connection = await ConnectionMultiplexer.ConnectAsync(configuration).WaitAsync(cancellationToken).ConfigureAwait(false);
        var index = new GarnetVectorIndex(options, connection);
        try
        {
            if (!connection.IsConnected)
            {
                throw new VectorIndexException($"No Garnet node answered at {options.Endpoints}.");
            }

            await index.CheckExistingKeysAsync(cancellationToken).ConfigureAwait(false);
            return index;
        }
        catch
        {
            await index.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc cref="ConnectAsync"/>
    public static GarnetVectorIndex Connect(GarnetIndexOptions options) => ConnectAsync(options).GetAwaiter().GetResult();

    /// <summary>The shard a face id belongs to (fixed for a given shard count).</summary>
    public int ShardOf(long key) => Layout.ShardOf(key);

    public async Task<long> CountAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var counts = await Task.WhenAll(Enumerable.Range(0, Layout.Shards).Select(s =>
            ReadShardAsync(s, "VCARD", [(RedisKey)Layout.KeyOf(s)], cancellationToken))).ConfigureAwait(false);
        ThrowIfMissing(counts, "count");
        return counts.Sum(c => (long)c.Result!);
    }

    /// <summary>Adds or replaces one vector (without attributes: filtered searches do not match it).</summary>
    public void Add(long key, ReadOnlySpan<float> vector)
    {
        VectorChecks.Vector(vector, Dimensions, nameof(vector));
        using var chunk = new AddChunk(Dimensions, 1);
        chunk.Add(key, vector, null);
        SendAsync(chunk, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>Adds or replaces <c>keys.Length</c> vectors; when a key repeats, the last vector wins.</summary>
    public void AddRange(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors)
    {
        VectorChecks.Batch(keys, vectors, Dimensions);
        for (var start = 0; start < keys.Length; start += Options.AddConcurrency)
        {
            var count = Math.Min(Options.AddConcurrency, keys.Length - start);
            using var chunk = new AddChunk(Dimensions, count);
            for (var i = start; i < start + count; i++)
            {
                chunk.Add(keys[i], vectors.Slice(i * Dimensions, Dimensions), null);
            }

            SendAsync(chunk, CancellationToken.None).GetAwaiter().GetResult();
        }
    }

    /// <summary>Adds or replaces one face with its collection and jurisdiction (the ingest pipeline's add).</summary>
    public void Add(long key, ReadOnlySpan<float> vector, long collectionId, string? jurisdiction) =>
        AddAsync(key, vector.ToArray(), collectionId, jurisdiction).GetAwaiter().GetResult();

    /// <summary>Adds or replaces faces of one collection, pipelined (the ingest pipeline's add of a committed batch).</summary>
    public void AddRange(IReadOnlyList<(long Key, float[] Vector)> faces, long collectionId, string? jurisdiction)
    {
        ArgumentNullException.ThrowIfNull(faces);
        AddRangeAsync(faces.Select(f => (f.Key, f.Vector, collectionId, jurisdiction))).GetAwaiter().GetResult();
    }

    /// <summary>Adds or replaces one face with its collection and jurisdiction (used by filtered searches).</summary>
    public Task AddAsync(long key, ReadOnlyMemory<float> vector, long collectionId, string? jurisdiction, CancellationToken cancellationToken = default) =>
        AddRangeAsync([(key, vector.ToArray(), collectionId, jurisdiction)], cancellationToken);

    /// <summary>
    /// Adds or replaces faces with their attributes, <see cref="GarnetIndexOptions.AddConcurrency"/> VADDs in flight at a
    /// time; when a key repeats, the last one wins (same key, same shard, same connection: Garnet applies them in order).
    /// A shard that refuses does not stop the others: every face of the other shards is sent (a failed shard is not tried
    /// again within the call, so a dead primary costs one failure, not one per chunk), and the exception at the end names
    /// every shard that failed: exactly the shards to repopulate from the catalog once they take writes again.
    /// </summary>
    /// <exception cref="VectorIndexException">A shard's primary refused or did not answer (the faces of the other shards are added).</exception>
    public async Task AddRangeAsync(
        IEnumerable<(long Key, float[] Vector, long CollectionId, string? Jurisdiction)> faces,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(faces);
        ThrowIfDisposed();
        var failures = new List<(int Shard, Exception Error)>();
        AddChunk? chunk = null;
        try
        {
            foreach (var face in faces)
            {
                chunk ??= new AddChunk(Dimensions, Options.AddConcurrency);
                AddFace(chunk, face);
                if (chunk.IsFull)
                {
                    await SendAsync(chunk, cancellationToken, failures).ConfigureAwait(false);
                    chunk.Dispose();
                    chunk = null;
                }
            }

            if (chunk is not null)
            {
                await SendAsync(chunk, cancellationToken, failures).ConfigureAwait(false);
            }
        }
        finally
        {
            chunk?.Dispose();
        }

        if (failures.Count > 0)
        {
            throw WriteFailed(failures.Select(f => f.Shard).Distinct(), failures[0].Error);
        }
    }

    public bool Remove(long key) => RemoveAsync(key).GetAwaiter().GetResult();

    public async Task<bool> RemoveAsync(long key, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var shard = ShardOf(key);
        var removed = false;
        await WithShardTargetsAsync([shard], async () =>
        {
            removed = await WriteAsync(shard, "VREM", [(RedisKey)Layout.KeyOf(shard), key], cancellationToken).ConfigureAwait(false) == 1;
            if (Volatile.Read(ref _staging[shard]) is { } staging)
            {
                await WriteAsync(shard, "VREM", [(RedisKey)staging, key], cancellationToken).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
        return removed;
    }

    public bool Contains(long key) => ContainsAsync(key).GetAwaiter().GetResult();

    public async Task<bool> ContainsAsync(long key, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var shard = ShardOf(key);
        var read = await ReadShardAsync(shard, "VISMEMBER", [(RedisKey)Layout.KeyOf(shard), key], cancellationToken).ConfigureAwait(false);
        ThrowIfMissing([read], "look up");
        return (long)read.Result! == 1;
    }

    /// <summary>Fans out to every shard; throws when a shard answered on neither its primary nor its replica.</summary>
    /// <exception cref="VectorIndexException">The search could only be partial: the message names the missing shards.</exception>
    public int Search(ReadOnlySpan<float> query, Span<VectorHit> results)
    {
        VectorChecks.Vector(query, Dimensions, nameof(query));
        if (results.IsEmpty)
        {
            return 0;
        }

        return CopyComplete(SearchAsync(query.ToArray(), results.Length).GetAwaiter().GetResult(), results);
    }

    /// <summary>
    /// Filtered search over a set of face ids: a set of at most <see cref="ExactFilterLimit"/> ids is searched exactly
    /// (each allowed face's stored vector is fetched with VEMB, pipelined, and compared here); a larger one widens an
    /// unfiltered search 4× at a time until enough allowed faces are among the hits or the index is exhausted.
    /// </summary>
    /// <exception cref="VectorIndexException">The search could only be partial: the message names the missing shards.</exception>
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

        return CopyComplete(SearchAsync(query.ToArray(), results.Length, allowed).GetAwaiter().GetResult(), results);
    }

    /// <inheritdoc cref="Search(ReadOnlySpan{float}, Span{VectorHit}, FaceKeySet)"/>
    public async Task<GarnetSearchResult> SearchAsync(ReadOnlyMemory<float> query, int k, FaceKeySet allowed, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        if (allowed.IsAll)
        {
            return await SearchAsync(query, k, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        ThrowIfDisposed();
        VectorChecks.Vector(query.Span, Dimensions, nameof(query));
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (k == 0 || allowed.Count == 0)
        {
            return new GarnetSearchResult([], [], []);
        }

        if (allowed.Count <= ExactFilterLimit)
        {
            return await SearchExactlyAsync(query, k, allowed, cancellationToken).ConfigureAwait(false);
        }

        for (var window = k * 4L; ; window *= 4)
        {
            var wide = await SearchAsync(query, (int)Math.Min(window, Array.MaxLength), cancellationToken: cancellationToken).ConfigureAwait(false);
            var kept = wide.Hits.Where(h => allowed.Contains(h.Key)).Take(k).ToList();

            // Fewer hits than asked for means every shard returned all it holds: nothing more to find.
            if (kept.Count == k || wide.Hits.Count < window || !wide.IsComplete || window >= Array.MaxLength)
            {
                return wide with { Hits = kept };
            }
        }
    }

    /// <summary>
    /// The <paramref name="k"/> faces most similar to <paramref name="query"/> over every shard, most similar first (ties:
    /// smaller key). With <paramref name="collectionIds"/> and/or <paramref name="jurisdictions"/> only faces whose
    /// attributes match are searched (VSIM FILTER, applied during the graph walk); an empty list matches nothing.
    /// A shard whose primary and replica both fail is named in <see cref="GarnetSearchResult.MissingShards"/>.
    /// </summary>
    public async Task<GarnetSearchResult> SearchAsync(
        ReadOnlyMemory<float> query,
        int k,
        IReadOnlyCollection<long>? collectionIds = null,
        IReadOnlyCollection<string>? jurisdictions = null,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        VectorChecks.Vector(query.Span, Dimensions, nameof(query));
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (k == 0 || collectionIds is { Count: 0 } || jurisdictions is { Count: 0 })
        {
            return new GarnetSearchResult([], [], []);
        }

        var filter = FilterExpression(collectionIds, jurisdictions);
        var blob = new byte[Dimensions * sizeof(float)];
        var unit = MemoryMarshal.Cast<byte, float>(blob.AsSpan());
        TensorPrimitives.Divide(query.Span, TensorPrimitives.Norm(query.Span), unit);

        var ef = Math.Max(Options.SearchEf, k);
        var reads = new Task<ShardRead>[Layout.Shards];
        for (var s = 0; s < reads.Length; s++)
        {
            object[] args = filter is null
                ? [(RedisKey)Layout.KeyOf(s), "FP32", blob, "WITHSCORES", "COUNT", k, "EF", ef]
                : [(RedisKey)Layout.KeyOf(s), "FP32", blob, "WITHSCORES", "COUNT", k, "EF", ef, "FILTER", filter];
            reads[s] = ReadShardAsync(s, "VSIM", args, cancellationToken);
        }

        await Task.WhenAll(reads).ConfigureAwait(false);
        var hits = new List<VectorHit>(k * reads.Length);
        List<int>? missing = null;
        List<int>? replica = null;
        for (var s = 0; s < reads.Length; s++)
        {
            var read = reads[s].Result;
            if (read.Result is null)
            {
                (missing ??= []).Add(s);
                continue;
            }

            if (read.FromReplica)
            {
                (replica ??= []).Add(s);
            }

            ParseHits(read.Result, hits);
        }

        SortAndTrim(hits, k);
        return new GarnetSearchResult(hits, missing ?? (IReadOnlyList<int>)[], replica ?? (IReadOnlyList<int>)[]);
    }

    private async Task<GarnetSearchResult> SearchExactlyAsync(ReadOnlyMemory<float> query, int k, FaceKeySet allowed, CancellationToken cancellationToken)
    {
        var unit = new float[Dimensions];
        TensorPrimitives.Divide(query.Span, TensorPrimitives.Norm(query.Span), unit);
        var raw = Options.Quantisation == GarnetQuantisation.NoQuant;
        var keys = allowed.ToArray();
        var reads = new Task<ShardRead>[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            var shard = ShardOf(keys[i]);
            object[] args = raw ? [(RedisKey)Layout.KeyOf(shard), keys[i], "RAW"] : [(RedisKey)Layout.KeyOf(shard), keys[i]];
            reads[i] = ReadShardAsync(shard, "VEMB", args, cancellationToken);
        }

        await Task.WhenAll(reads).ConfigureAwait(false);
        var hits = new List<VectorHit>();
        var missing = new SortedSet<int>();
        var replica = new SortedSet<int>();
        var stored = new float[Dimensions];
        for (var i = 0; i < keys.Length; i++)
        {
            var read = reads[i].Result;
            if (read.Result is null)
            {
                missing.Add(read.Shard);
                continue;
            }

            if (read.FromReplica)
            {
                replica.Add(read.Shard);
            }

            // Absent faces answer an empty array. RAW (float32 sets): "fp32", the stored blob, its norm; otherwise the
            // dequantised components one by one.
            if (read.Result.Length == 0)
            {
                continue;
            }

            if (raw)
            {
                MemoryMarshal.Cast<byte, float>(((byte[])read.Result[1]!).AsSpan()).CopyTo(stored);
            }
            else
            {
                for (var d = 0; d < stored.Length; d++)
                {
                    stored[d] = (float)(double)read.Result[d];
                }
            }

            hits.Add(new VectorHit(keys[i], TensorPrimitives.CosineSimilarity(unit, stored)));
        }

        SortAndTrim(hits, k);
        return new GarnetSearchResult(hits, [.. missing], [.. replica]);
    }

    private static void SortAndTrim(List<VectorHit> hits, int k)
    {
        hits.Sort(static (a, b) => b.Similarity != a.Similarity ? b.Similarity.CompareTo(a.Similarity) : a.Key.CompareTo(b.Key));
        if (hits.Count > k)
        {
            hits.RemoveRange(k, hits.Count - k);
        }
    }

    /// <summary>
    /// Rebuilds one shard from <paramref name="source"/> (typically every face of the catalog; faces of other shards are
    /// skipped): the faces go into a staging key in the same slot, which then replaces the live key in one RENAME. Searches
    /// of this shard see the old set until then, and the other shards are not touched. Adds and removes made through this
    /// instance while the rebuild runs are applied to both keys, so they survive the swap. Returns the faces added.
    /// </summary>
    /// <exception cref="InvalidOperationException">This shard is already being repopulated by this instance.</exception>
    public async Task<long> RepopulateShardAsync(
        int shard,
        IAsyncEnumerable<(long Key, float[] Vector, long CollectionId, string? Jurisdiction)> source,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, Layout.Shards);
        ArgumentNullException.ThrowIfNull(source);
        ThrowIfDisposed();
        var live = Layout.KeyOf(shard);
        var staging = Layout.StagingKeyOf(shard);
        await WriteAsync(shard, "DEL", [(RedisKey)staging], cancellationToken).ConfigureAwait(false);
        if (Interlocked.CompareExchange(ref _staging[shard], staging, null) is not null)
        {
            throw new InvalidOperationException($"Shard {shard} is already being repopulated.");
        }

        var added = 0L;
        var swapped = false;
        AddChunk? chunk = null;
        try
        {
            await foreach (var face in source.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                if (ShardOf(face.Key) != shard)
                {
                    continue;
                }

                chunk ??= new AddChunk(Dimensions, Options.AddConcurrency);
                AddFace(chunk, face);
                if (chunk.IsFull)
                {
                    added += chunk.Count;
                    await SendToAsync(chunk, staging, shard, cancellationToken).ConfigureAwait(false);
                    chunk.Dispose();
                    chunk = null;
                }
            }

            if (chunk is not null)
            {
                added += chunk.Count;
                await SendToAsync(chunk, staging, shard, cancellationToken).ConfigureAwait(false);
            }

            // The swap excludes mirrored writes (they hold the same gate), so none lands in the staging key after it.
            await _repopulationGates[shard].WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (added == 0)
                {
                    await WriteAsync(shard, "DEL", [(RedisKey)live, (RedisKey)staging], cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await WriteAsync(shard, "RENAME", [(RedisKey)staging, (RedisKey)live], cancellationToken).ConfigureAwait(false);
                }

                Volatile.Write(ref _staging[shard], null);
                swapped = true;
            }
            finally
            {
                _repopulationGates[shard].Release();
            }

            return added;
        }
        finally
        {
            chunk?.Dispose();
            if (!swapped)
            {
                Volatile.Write(ref _staging[shard], null);
                try
                {
                    await WriteAsync(shard, "DEL", [(RedisKey)staging], CancellationToken.None).ConfigureAwait(false);
                }
                catch (VectorIndexException)
                {
                    // The shard's primary is gone; the next repopulation deletes the leftover first.
                }
            }
        }
    }

    /// <summary>Deletes every shard key (and any leftover staging key).</summary>
    public async Task ClearAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await Task.WhenAll(Enumerable.Range(0, Layout.Shards).Select(s =>
            WriteAsync(s, "DEL", [(RedisKey)Layout.KeyOf(s), (RedisKey)Layout.StagingKeyOf(s)], cancellationToken))).ConfigureAwait(false);
    }

    /// <summary>
    /// Resident memory of every node the client knows (Garnet's <c>INFO memory</c>, <c>proc_physical_memory_size</c>), with
    /// whether it is a replica: what the scale model's memory per face is measured from.
    /// </summary>
    public async Task<IReadOnlyList<(string Node, bool IsReplica, long PhysicalBytes)>> NodeMemoryAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var nodes = new List<(string, bool, long)>();
        foreach (var server in _connection.GetServers().Where(s => s.IsConnected))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var info = await server.InfoAsync("memory").ConfigureAwait(false);
            var value = info.SelectMany(g => g).FirstOrDefault(p => p.Key == "proc_physical_memory_size").Value;
            if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var bytes))
            {
                nodes.Add((server.EndPoint.ToString() ?? "?", server.IsReplica, bytes));
            }
        }

        return nodes;
    }

    /// <summary>Each shard's key, owning node, replica, count and reachability, from the live cluster map.</summary>
    public async Task<IReadOnlyList<GarnetShardStatus>> ShardStatusAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var topology = await TopologyAsync(cancellationToken).ConfigureAwait(false);
        var reachable = new Dictionary<EndPoint, Task<bool>>();
        Task<bool> Ping(EndPoint endpoint)
        {
            if (!reachable.TryGetValue(endpoint, out var ping))
            {
                ping = PingAsync(endpoint, cancellationToken);
                reachable.Add(endpoint, ping);
            }

            return ping;
        }

        var statuses = new List<GarnetShardStatus>(Layout.Shards);
        for (var s = 0; s < Layout.Shards; s++)
        {
            var node = topology?.GetBySlot(Layout.SlotOf(s));
            var replica = node?.Children.FirstOrDefault(c => c.EndPoint is not null);
            var nodeUp = node?.EndPoint is { } nodeEndpoint && await Ping(nodeEndpoint).ConfigureAwait(false);
            var replicaUp = replica?.EndPoint is { } replicaEndpoint && await Ping(replicaEndpoint).ConfigureAwait(false);
            var count = await ReadShardAsync(s, "VCARD", [(RedisKey)Layout.KeyOf(s)], cancellationToken).ConfigureAwait(false);
            var role = node is null ? "unassigned" : (node.IsReplica ? "replica" : "primary") + (node.IsFail || node.IsPossiblyFail ? " (failed)" : "");
            statuses.Add(new GarnetShardStatus(
                s,
                Layout.KeyOf(s),
                Layout.SlotOf(s),
                Format(node?.EndPoint),
                role,
                Format(replica?.EndPoint),
                count.Result is null ? null : (long)count.Result,
                nodeUp,
                replicaUp));
        }

        return statuses;
    }

    /// <summary>
    /// Operations command for a shard whose primary is dead: runs <c>CLUSTER FAILOVER TAKEOVER</c> on its replica (Garnet
    /// has no automatic failover), waits until the cluster map shows the replica owning the slots and this client routes
    /// writes to it. Every shard on the old primary moves with it.
    /// </summary>
    /// <exception cref="InvalidOperationException">The primary still answers (a takeover would leave two primaries), or it has no reachable replica.</exception>
    /// <exception cref="VectorIndexException">The replica did not become primary within the connect timeout × 6.</exception>
    public async Task<GarnetFailover> FailoverAsync(int shard, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, Layout.Shards);
        ThrowIfDisposed();
        var slot = Layout.SlotOf(shard);
        var topology = await TopologyAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new VectorIndexException("No node answered CLUSTER NODES.");
        var primary = topology.GetBySlot(slot) ?? throw new VectorIndexException($"Slot {slot} of shard {shard} has no owner.");
        if (primary.EndPoint is { } primaryEndpoint && await PingAsync(primaryEndpoint, cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException(
                $"The primary of shard {shard} ({Format(primaryEndpoint)}) answers; a takeover would leave two primaries for its slots.");
        }

        ClusterNode? candidate = null;
        foreach (var child in primary.Children)
        {
            if (child.EndPoint is { } endpoint && await PingAsync(endpoint, cancellationToken).ConfigureAwait(false))
            {
                candidate = child;
                break;
            }
        }

        if (candidate?.EndPoint is not { } newEndpoint)
        {
            throw new InvalidOperationException($"The primary of shard {shard} ({Format(primary.EndPoint)}) has no reachable replica.");
        }

        var server = _connection.GetServer(newEndpoint);
        var reply = await server.ExecuteAsync("CLUSTER", "FAILOVER", "TAKEOVER").WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!string.Equals((string?)reply, "OK", StringComparison.OrdinalIgnoreCase))
        {
            throw new VectorIndexException($"CLUSTER FAILOVER TAKEOVER on {Format(newEndpoint)} answered {reply}.");
        }

        var deadline = DateTime.UtcNow + (Options.ConnectTimeout * 6);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var promoted = await server.ClusterNodesAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            if (promoted?.GetBySlot(slot)?.EndPoint is { } owner && owner.Equals(newEndpoint))
            {
                await _connection.ConfigureAsync().ConfigureAwait(false);
                if (await RoutesToAsync(shard, newEndpoint).ConfigureAwait(false))
                {
                    break;
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new VectorIndexException($"{Format(newEndpoint)} did not take over shard {shard}'s slots in time.");
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }

        Volatile.Write(ref _primarySuspectUntil[shard], 0);
        var moved = Enumerable.Range(0, Layout.Shards)
            .Where(s => primary.Slots.Any(range => range.From <= Layout.SlotOf(s) && Layout.SlotOf(s) <= range.To))
            .ToArray();
        foreach (var s in moved)
        {
            Volatile.Write(ref _primarySuspectUntil[s], 0);
        }

        return new GarnetFailover(Format(primary.EndPoint) ?? "?", Format(newEndpoint)!, moved);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _connection.Dispose();
            foreach (var gate in _repopulationGates)
            {
                gate.Dispose();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
            foreach (var gate in _repopulationGates)
            {
                gate.Dispose();
            }
        }
    }

    private static int CopyComplete(GarnetSearchResult result, Span<VectorHit> results)
    {
        if (!result.IsComplete)
        {
            throw new VectorIndexException(
                $"Shard(s) {string.Join(", ", result.MissingShards)} answered on neither primary nor replica, so the search " +
                "would be partial. Check `lineup cluster status`: a shard whose primary is down and replica up is served by " +
                "the replica; one with both down needs a node back.");
        }

        for (var i = 0; i < result.Hits.Count; i++)
        {
            results[i] = result.Hits[i];
        }

        return result.Hits.Count;
    }

    private static void AddFace(AddChunk chunk, (long Key, float[] Vector, long CollectionId, string? Jurisdiction) face)
    {
        ArgumentNullException.ThrowIfNull(face.Vector);
        VectorChecks.Vector(face.Vector, chunk.Dimensions, "faces");
        if (face.Jurisdiction is not null)
        {
            CheckJurisdiction(face.Jurisdiction, "faces");
        }

        var attributes = face.Jurisdiction is null
            ? string.Create(CultureInfo.InvariantCulture, $"{{\"c\":{face.CollectionId}}}")
            : string.Create(CultureInfo.InvariantCulture, $"{{\"c\":{face.CollectionId},\"j\":\"{face.Jurisdiction}\"}}");
        chunk.Add(face.Key, face.Vector, attributes);
    }

    /// <summary>
    /// Jurisdictions are written into JSON attributes and filter expressions verbatim, so they are restricted to characters
    /// that need no escaping in either (codes such as "GB", "US-CA", "eu.gdpr").
    /// </summary>
    private static void CheckJurisdiction(string jurisdiction, string paramName)
    {
        ArgumentNullException.ThrowIfNull(jurisdiction, paramName);
        if (jurisdiction.Length is 0 or > MaxJurisdictionLength
            || !jurisdiction.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
        {
            throw new ArgumentException(
                $"Jurisdiction '{jurisdiction}' must be 1-{MaxJurisdictionLength} ASCII letters, digits, '-', '_', '.' or ':'.", paramName);
        }
    }

    private static string? FilterExpression(IReadOnlyCollection<long>? collectionIds, IReadOnlyCollection<string>? jurisdictions)
    {
        if (collectionIds is null && jurisdictions is null)
        {
            return null;
        }

        var filter = new StringBuilder();
        if (collectionIds is not null)
        {
            filter.Append(".c in [").AppendJoin(',', collectionIds.Select(c => c.ToString(CultureInfo.InvariantCulture))).Append(']');
        }

        if (jurisdictions is not null)
        {
            foreach (var j in jurisdictions)
            {
                CheckJurisdiction(j, nameof(jurisdictions));
            }

            if (filter.Length > 0)
            {
                filter.Append(" && ");
            }

            filter.Append(".j in [").AppendJoin(',', jurisdictions.Select(j => $"\"{j}\"")).Append(']');
        }

        return filter.ToString();
    }

    private static void ParseHits(RedisResult reply, List<VectorHit> hits)
    {
        // RESP2 VSIM … WITHSCORES: element, distance, element, distance, …
        for (var i = 0; i + 1 < reply.Length; i += 2)
        {
            var key = (long)reply[i];
            var distance = (double)reply[i + 1];
            hits.Add(new VectorHit(key, (float)(1 - distance)));
        }
    }

    private static string? Format(EndPoint? endpoint) => endpoint switch
    {
        null => null,
        IPEndPoint ip => ip.ToString(),
        DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => endpoint.ToString(),
    };

    private static bool IsUnavailable(Exception exception) => exception switch
    {
        RedisConnectionException or RedisTimeoutException or TimeoutException => true,

        // A replica still syncing, or a node that has lost sight of the slot's owner.
        RedisServerException server => server.Message.StartsWith("LOADING", StringComparison.Ordinal)
            || server.Message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal)
            || server.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal),
        _ => false,
    };

    private void ThrowIfMissing(IReadOnlyList<ShardRead> reads, string what)
    {
        var missing = Enumerable.Range(0, reads.Count).Where(i => reads[i].Result is null).ToArray();
        if (missing.Length > 0)
        {
            var first = reads[missing[0]];
            throw new VectorIndexException(
                $"Could not {what}: shard(s) {string.Join(", ", missing.Select(i => reads[i].Shard))} answered on neither primary nor replica " +
                $"({first.Error?.Message}).",
                first.Error);
        }
    }

    /// <summary>
    /// A read of one shard: the primary first (unless recently suspect), then the replica. A null result means both
    /// failed; the error is the last one seen. Errors that are not about reachability (a wrong type, a bad argument)
    /// propagate.
    /// </summary>
    private async Task<ShardRead> ReadShardAsync(int shard, string command, object[] args, CancellationToken cancellationToken)
    {
        var suspect = Environment.TickCount64 < Volatile.Read(ref _primarySuspectUntil[shard]);
        Exception? error = null;
        if (!suspect)
        {
            try
            {
                var result = await _database.ExecuteAsync(command, args, CommandFlags.DemandMaster).WaitAsync(cancellationToken).ConfigureAwait(false);
                return new ShardRead(shard, result, false, null);
            }
            catch (Exception ex) when (IsUnavailable(ex))
            {
                error = ex;
                Volatile.Write(ref _primarySuspectUntil[shard], Environment.TickCount64 + (long)SuspectPrimaryFor.TotalMilliseconds);
            }
            catch (RedisException ex)
            {
                throw new VectorIndexException($"Shard {shard} ('{Layout.KeyOf(shard)}') refused {command}: {ex.Message}", ex);
            }
        }

        try
        {
            var result = await _database.ExecuteAsync(command, args, CommandFlags.DemandReplica).WaitAsync(cancellationToken).ConfigureAwait(false);
            return new ShardRead(shard, result, true, null);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            error = ex;
        }

        if (suspect)
        {
            // The replica failed too: the primary may be back before its suspect window ends.
            try
            {
                var result = await _database.ExecuteAsync(command, args, CommandFlags.DemandMaster).WaitAsync(cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _primarySuspectUntil[shard], 0);
                return new ShardRead(shard, result, false, null);
            }
            catch (Exception ex) when (IsUnavailable(ex))
            {
                error = ex;
            }
        }

        return new ShardRead(shard, null, false, error);
    }

    private async Task<long> WriteAsync(int shard, string command, object[] args, CancellationToken cancellationToken)
    {
        try
        {
            var result = await _database.ExecuteAsync(command, args, CommandFlags.DemandMaster).WaitAsync(cancellationToken).ConfigureAwait(false);
            return result.Resp2Type == ResultType.Integer ? (long)result : 0;
        }
        catch (RedisException ex)
        {
            throw WriteFailed([shard], ex);
        }
    }

    private VectorIndexException WriteFailed(IEnumerable<int> shards, Exception error)
    {
        var list = string.Join(", ", shards.Order());
        var hint = IsUnavailable(error)
            ? " The shard's primary is unreachable and Garnet does not fail over by itself: bring the node back or run the " +
              "failover operation (CLUSTER FAILOVER TAKEOVER on its replica)."
            : "";
        return new VectorIndexException($"Writing to shard(s) {list} of '{Options.KeyPrefix}' failed: {error.Message}.{hint}", error);
    }

    /// <summary>Sends a chunk to the live keys (and to a shard's staging key while it is being repopulated).</summary>
    /// <param name="failures">
    /// When given, a failed VADD is recorded there (shard, error) instead of thrown, and faces of shards already recorded
    /// are not sent.
    /// </param>
    private Task SendAsync(AddChunk chunk, CancellationToken cancellationToken, List<(int Shard, Exception Error)>? failures = null)
    {
        var shards = new int[chunk.Count];
        for (var i = 0; i < chunk.Count; i++)
        {
            shards[i] = ShardOf(chunk.Keys[i]);
        }

        return WithShardTargetsAsync(shards, async () =>
        {
            var tasks = new List<Task<RedisResult>>(chunk.Count);
            var taskShards = new List<int>(chunk.Count);
            for (var i = 0; i < chunk.Count; i++)
            {
                var shard = shards[i];
                if (failures is not null && failures.Exists(f => f.Shard == shard))
                {
                    continue;
                }

                tasks.Add(Vadd(Layout.KeyOf(shard), chunk, i));
                taskShards.Add(shard);
                if (Volatile.Read(ref _staging[shard]) is { } staging)
                {
                    tasks.Add(Vadd(staging, chunk, i));
                    taskShards.Add(shard);
                }
            }

            await AwaitAddsAsync(tasks, taskShards, cancellationToken, failures).ConfigureAwait(false);
        });
    }

    private async Task SendToAsync(AddChunk chunk, string key, int shard, CancellationToken cancellationToken)
    {
        var tasks = new List<Task<RedisResult>>(chunk.Count);
        for (var i = 0; i < chunk.Count; i++)
        {
            tasks.Add(Vadd(key, chunk, i));
        }

        await AwaitAddsAsync(tasks, Enumerable.Repeat(shard, tasks.Count).ToList(), cancellationToken).ConfigureAwait(false);
    }

    private async Task AwaitAddsAsync(
        List<Task<RedisResult>> tasks, List<int> taskShards, CancellationToken cancellationToken, List<(int Shard, Exception Error)>? failures = null)
    {
        try
        {
            // Every VADD has been handed to the connection; waiting for all of them (even past a failure) keeps the
            // chunk's pooled buffer alive until nothing reads it any more.
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (RedisException)
        {
            var failed = Enumerable.Range(0, tasks.Count).Where(i => tasks[i].IsFaulted).ToArray();
            if (failures is null)
            {
                throw WriteFailed(failed.Select(i => taskShards[i]).Distinct(), tasks[failed[0]].Exception!.InnerException!);
            }

            failures.AddRange(failed.Select(i => (taskShards[i], tasks[i].Exception!.InnerException!)));
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private Task<RedisResult> Vadd(string key, AddChunk chunk, int i)
    {
        var attributes = chunk.Attributes[i];
        var args = new object[4 + _addSettings.Length + (attributes is null ? 0 : 2)];
        args[0] = (RedisKey)key;
        args[1] = "FP32";
        args[2] = (RedisValue)chunk.Blob(i);
        args[3] = chunk.Keys[i];
        _addSettings.CopyTo(args, 4);
        if (attributes is not null)
        {
            args[^2] = "SETATTR";
            args[^1] = attributes;
        }

        return _database.ExecuteAsync("VADD", args, CommandFlags.DemandMaster);
    }

    /// <summary>
    /// Runs a write against the given shards; for the shards being repopulated it holds their gate, so the staging key
    /// is either written before the swap or not at all (the swap takes the same gate). Gates are taken in shard order.
    /// </summary>
    private async Task WithShardTargetsAsync(IEnumerable<int> shards, Func<Task> write)
    {
        int[]? gated = null;
        foreach (var shard in shards)
        {
            if (Volatile.Read(ref _staging[shard]) is not null)
            {
                gated = [.. (gated ?? []).Append(shard).Distinct().Order()];
            }
        }

        if (gated is null)
        {
            await write().ConfigureAwait(false);
            return;
        }

        var held = 0;
        try
        {
            foreach (var shard in gated)
            {
                await _repopulationGates[shard].WaitAsync().ConfigureAwait(false);
                held++;
            }

            await write().ConfigureAwait(false);
        }
        finally
        {
            for (var i = 0; i < held; i++)
            {
                _repopulationGates[gated[i]].Release();
            }
        }
    }

    private async Task<ClusterConfiguration?> TopologyAsync(CancellationToken cancellationToken)
    {
        foreach (var endpoint in _connection.GetEndPoints())
        {
            var server = _connection.GetServer(endpoint);
            if (!server.IsConnected)
            {
                continue;
            }

            try
            {
                if (await server.ClusterNodesAsync().WaitAsync(cancellationToken).ConfigureAwait(false) is { } configuration)
                {
                    return configuration;
                }
            }
            catch (Exception ex) when (IsUnavailable(ex))
            {
                // Ask the next node.
            }
            catch (RedisServerException)
            {
                // Not a cluster: there is no map to show.
                return null;
            }
        }

        return null;
    }

    private async Task<bool> PingAsync(EndPoint endpoint, CancellationToken cancellationToken)
    {
        try
        {
            await _connection.GetServer(endpoint).PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (IsUnavailable(ex) || ex is RedisException)
        {
            return false;
        }
    }

    private async Task<bool> RoutesToAsync(int shard, EndPoint endpoint)
    {
        try
        {
            await _database.ExecuteAsync("VCARD", [(RedisKey)Layout.KeyOf(shard)], CommandFlags.DemandMaster).ConfigureAwait(false);
            var routed = _connection.GetServer(Layout.KeyOf(shard), flags: CommandFlags.DemandMaster);
            return routed.EndPoint.Equals(endpoint);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            return false;
        }
    }

    private async Task CheckExistingKeysAsync(CancellationToken cancellationToken)
    {
        var reads = await Task.WhenAll(Enumerable.Range(0, Layout.Shards).Select(s =>
            ReadShardAsync(s, "VINFO", [(RedisKey)Layout.KeyOf(s)], cancellationToken))).ConfigureAwait(false);
        var quantisation = Options.Quantisation == GarnetQuantisation.Q8 ? "q8" : "f32";
        foreach (var read in reads)
        {
            if (read.Result is not { Resp2Type: ResultType.Array, Length: > 0 } info)
            {
                continue;
            }

            var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i + 1 < info.Length; i += 2)
            {
                fields[(string)info[i]!] = (string?)info[i + 1] ?? "";
            }

            string Field(string name) => fields.TryGetValue(name, out var value) ? value : "?";
            var expected = (Dims: Dimensions.ToString(CultureInfo.InvariantCulture), Metric: "cosine-normalized", Quant: quantisation,
                Links: Options.Links.ToString(CultureInfo.InvariantCulture));
            var actual = (Dims: Field("input-vector-dimensions"), Metric: Field("distance-metric"), Quant: Field("quant-type"), Links: Field("num-links"));
            if (expected != actual)
            {
                throw new VectorIndexException(
                    $"Shard key '{Layout.KeyOf(read.Shard)}' holds {actual.Dims}-dimensional {actual.Quant} vectors ({actual.Metric}, M {actual.Links}); " +
                    $"these options need {expected.Dims}-dimensional {expected.Quant} ({expected.Metric}, M {expected.Links}). " +
                    "Clear the index and repopulate it from the catalog, or use another key prefix.");
            }
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private readonly record struct ShardRead(int Shard, RedisResult? Result, bool FromReplica, Exception? Error);

    /// <summary>A batch of normalised FP32 blobs in one pooled buffer, with their keys and attributes.</summary>
    private sealed class AddChunk : IDisposable
    {
        private readonly byte[] _blobs;
        private readonly int _blobBytes;

        public AddChunk(int dimensions, int capacity)
        {
            Dimensions = dimensions;
            _blobBytes = dimensions * sizeof(float);
            _blobs = ArrayPool<byte>.Shared.Rent(_blobBytes * capacity);
            Keys = new long[capacity];
            Attributes = new string?[capacity];
        }

        public int Dimensions { get; }

        public long[] Keys { get; }

        public string?[] Attributes { get; }

        public int Count { get; private set; }

        public bool IsFull => Count == Keys.Length;

        public void Add(long key, ReadOnlySpan<float> vector, string? attributes)
        {
            var unit = MemoryMarshal.Cast<byte, float>(_blobs.AsSpan(Count * _blobBytes, _blobBytes));
            TensorPrimitives.Divide(vector, TensorPrimitives.Norm(vector), unit);
            Keys[Count] = key;
            Attributes[Count] = attributes;
            Count++;
        }

        public ReadOnlyMemory<byte> Blob(int i) => _blobs.AsMemory(i * _blobBytes, _blobBytes);

        public void Dispose() => ArrayPool<byte>.Shared.Return(_blobs);
    }
}
