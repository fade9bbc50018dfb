using System.Globalization;
using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Indexing;
using Lineup.Core.Network;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>
/// The identity partition, the face neighbour graph, analyst corrections and the co-appearance queries
/// (<see cref="INetworkStore"/>; schema 10). A clustering run and each correction commit in one write transaction with
/// their audit event. Erased faces leave the graph and the partition through the triggers of migration 10, whichever
/// path deletes them.
/// </summary>
public sealed partial class SqliteCatalog : INetworkStore
{
    /// <summary>The longest identity name an analyst may give (after trimming).</summary>
    public const int MaxIdentityNameLength = 200;

    /// <summary>The longest reason stored with a correction (the audit event keeps its first <see cref="AuditDetails.MaxTextLength"/>).</summary>
    public const int MaxCorrectionReasonLength = 1000;

    /// <summary>The audit action of a clustering run (subject "identities").</summary>
    public const string ClusterAuditAction = NetworkActions.Cluster;

    /// <summary>The audit action of an analyst correction (subject "identity:{id}").</summary>
    public const string CorrectAuditAction = NetworkActions.Correct;

    /// <summary>The neighbour index as migration 10 creates it; a full write of the lists drops and rebuilds it.</summary>
    private const string NeighbourIndexSql = "CREATE INDEX face_neighbours_neighbour ON face_neighbours(neighbour_id)";

