using System.Runtime.CompilerServices;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Numerics;
using Npgsql;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The catalog proper (<see cref="ICatalog"/>): collections, images, faces with their embeddings, sightings and
/// perceptual hashes, method for method as in <see cref="SqliteCatalog"/>. Embeddings are stored exactly as SQLite
/// stores them (<see cref="EmbeddingCodec"/> bytes), so a row reads the same on both.
/// </summary>
public sealed partial class PostgresCatalog : ICatalog
{
    /// <summary>Rows per keyset page when streaming embeddings or hashes: the same page as SQLite's.</summary>
    internal const int EmbeddingPageSize = SqliteCatalog.EmbeddingPageSize;

    /// <summary>Advisory lock of the first write of faces, while no face of <see cref="ModelId"/> fixes the length yet.</summary>
    private const long FirstEmbeddingsLockKey = SchemaLockKey + 0x100;

    private const string CollectionColumns = "id, name, lawful_basis, jurisdiction, created_at";

    private const string ImageColumns =
        "i.id, i.collection_id, i.sha256, i.byte_length, i.format, i.width, i.height, i.source_url, i.page_url, " +
        "i.captured_at, i.fetched_at, i.original_path, i.added_at, i.near_duplicate_of";

    private const string FaceColumns =
        "f.id, f.image_id, f.x1, f.y1, f.x2, f.y2, f.left_eye_x, f.left_eye_y, f.right_eye_x, f.right_eye_y, " +
        "f.nose_x, f.nose_y, f.mouth_left_x, f.mouth_left_y, f.mouth_right_x, f.mouth_right_y, f.detector_score, f.model_id, " +
        "f.quality_score, f.quality_inter_eye, f.quality_sharpness, f.quality_brightness, f.quality_contrast, " +
        "f.quality_yaw, f.quality_pitch, f.quality_roll, f.quality_landmark_fit";

    private const int FaceColumnCount = 27;

    /// <summary>
    /// Whether <see cref="_embeddingDimensions"/> was read from the database inside a write of this process. The value
    /// read at open is only a hint: another process may have written the first faces since.
    /// </summary>
    private volatile bool _embeddingDimensionsConfirmed;

    public async Task<Collection> EnsureCollectionAsync(string name, string lawfulBasis, string? jurisdiction, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(lawfulBasis);
        jurisdiction = string.IsNullOrWhiteSpace(jurisdiction) ? null : jurisdiction;

        return await WriteAsync(async (connection, tx) =>
        {
            // Two processes ensuring the same new name: the second waits for the first's row and then reads it.
            var createdAt = _clock.GetUtcNow();
            await using (var insert = new NpgsqlCommand($"""
                INSERT INTO collections(name, lawful_basis, jurisdiction, created_at)
                VALUES (@name, @basis, @jurisdiction, @created)
                ON CONFLICT (name) DO NOTHING
                RETURNING {CollectionColumns}
                """, connection, tx))
            {
                insert.Parameters.AddWithValue("name", name);
                insert.Parameters.AddWithValue("basis", lawfulBasis);
                insert.Parameters.AddWithValue("jurisdiction", (object?)jurisdiction ?? DBNull.Value);
                insert.Parameters.AddWithValue("created", SqliteCatalog.FormatTime(createdAt));
                await using var reader = await insert.ExecuteReaderAsync(ct).ConfigureAwait(false);
                if (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    return ReadCollection(reader);
                }
            }

            var existing = await FindCollectionAsync(connection, tx, name, ct).ConfigureAwait(false)
                ?? throw new CatalogException($"Collection '{name}' was removed while it was being created; try again.");
            if (existing.LawfulBasis != lawfulBasis || existing.Jurisdiction != jurisdiction)
            {
                throw new CatalogException(
                    $"Collection '{name}' already exists with lawful basis '{existing.LawfulBasis}' and jurisdiction " +
                    $"'{existing.Jurisdiction ?? "(none)"}'; it was requested with '{lawfulBasis}' and '{jurisdiction ?? "(none)"}'. " +
                    "A collection's legal basis is fixed once images are filed under it; use another collection name.");
            }

            return existing;
        }, ct).ConfigureAwait(false);
    }

    public async Task<Collection?> FindCollectionAsync(string name, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await FindCollectionAsync(connection, null, name, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Collection>> ListCollectionsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);

        // COLLATE "C": byte order, as SQLite's BINARY collation sorts, whatever the database's locale.
        await using var command = new NpgsqlCommand($"SELECT {CollectionColumns} FROM collections ORDER BY name COLLATE \"C\"", connection);
        var result = new List<Collection>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(ReadCollection(reader));
        }

