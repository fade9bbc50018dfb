namespace Lineup.Index.Garnet;

/// <summary>How Garnet stores the vectors of a vector set (fixed when a shard's key is created).</summary>
/// <remarks>
/// Garnet 2.2.8 also parses <c>BIN</c>, but a <c>VADD … BIN</c> hung its connection and then took the node down on this
/// machine, so it is not offered.
/// </remarks>
public enum GarnetQuantisation
{
    /// <summary>float32 vectors (<c>NOQUANT</c>): exact distances.</summary>
    NoQuant,

    /// <summary>int8 vectors (<c>Q8</c>, Garnet's default): a quarter of the memory, approximate distances.</summary>
    Q8,
}

/// <summary>
/// Settings of a <see cref="GarnetVectorIndex"/>. Shards, dimensions, quantisation, links and the build factor are fixed
/// once the keys exist (a later VADD with other values is refused by Garnet); endpoints, timeouts and the search factor
/// are run-time settings.
/// </summary>
public sealed record GarnetIndexOptions
{
    /// <summary>The cluster <c>scripts/garnet-cluster.sh</c> starts.</summary>
    public const string LocalClusterEndpoints =
        "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005";

    /// <summary>Comma-separated <c>host:port</c> seeds; the rest of the cluster is discovered from them.</summary>
    public string Endpoints { get; init; } = LocalClusterEndpoints;

    /// <summary>Prefix of the shard keys (<c>{prefix}:{tag}</c>); may not contain braces.</summary>
    public string KeyPrefix { get; init; } = "lineup:faces";

    /// <summary>Number of vector-set keys the faces are dealt over; a multiple of the primary count spreads them evenly.</summary>
    public int Shards { get; init; } = 6;

    public int Dimensions { get; init; } = 512;

    /// <summary>
    /// Candidates explored per shard while searching (VSIM <c>EF</c>); raised to k when k is larger. Measured with
    /// <see cref="GarnetIndexBenchmark"/> at 100k × 512 clustered unit vectors (1,000 centres), 6 shards on 3 primaries,
    /// NOQUANT, BuildEf 100, Links 16, 1,000 queries, exact top-10 as truth, on a 2-core machine at load average ~25:
    /// recall@10 0.883 @ EF 10, 0.962 @ 20, 0.997 @ 50, 0.9996 @ 100 (p50 1.7 / 2.3 / 3.9 / 5.7 ms). 100 keeps a wide
    /// margin over 0.95 for larger shards and real embeddings at a few ms.
    /// </summary>
    public int SearchEf { get; init; } = 100;

    /// <summary>
    /// Candidates explored per insert (VADD <c>EF</c>; Garnet's default is 200). At 100k × 512, 100 added 278 faces/s
    /// against 217 at 200 (wall clock, 3 primaries + 3 replicas on 2 cores) with the same recall (0.997 vs 0.998 @ EF 50,
    /// 0.9996 vs 0.9994 @ EF 100).
    /// </summary>
    public int BuildEf { get; init; } = 100;

    /// <summary>Graph degree (VADD <c>M</c>); Garnet's default, 16, already gives the recall above.</summary>
    public int Links { get; init; } = 16;

    public GarnetQuantisation Quantisation { get; init; } = GarnetQuantisation.NoQuant;

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one command may take before the shard is tried on its replica (sync and async alike).</summary>
    public TimeSpan SyncTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// VADDs in flight at once while adding a batch (pipelined on the primaries' connections). 10k × 512 on 3 primaries:
    /// 16, 64 and 256 in flight all added 510-540 faces/s (the nodes' CPU is the limit); a shallow pipeline keeps the last
    /// VADD of a batch well inside <see cref="SyncTimeout"/> on a loaded machine.
    /// </summary>
    public int AddConcurrency { get; init; } = 64;

    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Endpoints, nameof(Endpoints));
        ArgumentException.ThrowIfNullOrWhiteSpace(KeyPrefix, nameof(KeyPrefix));
        if (KeyPrefix.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            throw new ArgumentException("The key prefix may not contain '{' or '}'.", nameof(KeyPrefix));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(Shards, 1, nameof(Shards));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Shards, 1024, nameof(Shards));
        ArgumentOutOfRangeException.ThrowIfLessThan(Dimensions, 1, nameof(Dimensions));
        ArgumentOutOfRangeException.ThrowIfLessThan(SearchEf, 1, nameof(SearchEf));
        ArgumentOutOfRangeException.ThrowIfLessThan(BuildEf, 1, nameof(BuildEf));
        ArgumentOutOfRangeException.ThrowIfLessThan(Links, 2, nameof(Links));
        ArgumentOutOfRangeException.ThrowIfLessThan(AddConcurrency, 1, nameof(AddConcurrency));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(SyncTimeout, TimeSpan.Zero, nameof(SyncTimeout));
        if (!Enum.IsDefined(Quantisation))
        {
            throw new ArgumentOutOfRangeException(nameof(Quantisation), Quantisation, "Use NoQuant or Q8.");
        }
    }
}
