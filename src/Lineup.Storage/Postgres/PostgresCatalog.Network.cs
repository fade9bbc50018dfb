using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Network;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The identity partition and the identity records (<see cref="INetworkStore"/>), as in <see cref="SqliteCatalog"/>:
/// a clustering run commits in one transaction with its audit event. Every write of the network (clustering runs,
/// neighbour lists, corrections) takes the <see cref="WriteLock.Clustering"/> advisory lock, so writers on other
/// machines run one after another as SQLite's single writer did. Erasure, which takes no such lock, removes faces through
/// the triggers <c>faces_leave_network</c> and <c>face_identities_drop_empty</c>; a network write locks the faces it
/// names <c>FOR KEY SHARE</c> first, so an erasure in flight finishes before the write reads (and the face is left
/// out) and one starting later waits for the write (and its triggers then remove what the write added).
/// </summary>
public sealed partial class PostgresCatalog : INetworkStore
{
    /// <summary>The longest identity name an analyst may give (after trimming), as in SQLite.</summary>
    public const int MaxIdentityNameLength = SqliteCatalog.MaxIdentityNameLength;

    /// <summary>The longest reason stored with a correction, as in SQLite.</summary>
    public const int MaxCorrectionReasonLength = SqliteCatalog.MaxCorrectionReasonLength;

    /// <summary>The audit action of a clustering run (subject "identities").</summary>
    public const string ClusterAuditAction = NetworkActions.Cluster;

    /// <summary>The audit action of an analyst correction (subject "identity:{id}").</summary>
    public const string CorrectAuditAction = NetworkActions.Correct;

