using System.Data;
using Lineup.Core.Indexing;
using Lineup.Core.Network;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The face neighbour graph, the co-appearance edges and the timelines (<see cref="INetworkStore"/>), as in
/// <see cref="SqliteCatalog"/>. Neighbour lists are written with binary <c>COPY</c>; the co-appearance pairing is the
/// SQLite catalog's own (<see cref="CoAppearances"/>), fed from one repeatable-read snapshot.
/// </summary>
public sealed partial class PostgresCatalog
{
    /// <summary>The neighbour index as the schema creates it; a full write of the lists drops and rebuilds it.</summary>
    private const string NeighbourIndexSql = "CREATE INDEX face_neighbours_neighbour ON face_neighbours(neighbour_id)";

    public async Task<IReadOnlyDictionary<long, VectorHit[]>> ReadNeighbourListsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);

        // The primary key's order: each list's rows arrive together, in rank order.
        await using var command = new NpgsqlCommand("SELECT face_id, neighbour_id, similarity FROM face_neighbours ORDER BY face_id, rank", connection);
        var lists = new Dictionary<long, VectorHit[]>();
        var current = new List<VectorHit>();
        var face = 0L;
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var id = reader.GetInt64(0);
            if (id != face && current.Count > 0)
            {
                lists[face] = [.. current];
                current.Clear();
            }

            face = id;
            current.Add(new VectorHit(reader.GetInt64(1), (float)reader.GetDouble(2)));
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
        var named = new HashSet<long>();
        foreach (var (face, hits) in lists)
        {
            if (hits is null)
            {
                throw new ArgumentException($"The neighbour list of face {face} is null.", nameof(lists));
            }

            named.Add(face);
            foreach (var hit in hits)
            {
                if (!float.IsFinite(hit.Similarity))
                {
                    throw new ArgumentException($"The neighbour list of face {face} has a non-finite similarity.", nameof(lists));
                }

                named.Add(hit.Key);
            }
        }

        await WriteAsync(async (connection, tx) =>
        {
            // The lists have no foreign keys (a face's row would be checked once per mention): the faces they name are
            // locked instead, so an erasure waits for this write and its trigger then removes what was written.
            await LockAsync(connection, tx, WriteLock.Clustering, ct).ConfigureAwait(false);
            var existing = await ExistingNetworkFacesAsync(connection, tx, [.. named], lockRows: true, ct).ConfigureAwait(false);
            var faces = lists.Keys.Order().ToArray();
            if (replaceAll)
            {
                // Emptied and the neighbour index rebuilt after the copy, as in SQLite: 1M rows (50,000 lists of 20) took
                // 2.0-2.6 s so, against 6.5-9.3 s deleting the rows and 3.7-4.2 s truncating with the index kept (2-core
                // machine at load 2; SQLite 2.1-2.2 s). TRUNCATE and DROP INDEX hold the table's exclusive lock until
                // commit: a reader of the lists (the clustering, the evaluation) waits for the write, then reads the new lists.
                await ExecuteNetworkAsync(connection, tx, "TRUNCATE face_neighbours; DROP INDEX IF EXISTS face_neighbours_neighbour", ct).ConfigureAwait(false);
            }
            else
            {
                await using var delete = new NpgsqlCommand("DELETE FROM face_neighbours WHERE face_id = ANY(@faces)", connection, tx);
                delete.Parameters.AddWithValue("faces", faces);
                await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            // One binary COPY in primary-key order, the rows streamed as they are made: 100,000 rows took 0.29 s so and
            // 10.2 s as prepared one-row INSERTs in one transaction (a round trip each).
            await using (var importer = await connection.BeginBinaryImportAsync(
                "COPY face_neighbours (face_id, rank, neighbour_id, similarity) FROM STDIN (FORMAT BINARY)", ct).ConfigureAwait(false))
            {
                foreach (var face in faces)
                {
                    if (!existing.Contains(face))
                    {
                        continue;
                    }

                    var rank = 0;
                    foreach (var hit in lists[face])
                    {
                        if (!existing.Contains(hit.Key))
                        {
                            continue;
                        }

                        await importer.StartRowAsync(ct).ConfigureAwait(false);
                        await importer.WriteAsync(face, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                        await importer.WriteAsync(rank++, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
                        await importer.WriteAsync(hit.Key, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                        await importer.WriteAsync((double)hit.Similarity, NpgsqlDbType.Double, ct).ConfigureAwait(false);
                    }
                }

                await importer.CompleteAsync(ct).ConfigureAwait(false);
            }

            if (replaceAll)
            {
                await ExecuteNetworkAsync(connection, tx, NeighbourIndexSql, ct).ConfigureAwait(false);
            }

            return 0;
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<CoAppearanceEdge>> GetCoAppearancesAsync(IReadOnlyCollection<long>? identityIds, int evidenceLimit, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(evidenceLimit);
        if (identityIds is { Count: 0 })
        {
            return [];
        }

        // Streaming reads and the pairing in memory, as in SQLite (where self-joins over pages were slower by far).
        var seeds = identityIds?.ToHashSet();
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);

        // One snapshot for all reads, so the photo and page counts describe the same partition.
        await using var snapshot = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        var seedImages = seeds is null ? null : await SeedImagesAsync(connection, snapshot, seeds, ct).ConfigureAwait(false);
        var pages = await PagesWithPhotosAsync(connection, snapshot, seedImages, ct).ConfigureAwait(false);

        // Filtered, only the photos of the seed identities and the photos on their pages are read.
        var wantedImages = seedImages is null ? null : new HashSet<long>(seedImages.Concat(pages.SelectMany(p => p.Images)));
        var photos = await PhotoIdentitiesAsync(connection, snapshot, wantedImages, ct).ConfigureAwait(false);
        await snapshot.CommitAsync(ct).ConfigureAwait(false);
        return CoAppearances.Pair(photos, pages, seeds, evidenceLimit);
    }

    public async Task<IReadOnlyList<TimelineEntry>> GetTimelineAsync(long identityId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);

        // A near-duplicate copy keeps no faces of its own: where it was seen, its original's faces were seen. Times are
        // fixed-width text compared byte by byte, as SQLite compares them, whatever the database's collation.
        await using var command = new NpgsqlCommand("""
            WITH seen(face_id, image_id, seen_image) AS (
                SELECT f.id, f.image_id, f.image_id
                FROM face_identities x JOIN faces f ON f.id = x.face_id WHERE x.identity_id = @id
                UNION ALL
                SELECT f.id, f.image_id, d.id
                FROM face_identities x JOIN faces f ON f.id = x.face_id JOIN images d ON d.near_duplicate_of = f.image_id
                WHERE x.identity_id = @id
            )
            SELECT seen.face_id, seen.image_id, coalesce(s.captured_at, i.captured_at), s.seen_at, c.name, s.source_url, s.page_url
            FROM seen
            JOIN sightings s ON s.image_id = seen.seen_image
            JOIN images i ON i.id = seen.seen_image
            JOIN collections c ON c.id = s.collection_id
            ORDER BY coalesce(s.captured_at, i.captured_at) IS NULL, coalesce(s.captured_at, i.captured_at) COLLATE "C", s.seen_at COLLATE "C", seen.face_id, s.id
            """, connection);
        command.Parameters.AddWithValue("id", identityId);
        var entries = new List<TimelineEntry>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            entries.Add(new TimelineEntry(
                reader.GetInt64(0), reader.GetInt64(1), NetworkTime(reader, 2), SqliteCatalog.ParseTime(reader.GetString(3)), reader.GetString(4),
                NetworkText(reader, 5), NetworkText(reader, 6)));
        }

        return entries;
    }

    /// <summary>The photos holding a face of one of <paramref name="seeds"/>.</summary>
    private static async Task<HashSet<long>> SeedImagesAsync(NpgsqlConnection connection, NpgsqlTransaction snapshot, HashSet<long> seeds, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("""
            SELECT DISTINCT f.image_id FROM face_identities x JOIN faces f ON f.id = x.face_id
            WHERE x.identity_id = ANY(@seeds)
            """, connection, snapshot);
        command.Parameters.AddWithValue("seeds", seeds.ToArray());
        var images = new HashSet<long>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            images.Add(reader.GetInt64(0));
        }

        return images;
    }

    /// <summary>
    /// The pages showing two photos or more, in page order, each with its photos in id order: its sightings and the
    /// images' own pages, a near-duplicate copy standing for its original (which holds the faces). Pages sort byte by
    /// byte (<c>COLLATE "C"</c>, SQLite's BINARY order for UTF-8), so evidence comes in the same order on both catalogs.
    /// With <paramref name="seedImages"/>, only the pages showing one of them.
    /// </summary>
    private static async Task<List<(string Url, long[] Images)>> PagesWithPhotosAsync(
        NpgsqlConnection connection, NpgsqlTransaction snapshot, HashSet<long>? seedImages, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("""
            SELECT s.page_url COLLATE "C", coalesce(i.near_duplicate_of, i.id) FROM sightings s JOIN images i ON i.id = s.image_id WHERE s.page_url IS NOT NULL
            UNION ALL
            SELECT i.page_url COLLATE "C", coalesce(i.near_duplicate_of, i.id) FROM images i WHERE i.page_url IS NOT NULL
            ORDER BY 1, 2
            """, connection, snapshot);
        var pages = new PageCollector(seedImages);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            pages.Add(reader.GetString(0), reader.GetInt64(1));
        }

        return pages.Finish();
    }

    /// <summary>The clustered identities of each photo (all photos, or those of <paramref name="images"/>), in image order.</summary>
    private static async Task<Dictionary<long, PhotoIdentities>> PhotoIdentitiesAsync(
        NpgsqlConnection connection, NpgsqlTransaction snapshot, HashSet<long>? images, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"""
            SELECT f.image_id, x.identity_id, f.id, i.page_url, i.captured_at
            FROM faces f JOIN face_identities x ON x.face_id = f.id JOIN images i ON i.id = f.image_id
            {(images is null ? "" : "WHERE f.image_id = ANY(@images)")}
            ORDER BY f.image_id
            """, connection, snapshot);
        if (images is not null)
        {
            command.Parameters.AddWithValue("images", images.ToArray());
        }

        var photos = new Dictionary<long, PhotoIdentities>();
        PhotoIdentities? photo = null;
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var image = reader.GetInt64(0);
            if (photo?.ImageId != image)
            {
                photo = new PhotoIdentities(image, NetworkText(reader, 3), NetworkTime(reader, 4));
                photos[image] = photo;
            }

            photo.Add(reader.GetInt64(1), reader.GetInt64(2));
        }

        return photos;
    }
}
