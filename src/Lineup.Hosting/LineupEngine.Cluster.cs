using System.Diagnostics;
using Lineup.Core.Catalog;
using Lineup.Index.Garnet;
using Lineup.Storage.Postgres;

namespace Lineup.Hosting;

/// <summary>One dependency as a health check saw it.</summary>
public sealed record DependencyHealth(string Name, bool Healthy, string Detail);

/// <summary>Everything <c>lineup cluster status</c> shows: the backend, each dependency, the index shards and the ingest workers.</summary>
public sealed record ClusterStatus(
    string Backend,
    IReadOnlyList<DependencyHealth> Dependencies,
    long CatalogFaces,
    long? IndexedFaces,
    IReadOnlyList<GarnetShardStatus> Shards,
    WorkQueueStatus? Queue)
{
    public bool Healthy => Dependencies.All(d => d.Healthy);
}

/// <summary>Operations on the distributed backend: health of every dependency, shard status, failover and repopulation.</summary>
public sealed partial class LineupEngine
{
    /// <summary>The distributed index, or a clear error on the embedded backend.</summary>
    private GarnetVectorIndex Garnet => Index as GarnetVectorIndex ?? throw new InvalidOperationException(
        "This is an operation of the distributed backend (Lineup:Backend = distributed); the embedded index has no shards.");

    /// <summary>
    /// Checks each dependency once: the catalog (a query), every index shard (primary and replica), the work queue. A
    /// failing dependency is reported, not thrown, so a health endpoint can say which one. Without
    /// <paramref name="topology"/> the details leave out where things run (hosts, ports, paths): for anonymous callers.
    /// </summary>
    public async Task<ClusterStatus> GetClusterStatusAsync(bool topology = true, CancellationToken ct = default)
    {
        var checks = new List<DependencyHealth> { new("models", true, ModelId) };
        long catalogFaces = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            var stats = await Catalog.GetStatsAsync(ct).ConfigureAwait(false);
            catalogFaces = stats.Faces;
            var where = Catalog is PostgresCatalog postgres ? "PostgreSQL " + postgres.Describe() : "SQLite " + Options.CatalogPath;
            checks.Add(new("catalog", true,
                (topology ? where + ": " : "") + $"schema {stats.SchemaVersion}, {stats.Faces:N0} faces, answered in {clock.ElapsedMilliseconds} ms"));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            checks.Add(new("catalog", false, "unavailable: " + e.Message));
        }

        IReadOnlyList<GarnetShardStatus> shards = [];
        long? indexed = null;
        if (Index is GarnetVectorIndex garnet)
        {
            try
            {
                shards = await garnet.ShardStatusAsync(ct).ConfigureAwait(false);
                indexed = shards.All(s => s.Count is not null) ? shards.Sum(s => s.Count!.Value) : null;
                foreach (var shard in shards)
                {
                    var healthy = shard.Reachable && shard.ReplicaReachable;
                    var detail = !topology
                        ? $"{(shard.Reachable ? "primary up" : "primary down")}, {(shard.ReplicaReachable ? "replica up" : "replica down")}"
                        : $"{shard.Key} on {shard.Node ?? "(no node)"} ({shard.Role}{(shard.Reachable ? "" : ", unreachable")}), " +
                        $"replica {shard.Replica ?? "(none)"}{(shard.Replica is null || shard.ReplicaReachable ? "" : " (unreachable)")}, " +
                        $"{(shard.Count is { } c ? c.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) : "?")} faces";
                    checks.Add(new($"index shard {shard.Shard}", healthy, detail));
                }

                checks.Add(new("index", indexed == catalogFaces,
                    indexed == catalogFaces ? $"{indexed:N0} faces, as in the catalog" : $"{indexed?.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) ?? "?"} faces, the catalog has {catalogFaces:N0}: repopulate"));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                checks.Add(new("index", false, "unavailable: " + e.Message));
            }
        }
        else
        {
            indexed = Index.Count;
            checks.Add(new("index", indexed == catalogFaces, $"{Options.Index.Kind} index: {indexed:N0} faces"));
        }

        WorkQueueStatus? queue = null;
        if (Catalog is IIngestWorkQueue work)
        {
            try
            {
                queue = await work.GetWorkStatusAsync(ct).ConfigureAwait(false);
                var pending = queue.Runs.Where(r => r.Status == IngestRunStatus.Running).Sum(r => r.Pending + r.Claimed + r.Expired);
                checks.Add(new("ingest queue", true, $"{pending:N0} items waiting or in progress, {queue.Workers.Count} workers known"));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                checks.Add(new("ingest queue", false, "unavailable: " + e.Message));
            }
        }

        return new ClusterStatus(Options.IsDistributed ? "distributed" : "embedded", checks, catalogFaces, indexed, shards, queue);
    }

    /// <summary>Promotes the replica of the shard's primary (Garnet has no automatic failover); every shard on that primary moves with it.</summary>
    public Task<GarnetFailover> FailoverAsync(int shard, CancellationToken ct = default) => Garnet.FailoverAsync(shard, ct);

    /// <summary>Deletes every shard key of this deployment's prefix (benchmarks and tests; the catalog keeps the faces).</summary>
    public Task ClearDistributedIndexAsync(CancellationToken ct = default) => Garnet.ClearAsync(ct);

    /// <summary>Re-adds a shard's faces from the catalog (after it lost data), without touching the other shards.</summary>
    public Task<long> RepopulateShardAsync(int shard, CancellationToken ct = default) =>
        IndexHandle.RepopulateAsync(Catalog, Garnet, [shard], ct);
}