    public async Task<IReadOnlyList<ClusterableFace>> ListClusterableFacesAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT id, quality_score FROM faces WHERE model_id = @model ORDER BY id", connection);
        command.Parameters.AddWithValue("model", ModelId);
        var faces = new List<ClusterableFace>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            faces.Add(new ClusterableFace(reader.GetInt64(0), NetworkFloat(reader, 1)));
        }

        return faces;
    }

    public async Task<IReadOnlyList<FaceAssignment>> ReadAssignmentsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return [.. (await ReadAssignmentMapAsync(connection, null, ct).ConfigureAwait(false)).Values.OrderBy(a => a.FaceId)];
    }

    public async Task<PartitionChange> ApplyPartitionAsync(
        IReadOnlyList<(long FaceId, long ClusterKey)> partition, ClusteringParameters parameters, long clusteredThroughFaceId, bool full, string by,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(partition);
        ArgumentNullException.ThrowIfNull(parameters);
        parameters.Validate();
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        var listed = NetworkPartition.ListedFaces(partition);
        return await WriteAsync((connection, tx) => ApplyPartitionAsync(connection, tx, partition, listed, parameters, clusteredThroughFaceId, full, by, ct), ct)
            .ConfigureAwait(false);
    }

    private async Task<PartitionChange> ApplyPartitionAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, IReadOnlyList<(long FaceId, long ClusterKey)> partition, HashSet<long> listed,
        ClusteringParameters parameters, long clusteredThroughFaceId, bool full, string by, CancellationToken ct)
    {
        await LockAsync(connection, tx, WriteLock.Clustering, ct).ConfigureAwait(false);
        var now = SqliteCatalog.FormatTime(_clock.GetUtcNow());
        // The listed faces are locked first: an erasure in flight finishes (its triggers removing the face's assignment)
        // and the face is left out below; one starting later waits for this run. So every assignment written names a
        // face that stays, and every identity kept by a vote keeps the faces that voted for it.
        var existing = await ExistingNetworkFacesAsync(connection, tx, [.. listed], lockRows: true, ct).ConfigureAwait(false);
        var current = await ReadAssignmentMapAsync(connection, tx, ct).ConfigureAwait(false);
        var identitiesBefore = await NetworkScalarAsync(connection, tx, "SELECT count(*) FROM identities", ct).ConfigureAwait(false);

        var clusters = NetworkPartition.Clusters(partition, existing);
        var (identityOf, needNew) = NetworkPartition.AssignIdentities(clusters, current);

        // New identities are inserted in one statement, their ascending ids given out in the helper's order (as SQLite's
        // one insert per cluster does).
        var created = await InsertIdentitiesAsync(connection, tx, needNew.Count, now, ct).ConfigureAwait(false);
        for (var i = 0; i < needNew.Count; i++)
        {
            identityOf[needNew[i]] = created[i];
        }

        var writes = NetworkPartition.Writes(clusters, identityOf, current, listed, existing);
        if (writes.UpsertFaces.Count > 0)
        {
            await using var upsert = new NpgsqlCommand("""
                INSERT INTO face_identities(face_id, identity_id, locked)
                SELECT u.face, u.identity, 0 FROM unnest(@faces, @identities) AS u(face, identity)
                ON CONFLICT (face_id) DO UPDATE SET identity_id = excluded.identity_id, locked = 0
                """, connection, tx);
            upsert.Parameters.AddWithValue("faces", writes.UpsertFaces.ToArray());
            upsert.Parameters.AddWithValue("identities", writes.UpsertIdentities.ToArray());
            await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        if (writes.Dropped.Count > 0)
        {
            await using var delete = new NpgsqlCommand("DELETE FROM face_identities WHERE face_id = ANY(@faces)", connection, tx);
            delete.Parameters.AddWithValue("faces", writes.Dropped.ToArray());
            await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await ExecuteNetworkAsync(connection, tx, "DELETE FROM identities i WHERE NOT EXISTS (SELECT 1 FROM face_identities x WHERE x.identity_id = i.id)", ct)
            .ConfigureAwait(false);
        await TouchIdentitiesAsync(connection, tx, writes.Touched, now, ct).ConfigureAwait(false);

        // Ids are never reused and every new identity holds a face, so the count tells how many of the old ones went.
        var identitiesAfter = await NetworkScalarAsync(connection, tx, "SELECT count(*) FROM identities", ct).ConfigureAwait(false);
        var removed = (int)(identitiesBefore - (identitiesAfter - created.Length));

        long version;
        await using (var state = new NpgsqlCommand("""
            INSERT INTO clustering_state(id, model_id, parameters, clustered_through, version, clustered_at)
            VALUES (1, @model, @parameters, @through, 1, @now)
            ON CONFLICT (id) DO UPDATE SET model_id = excluded.model_id, parameters = excluded.parameters,
                clustered_through = excluded.clustered_through, version = clustering_state.version + 1, clustered_at = excluded.clustered_at
            RETURNING version
            """, connection, tx))
        {
            state.Parameters.AddWithValue("model", ModelId);
            state.Parameters.AddWithValue("parameters", JsonSerializer.Serialize(parameters));
            state.Parameters.AddWithValue("through", clusteredThroughFaceId);
            state.Parameters.AddWithValue("now", now);
            version = (long)(await state.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        var details = NetworkPartition.Details(full, clusters.Count, writes);
        await AppendAuditAsync(connection, tx, new NewAuditEvent(by, ClusterAuditAction, "identities", details), ct).ConfigureAwait(false);
        return new PartitionChange(clusters.Count, writes.Faces, writes.Moved, created.Length, removed, version);
    }

    public async Task<ClusteringState?> GetClusteringStateAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("""
            SELECT model_id, parameters, clustered_through, version, clustered_at,
                   (SELECT count(DISTINCT identity_id) FROM face_identities)::integer, (SELECT count(*) FROM face_identities)::integer
            FROM clustering_state WHERE id = 1
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            return null;
        }

        var parameters = JsonSerializer.Deserialize<ClusteringParameters>(reader.GetString(1))
            ?? throw new CatalogException("The catalog's clustering state has no parameters.");
        return new ClusteringState(
            reader.GetString(0), parameters, reader.GetInt64(2), reader.GetInt64(3), SqliteCatalog.ParseTime(reader.GetString(4)), reader.GetInt32(5), reader.GetInt32(6));
    }

    public async Task<IdentityRecord?> GetIdentityAsync(long identityId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return (await ReadIdentitiesAsync(connection, null, [identityId], ct).ConfigureAwait(false)).FirstOrDefault();
    }

    public async Task<IReadOnlyList<IdentityRecord>> ListIdentitiesAsync(int minFaces, int limit, int offset, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);

        // Counted from the identity index alone; the faces' rows are read only for the page asked for.
        var ids = new List<long>();
        await using (var command = new NpgsqlCommand("""
            SELECT i.id FROM identities i LEFT JOIN face_identities x ON x.identity_id = i.id
            GROUP BY i.id HAVING count(x.face_id) >= @min
            ORDER BY count(x.face_id) DESC, i.id LIMIT @limit OFFSET @offset
            """, connection))
        {
            command.Parameters.AddWithValue("min", (long)minFaces);
            command.Parameters.AddWithValue("limit", (long)limit);
            command.Parameters.AddWithValue("offset", (long)offset);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                ids.Add(reader.GetInt64(0));
            }
        }

        var records = (await ReadIdentitiesAsync(connection, null, ids, ct).ConfigureAwait(false)).ToDictionary(r => r.Id);
        return [.. ids.Select(id => records[id])];
    }

    public async Task<IReadOnlyList<IdentityRecord>> GetIdentitiesAsync(IReadOnlyCollection<long> identityIds, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(identityIds);
        if (identityIds.Count == 0)
        {
            return [];
        }

        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await ReadIdentitiesAsync(connection, null, identityIds, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<IdentityFace>> GetIdentityFacesAsync(long identityId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("""
            SELECT f.id, f.image_id, f.quality_score, x.locked
            FROM face_identities x JOIN faces f ON f.id = x.face_id
            WHERE x.identity_id = @id
            ORDER BY f.quality_score IS NULL, f.quality_score DESC, f.id
            """, connection);
        command.Parameters.AddWithValue("id", identityId);
        var faces = new List<IdentityFace>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            faces.Add(new IdentityFace(reader.GetInt64(0), reader.GetInt64(1), NetworkFloat(reader, 2), reader.GetInt32(3) != 0));
        }

        return faces;
    }

    public async Task<long?> FindIdentityOfFaceAsync(long faceId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT identity_id FROM face_identities WHERE face_id = @id", connection);
        command.Parameters.AddWithValue("id", faceId);
        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is long identity ? identity : null;
    }

    public async Task<IReadOnlyList<IdentityCorrection>> ListCorrectionsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            "SELECT id, kind, identity_id, other_identity_id, face_ids, name, reason, by, at FROM identity_corrections ORDER BY id", connection);
        var corrections = new List<IdentityCorrection>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            corrections.Add(new IdentityCorrection(
                reader.GetInt64(0),
                SqliteCatalog.ParseCorrectionKind(reader.GetString(1)),
                reader.GetInt64(2),
                reader.IsDBNull(3) ? null : reader.GetInt64(3),
                JsonSerializer.Deserialize<long[]>(reader.GetString(4)) ?? [],
                NetworkText(reader, 5),
                NetworkText(reader, 6),
                reader.GetString(7),
                SqliteCatalog.ParseTime(reader.GetString(8))));
        }

        return corrections;
    }

    /// <summary>Identity records by id (unknown ids left out), in id order: counts, lock and cover face from the partition.</summary>
    private static async Task<List<IdentityRecord>> ReadIdentitiesAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, IEnumerable<long> ids, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("""
            SELECT i.id, i.name, i.created_at, i.updated_at,
                   (SELECT count(*) FROM face_identities x WHERE x.identity_id = i.id)::integer,
                   (SELECT count(DISTINCT f.image_id) FROM face_identities x JOIN faces f ON f.id = x.face_id WHERE x.identity_id = i.id)::integer,
                   (SELECT coalesce(max(x.locked), 0) FROM face_identities x WHERE x.identity_id = i.id),
                   (SELECT f.id FROM face_identities x JOIN faces f ON f.id = x.face_id WHERE x.identity_id = i.id
                    ORDER BY f.quality_score IS NULL, f.quality_score DESC, f.id LIMIT 1)
            FROM identities i
            WHERE i.id = ANY(@ids)
            ORDER BY i.id
            """, connection, tx);
        command.Parameters.AddWithValue("ids", ids.ToArray());
        var records = new List<IdentityRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            records.Add(new IdentityRecord(
                reader.GetInt64(0),
                NetworkText(reader, 1),
                reader.GetInt32(4),
                reader.GetInt32(5),
                reader.GetInt32(6) != 0,
                reader.IsDBNull(7) ? null : reader.GetInt64(7),
                SqliteCatalog.ParseTime(reader.GetString(2)),
                SqliteCatalog.ParseTime(reader.GetString(3))));
        }

        return records;
    }

    private static async Task<Dictionary<long, FaceAssignment>> ReadAssignmentMapAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT face_id, identity_id, locked FROM face_identities ORDER BY face_id", connection, tx);
        var map = new Dictionary<long, FaceAssignment>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var face = reader.GetInt64(0);
            map[face] = new FaceAssignment(face, reader.GetInt64(1), reader.GetInt32(2) != 0);
        }

        return map;
    }

    /// <summary>
    /// Which of <paramref name="faceIds"/> exist (any model). With <paramref name="lockRows"/> they are locked
    /// <c>FOR KEY SHARE</c> until the transaction ends, so an erasure of one of them waits for this write and its
    /// trigger then removes what the write added; in id order, as erasure deletes an image's faces.
    /// </summary>
    private static async Task<HashSet<long>> ExistingNetworkFacesAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, long[] faceIds, bool lockRows, CancellationToken ct)
    {
        var existing = new HashSet<long>(faceIds.Length);
        if (faceIds.Length == 0)
        {
            return existing;
        }

        await using var command = new NpgsqlCommand(
            "SELECT id FROM faces WHERE id = ANY(@ids)" + (lockRows ? " ORDER BY id FOR KEY SHARE" : ""), connection, tx);
        command.Parameters.AddWithValue("ids", faceIds);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            existing.Add(reader.GetInt64(0));
        }

        return existing;
    }

    /// <summary><paramref name="count"/> new unnamed identities in one statement; their ids ascending.</summary>
    private static async Task<long[]> InsertIdentitiesAsync(NpgsqlConnection connection, NpgsqlTransaction tx, int count, string now, CancellationToken ct)
    {
        if (count == 0)
        {
            return [];
        }

        await using var insert = new NpgsqlCommand(
            "INSERT INTO identities(name, created_at, updated_at) SELECT NULL, @now, @now FROM generate_series(1, @count) RETURNING id", connection, tx);
        insert.Parameters.AddWithValue("now", now);
        insert.Parameters.AddWithValue("count", count);
        var ids = new List<long>(count);
        await using var reader = await insert.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            ids.Add(reader.GetInt64(0));
        }

        ids.Sort();
        return [.. ids];
    }

    private static async Task TouchIdentitiesAsync(NpgsqlConnection connection, NpgsqlTransaction tx, IReadOnlyCollection<long> identityIds, string now, CancellationToken ct)
    {
        if (identityIds.Count == 0)
        {
            return;
        }

        await using var update = new NpgsqlCommand("UPDATE identities SET updated_at = @now WHERE id = ANY(@ids)", connection, tx);
        update.Parameters.AddWithValue("now", now);
        update.Parameters.AddWithValue("ids", identityIds.ToArray());
        await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<long> NetworkScalarAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        return (long)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private static async Task ExecuteNetworkAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static string? NetworkText(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static DateTimeOffset? NetworkTime(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : SqliteCatalog.ParseTime(reader.GetString(ordinal));

    /// <summary>A <c>double precision</c> column holding a float (stored widened, so the narrowing is exact).</summary>
    private static float? NetworkFloat(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : (float)reader.GetDouble(ordinal);

    /// <summary>A nullable bigint parameter.</summary>
    private static NpgsqlParameter NetworkId(string name, long? value) =>
        new(name, NpgsqlDbType.Bigint) { Value = value is { } v ? v : DBNull.Value };
}
