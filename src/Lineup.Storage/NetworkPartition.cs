using System.Globalization;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Network;

namespace Lineup.Storage;

/// <summary>
/// The decisions of applying a clustering partition, shared by the SQLite and PostgreSQL catalogs so that both give the
/// same faces the same identities and refuse the same partitions with the same messages: each catalog reads the
/// current assignments and the faces that still exist, asks this class what to write, and writes it in its own dialect.
/// </summary>
internal static class NetworkPartition
{
    /// <summary>The faces the partition lists; a face listed twice is refused before anything is read.</summary>
    public static HashSet<long> ListedFaces(IReadOnlyList<(long FaceId, long ClusterKey)> partition)
    {
        var listed = new HashSet<long>(partition.Count);
        foreach (var (face, _) in partition)
        {
            if (!listed.Add(face))
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Face {face} is listed twice in the partition."), nameof(partition));
            }
        }

        return listed;
    }

    /// <summary>
    /// The partition's clusters (key → faces, in partition order). Faces erased since the partition was computed are left
    /// out: they have no row to point at any more.
    /// </summary>
    public static Dictionary<long, List<long>> Clusters(IReadOnlyList<(long FaceId, long ClusterKey)> partition, HashSet<long> existing)
    {
        var clusters = new Dictionary<long, List<long>>();
        foreach (var (face, key) in partition)
        {
            if (!existing.Contains(face))
            {
                continue;
            }

            if (!clusters.TryGetValue(key, out var members))
            {
                clusters[key] = members = [];
            }

            members.Add(face);
        }

        return clusters;
    }

    /// <summary>
    /// The identity of each cluster that keeps one (<c>IdentityOf</c>), and the clusters that need a new identity
    /// (<c>NeedNew</c>), in the order their new identities are to be created so that ascending ids follow it.
    /// </summary>
    public static (Dictionary<long, long> IdentityOf, List<long> NeedNew) AssignIdentities(
        Dictionary<long, List<long>> clusters, Dictionary<long, FaceAssignment> current)
    {
        // Clusters holding an analyst's fixed faces keep that identity; the clustering never puts faces fixed to two
        // identities in one cluster, nor one identity's fixed faces in two, and a partition that does is refused.
        var identityOf = new Dictionary<long, long>(clusters.Count);
        var taken = new HashSet<long>();
        foreach (var (key, members) in clusters)
        {
            long? fixedTo = null;
            foreach (var face in members)
            {
                if (current.TryGetValue(face, out var was) && was.Locked)
                {
                    if (fixedTo is { } other && other != was.IdentityId)
                    {
                        throw new CatalogException(string.Create(CultureInfo.InvariantCulture,
                            $"The partition puts faces fixed to identities {other} and {was.IdentityId} in one cluster; nothing was written."));
                    }

                    fixedTo = was.IdentityId;
                }
            }

            if (fixedTo is { } identity)
            {
                if (!taken.Add(identity))
                {
                    throw new CatalogException(string.Create(CultureInfo.InvariantCulture,
                        $"The partition splits the faces fixed to identity {identity} over two clusters; nothing was written."));
                }

                identityOf[key] = identity;
            }
        }

        // The others, larger first: the previous identity holding most of their faces (ties to the smaller id) that no
        // cluster took before, else a new one. Falling back to the next-best free identity rather than straight to a new
        // one keeps ids stable when one identity's faces split into two clusters. A new identity can never be a vote (it
        // holds no face yet), so creating them all afterwards gives the same choices as creating each on the way.
        var needNew = new List<long>();
        foreach (var (key, members) in clusters.Where(c => !identityOf.ContainsKey(c.Key)).OrderByDescending(c => c.Value.Count).ThenBy(c => c.Key).ToList())
        {
            var votes = new Dictionary<long, int>();
            foreach (var face in members)
            {
                if (current.TryGetValue(face, out var was))
                {
                    votes[was.IdentityId] = votes.GetValueOrDefault(was.IdentityId) + 1;
                }
            }

            var chosen = votes.Where(v => !taken.Contains(v.Key)).OrderByDescending(v => v.Value).ThenBy(v => v.Key).Select(v => (long?)v.Key).FirstOrDefault();
            if (chosen is { } identity)
            {
                taken.Add(identity);
                identityOf[key] = identity;
            }
            else
            {
                needNew.Add(key);
            }
        }

        return (identityOf, needNew);
    }

    /// <summary>
    /// The rows to write once every cluster has its identity: only changed rows, so re-applying the same partition
    /// writes none. A face whose identity stays keeps its lock; a face that moves (never a fixed one: its cluster kept
    /// its identity) is not fixed in the new one. The partition is complete: a face it does not list, or one erased,
    /// is not clustered any more (<see cref="PartitionWrites.Dropped"/>).
    /// </summary>
    public static PartitionWrites Writes(
        Dictionary<long, List<long>> clusters, Dictionary<long, long> identityOf, Dictionary<long, FaceAssignment> current,
        HashSet<long> listed, HashSet<long> existing)
    {
        var touched = new HashSet<long>();
        var upsertFaces = new List<long>();
        var upsertIdentities = new List<long>();
        var moved = 0;
        var faces = 0;
        foreach (var (key, members) in clusters)
        {
            var identity = identityOf[key];
            foreach (var face in members)
            {
                faces++;
                if (current.TryGetValue(face, out var was))
                {
                    if (was.IdentityId == identity)
                    {
                        continue;
                    }

                    moved++;
                    touched.Add(was.IdentityId);
                }

                touched.Add(identity);
                upsertFaces.Add(face);
                upsertIdentities.Add(identity);
            }
        }

        var dropped = new List<long>();
        foreach (var (face, was) in current)
        {
            if (!listed.Contains(face) || !existing.Contains(face))
            {
                touched.Add(was.IdentityId);
                dropped.Add(face);
            }
        }

        return new PartitionWrites(upsertFaces, upsertIdentities, dropped, touched, faces, moved);
    }

    /// <summary>The details of the clustering's audit event.</summary>
    public static AuditDetails Details(bool full, int clusters, PartitionWrites writes) => AuditDetails.Empty
        .With("mode", full ? "full" : "incremental")
        .With("identities", (long)clusters)
        .With("faces", (long)writes.Faces)
        .With("moved", (long)writes.Moved);
}

/// <summary>
/// What applying a partition writes: <see cref="UpsertFaces"/>[i] goes to <see cref="UpsertIdentities"/>[i] (unlocked),
/// <see cref="Dropped"/> faces lose their assignment, <see cref="Touched"/> identities changed; <see cref="Faces"/>
/// counts the clustered faces and <see cref="Moved"/> those that changed identity.
/// </summary>
internal sealed record PartitionWrites(
    List<long> UpsertFaces, List<long> UpsertIdentities, List<long> Dropped, HashSet<long> Touched, int Faces, int Moved);