    public async Task<IReadOnlyList<ClusterableFace>> ListClusterableFacesAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, quality_score FROM faces WHERE model_id = $model ORDER BY id";
        command.Parameters.AddWithValue("$model", ModelId);
        var faces = new List<ClusterableFace>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            faces.Add(new ClusterableFace(reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetFloat(1)));
        }

        return faces;
    }

    public async Task<IReadOnlyDictionary<long, VectorHit[]>> ReadNeighbourListsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();

        // The primary key's order: each list's rows arrive together, in rank order.
        command.CommandText = "SELECT face_id, neighbour_id, similarity FROM face_neighbours ORDER BY face_id, rank";
        var lists = new Dictionary<long, VectorHit[]>();
        var current = new List<VectorHit>();
        var face = 0L;
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var id = reader.GetInt64(0);
            if (id != face && current.Count > 0)
            {
                lists[face] = [.. current];
                current.Clear();
            }

            face = id;
            current.Add(new VectorHit(reader.GetInt64(1), reader.GetFloat(2)));
        }

        if (current.Count > 0)
        {
            lists[face] = [.. current];
        }

        return lists;
    }

    public async Task WriteNeighbourListsAsync(IReadOnlyDictionary<long, VectorHit[]> lists, bool replaceAll, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(lists);
        foreach (var (face, hits) in lists)
        {
            if (hits is null)
            {
                throw new ArgumentException($"The neighbour list of face {face} is null.", nameof(lists));
            }

            foreach (var hit in hits)
            {
                if (!float.IsFinite(hit.Similarity))
                {
                    throw new ArgumentException($"The neighbour list of face {face} has a non-finite similarity.", nameof(lists));
                }
            }
        }

        await WriteAsync(async tx =>
        {
            var existing = await FaceIdSetAsync(tx, ct).ConfigureAwait(false);
            var faces = lists.Keys.Order().ToArray();
            if (replaceAll)
            {
                // The neighbour index is rebuilt rather than kept up to date: random inserts into it are most of the cost
                // of a bulk write (2M rows: 19 s kept, 3.4 s rebuilt by sorting, measured with the sqlite3 shell).
                await ExecuteNetworkAsync(tx, "DROP INDEX IF EXISTS face_neighbours_neighbour; DELETE FROM face_neighbours;", ct).ConfigureAwait(false);
            }
            else
            {
                using var delete = NetworkCommand(tx, "DELETE FROM face_neighbours WHERE face_id = $face");
                var deleteFace = delete.Parameters.Add("$face", SqliteType.Integer);
                foreach (var face in faces)
                {
                    deleteFace.Value = face;
                    await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            // One prepared statement, its parameters bound once and reused for every row, in primary-key order. SQLite's own
            // work is most of the time (2M rows: 7.1 s here, 5.5 s for the shell generating the rows itself, on the busy
            // 2-core machine); batches of 2,048 lists as one JSON parameter expanded by json_each took 9.5 s.
            using var insert = NetworkCommand(tx, "INSERT INTO face_neighbours(face_id, rank, neighbour_id, similarity) VALUES ($face, $rank, $neighbour, $similarity)");
            var faceParameter = insert.Parameters.Add("$face", SqliteType.Integer);
            var rankParameter = insert.Parameters.Add("$rank", SqliteType.Integer);
            var neighbourParameter = insert.Parameters.Add("$neighbour", SqliteType.Integer);
            var similarityParameter = insert.Parameters.Add("$similarity", SqliteType.Real);
            insert.Prepare();
            foreach (var face in faces)
            {
                ct.ThrowIfCancellationRequested();
                if (!existing.Contains(face))
                {
                    continue;
                }

                faceParameter.Value = face;
                var rank = 0;
                foreach (var hit in lists[face])
                {
                    if (!existing.Contains(hit.Key))
                    {
                        continue;
                    }

                    rankParameter.Value = rank++;
                    neighbourParameter.Value = hit.Key;
                    similarityParameter.Value = (double)hit.Similarity;
                    await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            if (replaceAll)
            {
                await ExecuteNetworkAsync(tx, NeighbourIndexSql, ct).ConfigureAwait(false);
            }

            return 0;
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<FaceAssignment>> ReadAssignmentsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
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
        return await WriteAsync(async tx =>
        {
            var now = FormatTime(_clock.GetUtcNow());
            var current = await ReadAssignmentMapAsync(_writer, tx, ct).ConfigureAwait(false);
            var existing = await FaceIdSetAsync(tx, ct).ConfigureAwait(false);
            var identitiesBefore = await NetworkIdsAsync(tx, "SELECT id FROM identities", null, ct).ConfigureAwait(false);

            var clusters = NetworkPartition.Clusters(partition, existing);
            var (identityOf, needNew) = NetworkPartition.AssignIdentities(clusters, current);

            // One insert per new identity, in the helper's order (larger clusters first), so that ascending ids follow it.
            foreach (var key in needNew)
            {
                identityOf[key] = await InsertIdentityAsync(tx, now, ct).ConfigureAwait(false);
            }

            var created = needNew.Count;
            var writes = NetworkPartition.Writes(clusters, identityOf, current, listed, existing);
            using (var upsert = NetworkCommand(tx, """
                INSERT INTO face_identities(face_id, identity_id, locked) VALUES ($face, $identity, 0)
                ON CONFLICT(face_id) DO UPDATE SET identity_id = excluded.identity_id, locked = 0
                """))
            {
                var faceParameter = upsert.Parameters.Add("$face", SqliteType.Integer);
                var identityParameter = upsert.Parameters.Add("$identity", SqliteType.Integer);
                for (var i = 0; i < writes.UpsertFaces.Count; i++)
                {
                    faceParameter.Value = writes.UpsertFaces[i];
                    identityParameter.Value = writes.UpsertIdentities[i];
                    await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            using (var delete = NetworkCommand(tx, "DELETE FROM face_identities WHERE face_id = $face"))
            {
                var faceParameter = delete.Parameters.Add("$face", SqliteType.Integer);
                foreach (var face in writes.Dropped)
                {
                    faceParameter.Value = face;
                    await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            await ExecuteNetworkAsync(tx, "DELETE FROM identities WHERE NOT EXISTS (SELECT 1 FROM face_identities x WHERE x.identity_id = identities.id)", ct)
                .ConfigureAwait(false);
            await TouchIdentitiesAsync(tx, writes.Touched, now, ct).ConfigureAwait(false);
            var identitiesAfter = (await NetworkIdsAsync(tx, "SELECT id FROM identities", null, ct).ConfigureAwait(false)).ToHashSet();
            var removed = identitiesBefore.Count(id => !identitiesAfter.Contains(id));

            long version;
            using (var state = NetworkCommand(tx, """
                INSERT INTO clustering_state(id, model_id, parameters, clustered_through, version, clustered_at)
                VALUES (1, $model, $parameters, $through, 1, $now)
                ON CONFLICT(id) DO UPDATE SET model_id = excluded.model_id, parameters = excluded.parameters,
                    clustered_through = excluded.clustered_through, version = clustering_state.version + 1, clustered_at = excluded.clustered_at
                RETURNING version
                """))
            {
                state.Parameters.AddWithValue("$model", ModelId);
                state.Parameters.AddWithValue("$parameters", JsonSerializer.Serialize(parameters));
                state.Parameters.AddWithValue("$through", clusteredThroughFaceId);
                state.Parameters.AddWithValue("$now", now);
                version = (long)(await state.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }

            var details = NetworkPartition.Details(full, clusters.Count, writes);
            await AppendAuditAsync(tx, new NewAuditEvent(by, ClusterAuditAction, "identities", details), ct).ConfigureAwait(false);
            return new PartitionChange(clusters.Count, writes.Faces, writes.Moved, created, removed, version);
        }, ct).ConfigureAwait(false);
    }

    public async Task<ClusteringState?> GetClusteringStateAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT model_id, parameters, clustered_through, version, clustered_at,
                   (SELECT count(DISTINCT identity_id) FROM face_identities), (SELECT count(*) FROM face_identities)
            FROM clustering_state WHERE id = 1
            """;
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            return null;
        }

        var parameters = JsonSerializer.Deserialize<ClusteringParameters>(reader.GetString(1))
            ?? throw new CatalogException("The catalog's clustering state has no parameters.");
        return new ClusteringState(
            reader.GetString(0), parameters, reader.GetInt64(2), reader.GetInt64(3), ParseTime(reader.GetString(4)), reader.GetInt32(5), reader.GetInt32(6));
    }

    public async Task<IdentityRecord?> GetIdentityAsync(long identityId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return (await ReadIdentitiesAsync(connection, null, [identityId], ct).ConfigureAwait(false)).FirstOrDefault();
    }

    public async Task<IReadOnlyList<IdentityRecord>> ListIdentitiesAsync(int minFaces, int limit, int offset, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();

        // Counted from the identity index alone; the faces' rows are read only for the page asked for.
        command.CommandText = """
            SELECT i.id FROM identities i LEFT JOIN face_identities x ON x.identity_id = i.id
            GROUP BY i.id HAVING count(x.face_id) >= $min
            ORDER BY count(x.face_id) DESC, i.id LIMIT $limit OFFSET $offset
            """;
        command.Parameters.AddWithValue("$min", minFaces);
        command.Parameters.AddWithValue("$limit", limit);
        command.Parameters.AddWithValue("$offset", offset);
        var ids = new List<long>();
        using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
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

        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await ReadIdentitiesAsync(connection, null, identityIds, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<IdentityFace>> GetIdentityFacesAsync(long identityId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT f.id, f.image_id, f.quality_score, x.locked
            FROM face_identities x JOIN faces f ON f.id = x.face_id
            WHERE x.identity_id = $id
            ORDER BY f.quality_score IS NULL, f.quality_score DESC, f.id
            """;
        command.Parameters.AddWithValue("$id", identityId);
        var faces = new List<IdentityFace>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            faces.Add(new IdentityFace(reader.GetInt64(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetFloat(2), reader.GetInt64(3) != 0));
        }

        return faces;
    }

    public async Task<long?> FindIdentityOfFaceAsync(long faceId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT identity_id FROM face_identities WHERE face_id = $id";
        command.Parameters.AddWithValue("$id", faceId);
        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is long identity ? identity : null;
    }

    public async Task<IdentityRecord> MergeIdentitiesAsync(long into, long from, string? reason, string by, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        IdentityCorrections.CheckMerge(into, from);

        reason = CorrectionReason(reason);
        return await WriteAsync(async tx =>
        {
            var intoName = await RequireIdentityAsync(tx, into, ct).ConfigureAwait(false);
            var fromName = await RequireIdentityAsync(tx, from, ct).ConfigureAwait(false);
            var movedFaces = await NetworkIdsAsync(tx, "SELECT face_id FROM face_identities WHERE identity_id = $id ORDER BY face_id", from, ct).ConfigureAwait(false);
            var now = FormatTime(_clock.GetUtcNow());
            using (var update = NetworkCommand(tx, "UPDATE face_identities SET identity_id = $into, locked = 1 WHERE identity_id IN ($into, $from)"))
            {
                update.Parameters.AddWithValue("$into", into);
                update.Parameters.AddWithValue("$from", from);
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var name = intoName ?? fromName;
            using (var update = NetworkCommand(tx, "UPDATE identities SET name = $name, updated_at = $now WHERE id = $id"))
            {
                update.Parameters.AddWithValue("$name", (object?)name ?? DBNull.Value);
                update.Parameters.AddWithValue("$now", now);
                update.Parameters.AddWithValue("$id", into);
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await DeleteIdentityAsync(tx, from, ct).ConfigureAwait(false);
            await RecordCorrectionAsync(tx, CorrectionKind.Merge, into, from, movedFaces, null, reason, by, name is not null, now, ct).ConfigureAwait(false);
            return (await ReadIdentitiesAsync(_writer, tx, [into], ct).ConfigureAwait(false))[0];
        }, ct).ConfigureAwait(false);
    }

    public async Task<IdentityRecord> SplitIdentityAsync(long identityId, IReadOnlyList<long> faceIds, string? reason, string by, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(faceIds);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        var split = IdentityCorrections.SplitFaces(faceIds);

        reason = CorrectionReason(reason);
        return await WriteAsync(async tx =>
        {
            var name = await RequireIdentityAsync(tx, identityId, ct).ConfigureAwait(false);
            var members = (await NetworkIdsAsync(tx, "SELECT face_id FROM face_identities WHERE identity_id = $id", identityId, ct).ConfigureAwait(false)).ToHashSet();
            IdentityCorrections.CheckSplit(identityId, faceIds, split, members);

            var now = FormatTime(_clock.GetUtcNow());
            var created = await InsertIdentityAsync(tx, now, ct).ConfigureAwait(false);
            using (var lockAll = NetworkCommand(tx, "UPDATE face_identities SET locked = 1 WHERE identity_id = $id"))
            {
                lockAll.Parameters.AddWithValue("$id", identityId);
                await lockAll.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            using (var move = NetworkCommand(tx, "UPDATE face_identities SET identity_id = $to, locked = 1 WHERE face_id IN (SELECT value FROM json_each($faces))"))
            {
                move.Parameters.AddWithValue("$to", created);
                move.Parameters.AddWithValue("$faces", JsonSerializer.Serialize(faceIds));
                await move.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await TouchIdentitiesAsync(tx, [identityId], now, ct).ConfigureAwait(false);
            await RecordCorrectionAsync(tx, CorrectionKind.Split, identityId, created, faceIds, null, reason, by, name is not null, now, ct).ConfigureAwait(false);
            return (await ReadIdentitiesAsync(_writer, tx, [created], ct).ConfigureAwait(false))[0];
        }, ct).ConfigureAwait(false);
    }

    public async Task<IdentityRecord> MoveFaceAsync(long faceId, long identityId, string? reason, string by, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        reason = CorrectionReason(reason);
        return await WriteAsync(async tx =>
        {
            var name = await RequireIdentityAsync(tx, identityId, ct).ConfigureAwait(false);
            var previous = await NetworkIdsAsync(tx, "SELECT identity_id FROM face_identities WHERE face_id = $id", faceId, ct).ConfigureAwait(false);
            if (previous.Count == 0)
            {
                throw new NetworkNotFoundException(string.Create(CultureInfo.InvariantCulture, $"Face {faceId} does not exist or is not clustered yet."));
            }

            var now = FormatTime(_clock.GetUtcNow());
            using (var lockAll = NetworkCommand(tx, "UPDATE face_identities SET locked = 1 WHERE identity_id = $id"))
            {
                lockAll.Parameters.AddWithValue("$id", identityId);
                await lockAll.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            using (var move = NetworkCommand(tx, "UPDATE face_identities SET identity_id = $to, locked = 1 WHERE face_id = $face"))
            {
                move.Parameters.AddWithValue("$to", identityId);
                move.Parameters.AddWithValue("$face", faceId);
                await move.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var old = previous[0];
            if (old != identityId)
            {
                if ((await NetworkIdsAsync(tx, "SELECT face_id FROM face_identities WHERE identity_id = $id LIMIT 1", old, ct).ConfigureAwait(false)).Count == 0)
                {
                    await DeleteIdentityAsync(tx, old, ct).ConfigureAwait(false);
                }
                else
                {
                    await TouchIdentitiesAsync(tx, [old], now, ct).ConfigureAwait(false);
                }
            }

            await TouchIdentitiesAsync(tx, [identityId], now, ct).ConfigureAwait(false);
            await RecordCorrectionAsync(tx, CorrectionKind.Move, identityId, old, [faceId], null, reason, by, name is not null, now, ct).ConfigureAwait(false);
            return (await ReadIdentitiesAsync(_writer, tx, [identityId], ct).ConfigureAwait(false))[0];
        }, ct).ConfigureAwait(false);
    }

    public async Task<IdentityRecord> NameIdentityAsync(long identityId, string? name, string by, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        name = IdentityCorrections.IdentityName(name);

        return await WriteAsync(async tx =>
        {
            await RequireIdentityAsync(tx, identityId, ct).ConfigureAwait(false);
            var faces = await NetworkIdsAsync(tx, "SELECT face_id FROM face_identities WHERE identity_id = $id ORDER BY face_id", identityId, ct).ConfigureAwait(false);
            var now = FormatTime(_clock.GetUtcNow());
            using (var lockAll = NetworkCommand(tx, "UPDATE face_identities SET locked = 1 WHERE identity_id = $id"))
            {
                lockAll.Parameters.AddWithValue("$id", identityId);
                await lockAll.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            using (var update = NetworkCommand(tx, "UPDATE identities SET name = $name, updated_at = $now WHERE id = $id"))
            {
                update.Parameters.AddWithValue("$name", (object?)name ?? DBNull.Value);
                update.Parameters.AddWithValue("$now", now);
                update.Parameters.AddWithValue("$id", identityId);
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await RecordCorrectionAsync(tx, CorrectionKind.Name, identityId, null, faces, name, null, by, name is not null, now, ct).ConfigureAwait(false);
            return (await ReadIdentitiesAsync(_writer, tx, [identityId], ct).ConfigureAwait(false))[0];
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<IdentityCorrection>> ListCorrectionsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, kind, identity_id, other_identity_id, face_ids, name, reason, by, at FROM identity_corrections ORDER BY id";
        var corrections = new List<IdentityCorrection>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            corrections.Add(new IdentityCorrection(
                reader.GetInt64(0),
                ParseCorrectionKind(reader.GetString(1)),
                reader.GetInt64(2),
                reader.IsDBNull(3) ? null : reader.GetInt64(3),
                JsonSerializer.Deserialize<long[]>(reader.GetString(4)) ?? [],
                NullableString(reader, 5),
                NullableString(reader, 6),
                reader.GetString(7),
                ParseTime(reader.GetString(8))));
        }

        return corrections;
    }

    public async Task<IReadOnlyList<CoAppearanceEdge>> GetCoAppearancesAsync(IReadOnlyCollection<long>? identityIds, int evidenceLimit, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(evidenceLimit);
        if (identityIds is { Count: 0 })
        {
            return [];
        }

        // Streaming reads and the pairing in memory rather than SQL self-joins over pages: at 100,000 faces (50,000 photos
        // on 20,000 pages, 439,000 edges) the self-joins took 5 s warm and 20 s cold, their plan resting on automatic
        // indexes (the sqlite3 3.40 shell planned the same text to run for over ten minutes).
        var seeds = identityIds?.ToHashSet();
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);

        // One snapshot for all reads, so the photo and page counts describe the same partition.
        using var snapshot = connection.BeginTransaction(deferred: true);
        var seedImages = seeds is null ? null : await SeedImagesAsync(connection, snapshot, seeds, ct).ConfigureAwait(false);
        var pages = await PagesWithPhotosAsync(connection, snapshot, seedImages, ct).ConfigureAwait(false);

        // Filtered, only the photos of the seed identities and the photos on their pages are read.
        var wantedImages = seedImages is null ? null : new HashSet<long>(seedImages.Concat(pages.SelectMany(p => p.Images)));
        var photos = await PhotoIdentitiesAsync(connection, snapshot, wantedImages, ct).ConfigureAwait(false);
        return CoAppearances.Pair(photos, pages, seeds, evidenceLimit);
    }

    public async Task<IReadOnlyList<TimelineEntry>> GetTimelineAsync(long identityId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();

        // A near-duplicate copy keeps no faces of its own: where it was seen, its original's faces were seen.
        command.CommandText = """
            WITH seen(face_id, image_id, seen_image) AS (
                SELECT f.id, f.image_id, f.image_id
                FROM face_identities x JOIN faces f ON f.id = x.face_id WHERE x.identity_id = $id
                UNION ALL
                SELECT f.id, f.image_id, d.id
                FROM face_identities x JOIN faces f ON f.id = x.face_id JOIN images d ON d.near_duplicate_of = f.image_id
                WHERE x.identity_id = $id
            )
            SELECT seen.face_id, seen.image_id, coalesce(s.captured_at, i.captured_at) AS captured, s.seen_at, c.name, s.source_url, s.page_url
            FROM seen
            JOIN sightings s ON s.image_id = seen.seen_image
            JOIN images i ON i.id = seen.seen_image
            JOIN collections c ON c.id = s.collection_id
            ORDER BY captured IS NULL, captured, s.seen_at, seen.face_id, s.id
            """;
        command.Parameters.AddWithValue("$id", identityId);
        var entries = new List<TimelineEntry>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            entries.Add(new TimelineEntry(
                reader.GetInt64(0), reader.GetInt64(1), NullableTime(reader, 2), ParseTime(reader.GetString(3)), reader.GetString(4),
                NullableString(reader, 5), NullableString(reader, 6)));
        }

        return entries;
    }

    /// <summary>The photos holding a face of one of <paramref name="seeds"/>.</summary>
    private static async Task<HashSet<long>> SeedImagesAsync(SqliteConnection connection, SqliteTransaction snapshot, HashSet<long> seeds, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = snapshot;
        command.CommandText = """
            SELECT DISTINCT f.image_id FROM face_identities x JOIN faces f ON f.id = x.face_id
            WHERE x.identity_id IN (SELECT value FROM json_each($seeds))
            """;
        command.Parameters.AddWithValue("$seeds", JsonSerializer.Serialize(seeds));
        var images = new HashSet<long>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            images.Add(reader.GetInt64(0));
        }

        return images;
    }

    /// <summary>
    /// The pages showing two photos or more, in page order (as SQLite's BINARY collation sorts them), each with its photos
    /// in id order: its sightings and the images' own pages, a near-duplicate copy standing for its original (which holds
    /// the faces). With <paramref name="seedImages"/>, only the pages showing one of them.
    /// </summary>
    private static async Task<List<(string Url, long[] Images)>> PagesWithPhotosAsync(
        SqliteConnection connection, SqliteTransaction snapshot, HashSet<long>? seedImages, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = snapshot;
        command.CommandText = """
            SELECT s.page_url, coalesce(i.near_duplicate_of, i.id) FROM sightings s JOIN images i ON i.id = s.image_id WHERE s.page_url IS NOT NULL
            UNION ALL
            SELECT i.page_url, coalesce(i.near_duplicate_of, i.id) FROM images i WHERE i.page_url IS NOT NULL
            ORDER BY 1, 2
            """;
        var pages = new PageCollector(seedImages);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            pages.Add(reader.GetString(0), reader.GetInt64(1));
        }

        return pages.Finish();
    }

    /// <summary>
    /// The clustered identities of each photo (all photos, or those of <paramref name="images"/>), in image order. The
    /// faces' (image_id, model_id, id) index gives a photo's faces without reading a face row (100,000 faces: 0.3 s).
    /// </summary>
    private static async Task<Dictionary<long, PhotoIdentities>> PhotoIdentitiesAsync(
        SqliteConnection connection, SqliteTransaction snapshot, HashSet<long>? images, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = snapshot;
        command.CommandText = $"""
            SELECT f.image_id, x.identity_id, f.id, i.page_url, i.captured_at
            FROM faces f JOIN face_identities x ON x.face_id = f.id JOIN images i ON i.id = f.image_id
            {(images is null ? "" : "WHERE f.image_id IN (SELECT value FROM json_each($images))")}
            ORDER BY f.image_id
            """;
        if (images is not null)
        {
            command.Parameters.AddWithValue("$images", JsonSerializer.Serialize(images));
        }

        var photos = new Dictionary<long, PhotoIdentities>();
        PhotoIdentities? photo = null;
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var image = reader.GetInt64(0);
            if (photo?.ImageId != image)
            {
                photo = new PhotoIdentities(image, NullableString(reader, 3), NullableTime(reader, 4));
                photos[image] = photo;
            }

            photo.Add(reader.GetInt64(1), reader.GetInt64(2));
        }

        return photos;
    }

    /// <summary>Identity records by id (unknown ids left out), in id order: counts, lock and cover face from the partition.</summary>
    private static async Task<List<IdentityRecord>> ReadIdentitiesAsync(SqliteConnection connection, SqliteTransaction? tx, IEnumerable<long> ids, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = """
            SELECT i.id, i.name, i.created_at, i.updated_at,
                   (SELECT count(*) FROM face_identities x WHERE x.identity_id = i.id),
                   (SELECT count(DISTINCT f.image_id) FROM face_identities x JOIN faces f ON f.id = x.face_id WHERE x.identity_id = i.id),
                   (SELECT coalesce(max(x.locked), 0) FROM face_identities x WHERE x.identity_id = i.id),
                   (SELECT f.id FROM face_identities x JOIN faces f ON f.id = x.face_id WHERE x.identity_id = i.id
                    ORDER BY f.quality_score IS NULL, f.quality_score DESC, f.id LIMIT 1)
            FROM identities i
            WHERE i.id IN (SELECT value FROM json_each($ids))
            ORDER BY i.id
            """;
        command.Parameters.AddWithValue("$ids", JsonSerializer.Serialize(ids));
        var records = new List<IdentityRecord>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            records.Add(new IdentityRecord(
                reader.GetInt64(0),
                NullableString(reader, 1),
                reader.GetInt32(4),
                reader.GetInt32(5),
                reader.GetInt64(6) != 0,
                reader.IsDBNull(7) ? null : reader.GetInt64(7),
                ParseTime(reader.GetString(2)),
                ParseTime(reader.GetString(3))));
        }

        return records;
    }

    private static async Task<Dictionary<long, FaceAssignment>> ReadAssignmentMapAsync(SqliteConnection connection, SqliteTransaction? tx, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "SELECT face_id, identity_id, locked FROM face_identities ORDER BY face_id";
        var map = new Dictionary<long, FaceAssignment>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var face = reader.GetInt64(0);
            map[face] = new FaceAssignment(face, reader.GetInt64(1), reader.GetInt64(2) != 0);
        }

        return map;
    }

    /// <summary>Every face id of the catalog (any model): what a neighbour list or an assignment may name.</summary>
    private async Task<HashSet<long>> FaceIdSetAsync(SqliteTransaction tx, CancellationToken ct) =>
        (await NetworkIdsAsync(tx, "SELECT id FROM faces", null, ct).ConfigureAwait(false)).ToHashSet();

    /// <summary>The first column of every row of <paramref name="sql"/>, with <c>$id</c> bound when given.</summary>
    private async Task<List<long>> NetworkIdsAsync(SqliteTransaction tx, string sql, long? id, CancellationToken ct)
    {
        using var command = NetworkCommand(tx, sql);
        if (id is { } value)
        {
            command.Parameters.AddWithValue("$id", value);
        }

        var ids = new List<long>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    /// <summary>The identity's name (null when unnamed); <see cref="NetworkNotFoundException"/> when there is no such identity.</summary>
    private async Task<string?> RequireIdentityAsync(SqliteTransaction tx, long identityId, CancellationToken ct)
    {
        using var command = NetworkCommand(tx, "SELECT id, name FROM identities WHERE id = $id");
        command.Parameters.AddWithValue("$id", identityId);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false)
            ? NullableString(reader, 1)
            : throw new NetworkNotFoundException(string.Create(CultureInfo.InvariantCulture, $"There is no identity {identityId}."));
    }

    private async Task<long> InsertIdentityAsync(SqliteTransaction tx, string now, CancellationToken ct)
    {
        using var insert = NetworkCommand(tx, "INSERT INTO identities(name, created_at, updated_at) VALUES (NULL, $now, $now) RETURNING id");
        insert.Parameters.AddWithValue("$now", now);
        return (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    private async Task DeleteIdentityAsync(SqliteTransaction tx, long identityId, CancellationToken ct)
    {
        using var delete = NetworkCommand(tx, "DELETE FROM identities WHERE id = $id");
        delete.Parameters.AddWithValue("$id", identityId);
        await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private async Task TouchIdentitiesAsync(SqliteTransaction tx, IReadOnlyCollection<long> identityIds, string now, CancellationToken ct)
    {
        if (identityIds.Count == 0)
        {
            return;
        }

        using var update = NetworkCommand(tx, "UPDATE identities SET updated_at = $now WHERE id IN (SELECT value FROM json_each($ids))");
        update.Parameters.AddWithValue("$now", now);
        update.Parameters.AddWithValue("$ids", JsonSerializer.Serialize(identityIds));
        await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores a correction, bumps the clustering version and audits it, in the correction's transaction. The audit
    /// event says whether the identity is named, never the name: an identity's name is what an analyst believes about a
    /// person, and the log is read by people outside the case.
    /// </summary>
    private async Task RecordCorrectionAsync(
        SqliteTransaction tx, CorrectionKind kind, long identityId, long? otherIdentityId, IReadOnlyList<long> faceIds, string? name, string? reason,
        string by, bool named, string now, CancellationToken ct)
    {
        using (var insert = NetworkCommand(tx, """
            INSERT INTO identity_corrections(kind, identity_id, other_identity_id, face_ids, name, reason, by, at)
            VALUES ($kind, $identity, $other, $faces, $name, $reason, $by, $at)
            """))
        {
            insert.Parameters.AddWithValue("$kind", CorrectionKindText(kind));
            insert.Parameters.AddWithValue("$identity", identityId);
            insert.Parameters.AddWithValue("$other", (object?)otherIdentityId ?? DBNull.Value);
            insert.Parameters.AddWithValue("$faces", JsonSerializer.Serialize(faceIds));
            insert.Parameters.AddWithValue("$name", (object?)name ?? DBNull.Value);
            insert.Parameters.AddWithValue("$reason", (object?)reason ?? DBNull.Value);
            insert.Parameters.AddWithValue("$by", by);
            insert.Parameters.AddWithValue("$at", now);
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await ExecuteNetworkAsync(tx, "UPDATE clustering_state SET version = version + 1 WHERE id = 1", ct).ConfigureAwait(false);

        var details = AuditDetails.Empty
            .With("kind", CorrectionKindText(kind))
            .With("faces", (long)faceIds.Count)
            .With("named", named);
        if (otherIdentityId is { } other)
        {
            details = details.With("other", other);
        }

        if (reason is not null)
        {
            details = details.With("reason", AuditTextPrefix(reason));
        }

        var subject = string.Create(CultureInfo.InvariantCulture, $"identity:{identityId}");
        await AppendAuditAsync(tx, new NewAuditEvent(by, CorrectAuditAction, subject, details), ct).ConfigureAwait(false);
    }

    /// <summary>A correction's reason: trimmed, null when blank; refused when too long or holding control characters.</summary>
    internal static string? CorrectionReason(string? reason)
    {
        if (string.IsNullOrWhiteSpace(reason))
        {
            return null;
        }

        reason = reason.Trim();
        if (reason.Length > MaxCorrectionReasonLength)
        {
            throw new ArgumentException($"The reason is {reason.Length} characters; at most {MaxCorrectionReasonLength} are allowed.", nameof(reason));
        }

        RequireNetworkText(reason, "reason", nameof(reason));
        return reason;
    }

    /// <summary>Refuses control characters and unpaired surrogates (the audit's canonical JSON escapes neither).</summary>
    internal static void RequireNetworkText(string text, string what, string parameter)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsControl(c))
            {
                throw new ArgumentException($"The {what} contains a control character.", parameter);
            }

            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                throw new ArgumentException($"The {what} contains an unpaired surrogate.", parameter);
            }
        }
    }

    /// <summary>At most <see cref="AuditDetails.MaxTextLength"/> characters of <paramref name="text"/>, never half a surrogate pair.</summary>
    internal static string AuditTextPrefix(string text)
    {
        if (text.Length <= AuditDetails.MaxTextLength)
        {
            return text;
        }

        var length = AuditDetails.MaxTextLength;
        if (char.IsHighSurrogate(text[length - 1]))
        {
            length--;
        }

        return text[..length];
    }

    internal static string CorrectionKindText(CorrectionKind kind) => kind switch
    {
        CorrectionKind.Merge => "merge",
        CorrectionKind.Split => "split",
        CorrectionKind.Move => "move",
        CorrectionKind.Name => "name",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    internal static CorrectionKind ParseCorrectionKind(string text) => text switch
    {
        "merge" => CorrectionKind.Merge,
        "split" => CorrectionKind.Split,
        "move" => CorrectionKind.Move,
        "name" => CorrectionKind.Name,
        _ => throw new CatalogException($"Unknown correction kind '{text}' in the catalog."),
    };

    private SqliteCommand NetworkCommand(SqliteTransaction tx, string sql)
    {
        var command = _writer.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return command;
    }

    private async Task ExecuteNetworkAsync(SqliteTransaction tx, string sql, CancellationToken ct)
    {
        using var command = NetworkCommand(tx, sql);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
