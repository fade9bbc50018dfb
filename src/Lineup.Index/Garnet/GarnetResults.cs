using Lineup.Core.Indexing;

namespace Lineup.Index.Garnet;

/// <summary>
/// The merged top-k of a fanned-out search. <see cref="MissingShards"/> names the shards whose primary and replica both
/// failed to answer: the hits are then the best of the remaining shards only, and a caller that needs complete results
/// must treat them as partial. <see cref="ReplicaShards"/> names the shards a replica answered for (its data may trail
/// the primary's by the replication lag).
/// </summary>
public sealed record GarnetSearchResult(IReadOnlyList<VectorHit> Hits, IReadOnlyList<int> MissingShards, IReadOnlyList<int> ReplicaShards)
{
    public bool IsComplete => MissingShards.Count == 0;
}

/// <summary>
/// One shard as the cluster sees it now (for <c>lineup cluster status</c>). <see cref="Node"/> is the endpoint that owns
/// the shard's slot and <see cref="Role"/> what the cluster map says it is ("primary", or "primary (failed)" when the
/// other nodes have flagged it); <see cref="Count"/> is the shard's VCARD from the primary, else from the replica, null
/// when neither answered.
/// </summary>
public sealed record GarnetShardStatus(
    int Shard,
    string Key,
    int Slot,
    string? Node,
    string Role,
    string? Replica,
    long? Count,
    bool Reachable,
    bool ReplicaReachable);

/// <summary>
/// What <see cref="GarnetVectorIndex.FailoverAsync"/> did: the replica at <see cref="NewPrimary"/> took over the slots of
/// <see cref="OldPrimary"/>, so every shard in <see cref="Shards"/> (all those on that primary) moved with it.
/// </summary>
public sealed record GarnetFailover(string OldPrimary, string NewPrimary, IReadOnlyList<int> Shards);