        return result;
    }

    public async Task<ImageRecord?> FindImageAsync(byte[] sha256, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(sha256);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT {ImageColumns} FROM images i WHERE i.sha256 = @sha", connection);
        command.Parameters.AddWithValue("sha", sha256);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadImage(reader, 0) : null;
    }

    public async Task<IReadOnlyList<StoredImage>> AddImagesAsync(IReadOnlyList<NewImage> images, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0)
        {
            return [];
        }

        // Validate the whole batch before opening a transaction: a bad item fails fast and costs no round trip.
        var dimensions = SqliteCatalog.ValidateBatch(images);
        var items = new BatchItem[images.Count];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = new BatchItem(images[i], null);
        }

        var stored = await WriteAsync(async (connection, tx) =>
        {
            var writer = new BatchWriter(this, connection, tx, SqliteCatalog.FormatTime(_clock.GetUtcNow()), runId: null);
            var results = await writer.PrepareAsync(items, dimensions, ct).ConfigureAwait(false);
            await writer.FlushAsync(ct).ConfigureAwait(false);
            return results;
        }, ct).ConfigureAwait(false);
        ConfirmEmbeddingDimensions(dimensions);
        return stored.Select(s => s!).ToArray();
    }

    public async Task<ImageRecord?> GetImageAsync(long imageId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT {ImageColumns} FROM images i WHERE i.id = @id", connection);
        command.Parameters.AddWithValue("id", imageId);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadImage(reader, 0) : null;
    }

    public async Task<FaceRecord?> GetFaceAsync(long faceId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT {FaceColumns} FROM faces f WHERE f.id = @id", connection);
        command.Parameters.AddWithValue("id", faceId);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadFace(reader, 0) : null;
    }

    public async Task<IReadOnlyList<(FaceRecord Face, ImageRecord Image)>> GetFacesWithImagesAsync(IReadOnlyList<long> faceIds, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(faceIds);
        if (faceIds.Count == 0)
        {
            return [];
        }

        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);

        // One array parameter instead of N placeholders: one plan whatever the count.
        await using var command = new NpgsqlCommand($"""
            SELECT {FaceColumns}, {ImageColumns}
            FROM faces f JOIN images i ON i.id = f.image_id
            WHERE f.id = ANY(@ids)
            """, connection);
        command.Parameters.AddWithValue("ids", faceIds.ToArray());
        var found = new Dictionary<long, (FaceRecord, ImageRecord)>(faceIds.Count);
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var face = ReadFace(reader, 0);
                found[face.Id] = (face, ReadImage(reader, FaceColumnCount));
            }
        }

        // Callers pass search hits in rank order; keep it.
        var result = new List<(FaceRecord, ImageRecord)>(found.Count);
        foreach (var id in faceIds)
        {
            if (found.Remove(id, out var pair))
            {
                result.Add(pair);
            }
        }

        return result;
    }

    public async Task<IReadOnlyList<FaceRecord>> GetFacesOfImageAsync(long imageId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT {FaceColumns} FROM faces f WHERE f.image_id = @id ORDER BY f.id", connection);
        command.Parameters.AddWithValue("id", imageId);
        var result = new List<FaceRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(ReadFace(reader, 0));
        }

        return result;
    }

    /// <summary>
    /// Streams the embeddings of faces written with <see cref="ModelId"/>, in ascending id order, in keyset pages of
    /// <see cref="EmbeddingPageSize"/>; each page is its own short statement, so a long rebuild holds no snapshot.
    /// </summary>
    public async IAsyncEnumerable<StoredEmbedding> ReadEmbeddingsAsync(long afterFaceId = 0, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var page = new List<StoredEmbedding>(EmbeddingPageSize);
        var after = afterFaceId;
        while (true)
        {
            page.Clear();
            await using (var connection = await OpenConnectionAsync(ct).ConfigureAwait(false))
            await using (var command = new NpgsqlCommand(
                "SELECT id, embedding FROM faces WHERE model_id = @model AND id > @after ORDER BY id LIMIT @limit", connection))
            {
                command.Parameters.AddWithValue("model", ModelId);
                command.Parameters.AddWithValue("after", after);
                command.Parameters.AddWithValue("limit", EmbeddingPageSize);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    page.Add(new StoredEmbedding(reader.GetInt64(0), _embeddings.Decode(reader.GetInt64(0), reader.GetFieldValue<byte[]>(1))));
                }
            }

            foreach (var embedding in page)
            {
                yield return embedding;
            }

            if (page.Count < EmbeddingPageSize)
            {
                yield break;
            }

            after = page[^1].FaceId;
        }
    }

    public async Task<CatalogStats> GetStatsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM collections),
                   (SELECT count(*) FROM images),
                   (SELECT count(*) FROM faces),
                   (SELECT coalesce(max(id), 0) FROM faces),
                   (SELECT coalesce(max(version), 0) FROM schema_version)
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        return new CatalogStats(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
    }

    public async Task<IReadOnlyList<Sighting>> GetSightingsAsync(long imageId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        // The image and its near-duplicates as one array: SQLite's "= @id OR IN (…)" makes PostgreSQL filter every
        // sighting (measured: a full scan of 200,000 rows against two index probes with ANY).
        await using var command = new NpgsqlCommand("""
            SELECT s.id, s.image_id, s.collection_id, s.run_id, s.source_url, s.page_url, s.captured_at, s.fetched_at,
                   s.original_path, s.record_id, s.licence, s.seen_at
            FROM sightings s
            WHERE s.image_id = ANY(ARRAY(SELECT @id UNION ALL SELECT id FROM images WHERE near_duplicate_of = @id))
            ORDER BY s.id
            """, connection);
        command.Parameters.AddWithValue("id", imageId);
        var sightings = new List<Sighting>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            sightings.Add(new Sighting(
                reader.GetInt64(0),
                reader.GetInt64(1),
                reader.GetInt64(2),
                reader.IsDBNull(3) ? null : reader.GetInt64(3),
                new Provenance(
                    NullableString(reader, 4),
                    NullableString(reader, 5),
                    NullableTime(reader, 6),
                    NullableTime(reader, 7),
                    NullableString(reader, 8),
                    NullableString(reader, 9),
                    NullableString(reader, 10)),
                SqliteCatalog.ParseTime(reader.GetString(11))));
        }

        return sightings;
    }

    public async IAsyncEnumerable<ImageHash> ReadPerceptualHashesAsync(long afterImageId = 0, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var after = afterImageId;
        var page = new List<ImageHash>(EmbeddingPageSize);
        while (true)
        {
            page.Clear();
            await using (var connection = await OpenConnectionAsync(ct).ConfigureAwait(false))
            await using (var command = new NpgsqlCommand("""
                SELECT id, phash, width, height FROM images
                WHERE id > @after AND phash IS NOT NULL AND near_duplicate_of IS NULL
                ORDER BY id LIMIT @limit
                """, connection))
            {
                command.Parameters.AddWithValue("after", after);
                command.Parameters.AddWithValue("limit", EmbeddingPageSize);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    page.Add(new ImageHash(reader.GetInt64(0), unchecked((ulong)reader.GetInt64(1)), reader.GetInt32(2), reader.GetInt32(3)));
                }
            }

            foreach (var hash in page)
            {
                yield return hash;
            }

            if (page.Count < EmbeddingPageSize)
            {
                yield break;
            }

            after = page[^1].ImageId;
        }
    }

    public async Task<IReadOnlyList<StoredEmbedding>> GetEmbeddingsAsync(IReadOnlyList<long> faceIds, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(faceIds);
        if (faceIds.Count == 0)
        {
            return [];
        }

        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT id, embedding FROM faces WHERE id = ANY(@ids) AND model_id = @model", connection);
        command.Parameters.AddWithValue("ids", faceIds.ToArray());
        command.Parameters.AddWithValue("model", ModelId);
        var found = new Dictionary<long, float[]>(faceIds.Count);
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                found[reader.GetInt64(0)] = _embeddings.Decode(reader.GetInt64(0), reader.GetFieldValue<byte[]>(1));
            }
        }

        return SqliteCatalog.InOrder(faceIds, found);
    }

    public async Task<IReadOnlyList<StoredEmbedding>> GetEmbeddingsOfImageAsync(long imageId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            "SELECT id, embedding FROM faces WHERE image_id = @id AND model_id = @model ORDER BY id", connection);
        command.Parameters.AddWithValue("id", imageId);
        command.Parameters.AddWithValue("model", ModelId);
        var result = new List<StoredEmbedding>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(new StoredEmbedding(reader.GetInt64(0), _embeddings.Decode(reader.GetInt64(0), reader.GetFieldValue<byte[]>(1))));
        }

        return result;
    }

    /// <summary>
    /// Bumps the gallery version inside a write that changes the gallery (an ingest batch, an erasure, an opt-out).
    /// The row stays locked until the transaction ends, so concurrent writers queue on it: call it as the write's last
    /// statement, so the lock is held for the commit alone and not for the whole batch.
    /// </summary>
    internal static NpgsqlBatchCommand BumpGalleryVersionCommand() => new("UPDATE gallery_state SET version = version + 1 WHERE id = 1");

    /// <inheritdoc cref="BumpGalleryVersionCommand"/>
    internal static async Task BumpGalleryVersionAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        await using var bump = new NpgsqlCommand("UPDATE gallery_state SET version = version + 1 WHERE id = 1", connection, tx);
        await bump.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Refuses a batch whose embeddings (<paramref name="dimensions"/>; 0: none) differ in length from the catalog's.
    /// The length is that of the first face of <see cref="ModelId"/> in the database, read inside this transaction
    /// until this process has confirmed it once; while there is no such face, the first writers queue on an advisory
    /// lock, so two processes cannot each fix a different length.
    /// </summary>
    private async Task CheckEmbeddingDimensionsAsync(NpgsqlConnection connection, NpgsqlTransaction tx, int dimensions, CancellationToken ct)
    {
        if (dimensions == 0)
        {
            return;
        }

        var known = Volatile.Read(ref _embeddingDimensions);
        if (!_embeddingDimensionsConfirmed || known == 0)
        {
            known = await ReadStoredDimensionsAsync(connection, tx, ct).ConfigureAwait(false);
            if (known == 0)
            {
                await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", connection, tx))
                {
                    lockCommand.Parameters.AddWithValue("key", FirstEmbeddingsLockKey);
                    await lockCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                known = await ReadStoredDimensionsAsync(connection, tx, ct).ConfigureAwait(false);
            }

            if (known != 0)
            {
                Volatile.Write(ref _embeddingDimensions, known);
                _embeddingDimensionsConfirmed = true;
            }
        }

        if (known != 0 && dimensions != known)
        {
            throw new CatalogException(
                $"Embeddings of model '{ModelId}' in this catalog have {known} dimensions; the batch has {dimensions}.");
        }
    }

    /// <summary>After a committed write of faces: their length is the catalog's from now on.</summary>
    private void ConfirmEmbeddingDimensions(int dimensions)
    {
        if (dimensions != 0 && !_embeddingDimensionsConfirmed)
        {
            Volatile.Write(ref _embeddingDimensions, dimensions);
            _embeddingDimensionsConfirmed = true;
        }
    }

    private Task<int> ReadStoredDimensionsAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct) =>
        ReadEmbeddingDimensionsAsync(connection, tx, ModelId, _embeddings, ct);

    private static async Task<Collection?> FindCollectionAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string name, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT {CollectionColumns} FROM collections WHERE name = @name", connection, tx);
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadCollection(reader) : null;
    }

    private static Collection ReadCollection(NpgsqlDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetString(2), NullableString(r, 3), SqliteCatalog.ParseTime(r.GetString(4)));

    private static ImageRecord ReadImage(NpgsqlDataReader r, int o) =>
        new(
            r.GetInt64(o),
            r.GetInt64(o + 1),
            Convert.ToHexStringLower(r.GetFieldValue<byte[]>(o + 2)),
            r.GetInt64(o + 3),
            r.GetString(o + 4),
            r.GetInt32(o + 5),
            r.GetInt32(o + 6),
            new Provenance(
                NullableString(r, o + 7),
                NullableString(r, o + 8),
                NullableTime(r, o + 9),
                NullableTime(r, o + 10),
                NullableString(r, o + 11)),
            SqliteCatalog.ParseTime(r.GetString(o + 12)),
            r.IsDBNull(o + 13) ? null : r.GetInt64(o + 13));

    private static FaceRecord ReadFace(NpgsqlDataReader r, int o)
    {
        // Coordinates are written from float into double precision, so the narrowing read gives back the same float.
        float At(int i) => (float)r.GetDouble(o + i);
        PointF Point(int i) => new(At(i), At(i + 1));
        var detectorScore = At(16);
        return new FaceRecord(
            r.GetInt64(o),
            r.GetInt64(o + 1),
            new BoxF(At(2), At(3), At(4), At(5)),
            new Landmarks5(Point(6), Point(8), Point(10), Point(12), Point(14)),
            detectorScore,
            r.GetString(o + 17))
        {
            Quality = ReadQuality(r, o + 18, detectorScore),
        };
    }

    /// <summary>The nine quality columns from <paramref name="o"/>, read as SQLite reads them (NULL score: no quality).</summary>
    private static FaceQuality? ReadQuality(NpgsqlDataReader r, int o, float detectorScore)
    {
        if (r.IsDBNull(o))
        {
            return null;
        }

        float At(int i) => r.IsDBNull(o + i) ? float.NaN : (float)r.GetDouble(o + i);
        return new FaceQuality(At(0), At(1), At(2), At(3), At(4), At(5), At(6), At(7), detectorScore, At(8));
    }

    private static string? NullableString(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static DateTimeOffset? NullableTime(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : SqliteCatalog.ParseTime(r.GetString(i));
}
