using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>
/// The embedded catalog: one SQLite file in WAL mode. Writes go through a single long-lived writer connection
/// guarded by a semaphore (SQLite allows one writer at a time anyway, and queueing in-process is cheaper and
/// fairer than spinning on SQLITE_BUSY); reads use short-lived pooled connections, so readers never wait for
/// writers under WAL.
/// </summary>
public sealed partial class SqliteCatalog : ICatalog, IIngestLedger
{
    /// <summary>Rows per keyset page when streaming embeddings: short statements let WAL checkpoints progress.</summary>
    internal const int EmbeddingPageSize = 4096;

    private const int BusyTimeoutMs = 10_000;

    private const string ImageColumns =
        "i.id, i.collection_id, i.sha256, i.byte_length, i.format, i.width, i.height, i.source_url, i.page_url, " +
        "i.captured_at, i.fetched_at, i.original_path, i.added_at, i.near_duplicate_of";

    private const string FaceColumns =
        "f.id, f.image_id, f.x1, f.y1, f.x2, f.y2, f.left_eye_x, f.left_eye_y, f.right_eye_x, f.right_eye_y, " +
        "f.nose_x, f.nose_y, f.mouth_left_x, f.mouth_left_y, f.mouth_right_x, f.mouth_right_y, f.detector_score, f.model_id, " +
        "f.quality_score, f.quality_inter_eye, f.quality_sharpness, f.quality_brightness, f.quality_contrast, " +
        "f.quality_yaw, f.quality_pitch, f.quality_roll, f.quality_landmark_fit";

    private readonly string _connectionString;
    private readonly SqliteConnection _writer;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly TimeProvider _clock;
    private readonly StoredEmbeddings _embeddings;
    private int _embeddingDimensions;
    private bool _disposed;

    private SqliteCatalog(string path, string connectionString, SqliteConnection writer, string modelId, long schemaVersion, StoredEmbeddings embeddings, TimeProvider clock)
    {
        Path = path;
        _connectionString = connectionString;
        _writer = writer;
        ModelId = modelId;
        SchemaVersion = schemaVersion;
        _embeddings = embeddings;
        _clock = clock;
    }

    /// <summary>Length every embedding of <see cref="ModelId"/> must have when the catalog does not yet hold any.</summary>
    public const int DefaultEmbeddingDimensions = 512;

    public string ModelId { get; }

    /// <summary>Full path of the database file.</summary>
    public string Path { get; }

    public long SchemaVersion { get; }

    /// <summary>
    /// Opens (creating when missing, with its parent directory) the catalog at <paramref name="path"/> and applies
    /// pending migrations in one transaction. A catalog whose schema is newer than this build is refused.
    /// </summary>
    public static async Task<SqliteCatalog> OpenAsync(string path, string modelId, CancellationToken ct = default)
        => await OpenAsync(path, modelId, TimeProvider.System, ct).ConfigureAwait(false);

    /// <inheritdoc cref="OpenAsync(string, string, CancellationToken)"/>
    public static async Task<SqliteCatalog> OpenAsync(string path, string modelId, TimeProvider clock, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        ArgumentNullException.ThrowIfNull(clock);

        var fullPath = System.IO.Path.GetFullPath(path);
        var directory = System.IO.Path.GetDirectoryName(fullPath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
            DefaultTimeout = BusyTimeoutMs / 1000,
        }.ToString();

        var writer = new SqliteConnection(connectionString);
        try
        {
            await writer.OpenAsync(ct).ConfigureAwait(false);
            RegisterFunctions(writer);

            // WAL is a property of the file (persists); synchronous=FULL makes an acknowledged commit survive
            // power loss, which is the catalog's promise. Both are set before any migration runs.
            await ExecuteAsync(writer, $"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout={BusyTimeoutMs};", ct)
                .ConfigureAwait(false);

            var version = await MigrateAsync(writer, clock, ct).ConfigureAwait(false);
            var embeddings = new StoredEmbeddings(modelId, clock, () => OpenConnection(connectionString));
            embeddings.Reload();
            return new SqliteCatalog(fullPath, connectionString, writer, modelId, version, embeddings, clock)
            {
                _embeddingDimensions = await ReadEmbeddingDimensionsAsync(writer, modelId, embeddings, ct).ConfigureAwait(false),
            };
        }
        catch (SqliteException ex)
        {
            await DisposeWriterAsync(writer).ConfigureAwait(false);
            throw new CatalogException($"Cannot open catalog '{fullPath}': {ex.Message}", ex);
        }
        catch
        {
            await DisposeWriterAsync(writer).ConfigureAwait(false);
            throw;
        }
    }

    public async Task<Collection> EnsureCollectionAsync(string name, string lawfulBasis, string? jurisdiction, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(lawfulBasis);
        jurisdiction = string.IsNullOrWhiteSpace(jurisdiction) ? null : jurisdiction;

        await _writeGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            using var tx = _writer.BeginTransaction();
            var existing = await FindCollectionAsync(_writer, tx, name, ct).ConfigureAwait(false);
            if (existing is not null)
            {
                if (existing.LawfulBasis != lawfulBasis || existing.Jurisdiction != jurisdiction)
                {
                    throw new CatalogException(
                        $"Collection '{name}' already exists with lawful basis '{existing.LawfulBasis}' and jurisdiction " +
                        $"'{existing.Jurisdiction ?? "(none)"}'; it was requested with '{lawfulBasis}' and '{jurisdiction ?? "(none)"}'. " +
                        "A collection's legal basis is fixed once images are filed under it; use another collection name.");
                }

                return existing;
            }

            var createdAt = _clock.GetUtcNow();
            using var insert = _writer.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = """
                INSERT INTO collections(name, lawful_basis, jurisdiction, created_at)
                VALUES ($name, $basis, $jurisdiction, $created) RETURNING id
                """;
            insert.Parameters.AddWithValue("$name", name);
            insert.Parameters.AddWithValue("$basis", lawfulBasis);
            insert.Parameters.AddWithValue("$jurisdiction", (object?)jurisdiction ?? DBNull.Value);
            insert.Parameters.AddWithValue("$created", FormatTime(createdAt));
            var id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            tx.Commit();
            return new Collection(id, name, lawfulBasis, jurisdiction, ParseTime(FormatTime(createdAt)));
        }
        finally
        {
            _writeGate.Release();
        }
    }

    public async Task<Collection?> FindCollectionAsync(string name, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await FindCollectionAsync(connection, null, name, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Collection>> ListCollectionsAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, name, lawful_basis, jurisdiction, created_at FROM collections ORDER BY name";
        var result = new List<Collection>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(ReadCollection(reader));
        }

        return result;
    }

    public async Task<ImageRecord?> FindImageAsync(byte[] sha256, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(sha256);
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {ImageColumns} FROM images i WHERE i.sha256 = $sha";
        command.Parameters.AddWithValue("$sha", sha256);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadImage(reader, 0) : null;
    }

    public async Task<IReadOnlyList<StoredImage>> AddImagesAsync(IReadOnlyList<NewImage> images, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0)
        {
            return [];
        }

        // Validate the whole batch before taking the write lock: a bad item fails fast and costs no transaction.
        var dimensions = ValidateBatch(images);

        return await WriteEmbeddingsAsync(dimensions, () => WriteBatchAsync(images, ct), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs a write that stores embeddings of <paramref name="dimensions"/> (0: none) under the write gate,
    /// refusing a length that differs from the catalog's; the first faces written fix it.
    /// </summary>
    private async Task<T> WriteEmbeddingsAsync<T>(int dimensions, Func<Task<T>> write, CancellationToken ct)
    {
        await _writeGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            if (_embeddingDimensions != 0 && dimensions != 0 && dimensions != _embeddingDimensions)
            {
                throw new CatalogException(
                    $"Embeddings of model '{ModelId}' in this catalog have {_embeddingDimensions} dimensions; the batch has {dimensions}.");
            }

            var result = await write().ConfigureAwait(false);
            if (_embeddingDimensions == 0 && dimensions != 0)
            {
                _embeddingDimensions = dimensions;
            }

            return result;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    public async Task<ImageRecord?> GetImageAsync(long imageId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {ImageColumns} FROM images i WHERE i.id = $id";
        command.Parameters.AddWithValue("$id", imageId);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadImage(reader, 0) : null;
    }

    public async Task<FaceRecord?> GetFaceAsync(long faceId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {FaceColumns} FROM faces f WHERE f.id = $id";
        command.Parameters.AddWithValue("$id", faceId);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadFace(reader, 0) : null;
    }

    public async Task<IReadOnlyList<(FaceRecord Face, ImageRecord Image)>> GetFacesWithImagesAsync(IReadOnlyList<long> faceIds, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(faceIds);
        if (faceIds.Count == 0)
        {
            return [];
        }

        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();

        // One JSON array parameter instead of N placeholders: no SQLITE_MAX_VARIABLE_NUMBER limit, one cached plan.
        command.CommandText = $"""
            SELECT {FaceColumns}, {ImageColumns}
            FROM faces f JOIN images i ON i.id = f.image_id
            WHERE f.id IN (SELECT value FROM json_each($ids))
            """;
        command.Parameters.AddWithValue("$ids", JsonSerializer.Serialize(faceIds));
        var found = new Dictionary<long, (FaceRecord, ImageRecord)>(faceIds.Count);
        using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
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
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {FaceColumns} FROM faces f WHERE f.image_id = $id ORDER BY f.id";
        command.Parameters.AddWithValue("$id", imageId);
        var result = new List<FaceRecord>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(ReadFace(reader, 0));
        }

        return result;
    }

    /// <summary>
    /// Streams the embeddings of faces written with <see cref="ModelId"/> (vectors of other models are not
    /// comparable and never reach the index), in ascending id order, in keyset pages of
    /// <see cref="EmbeddingPageSize"/>. Each page is its own short read, so a long rebuild never pins a snapshot.
    /// </summary>
    public async IAsyncEnumerable<StoredEmbedding> ReadEmbeddingsAsync(long afterFaceId = 0, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var page = new List<StoredEmbedding>(EmbeddingPageSize);
        var after = afterFaceId;
        while (true)
        {
            page.Clear();
            await using (var connection = await OpenReaderAsync(ct).ConfigureAwait(false))
            {
                using var command = connection.CreateCommand();
                command.CommandText = """
                    SELECT id, embedding FROM faces
                    WHERE model_id = $model AND id > $after
                    ORDER BY id LIMIT $limit
                    """;
                command.Parameters.AddWithValue("$model", ModelId);
                command.Parameters.AddWithValue("$after", after);
                command.Parameters.AddWithValue("$limit", EmbeddingPageSize);
                using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var blob = (byte[])reader.GetValue(1);
                    page.Add(new StoredEmbedding(reader.GetInt64(0), _embeddings.Decode(reader.GetInt64(0), blob)));
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
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT (SELECT count(*) FROM collections),
                   (SELECT count(*) FROM images),
                   (SELECT count(*) FROM faces),
                   (SELECT coalesce(max(id), 0) FROM faces),
                   (SELECT coalesce(max(version), 0) FROM schema_version)
            """;
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        return new CatalogStats(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
    }

    public async ValueTask DisposeAsync()
    {
        await _writeGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;

            // Fold the WAL back into the main file so a closed catalog is one self-contained file.
            try
            {
                await ExecuteAsync(_writer, "PRAGMA wal_checkpoint(TRUNCATE);", CancellationToken.None).ConfigureAwait(false);
            }
            catch (SqliteException)
            {
                // Another process may hold a read snapshot; the WAL is then checkpointed by whoever closes last.
            }

            await DisposeWriterAsync(_writer).ConfigureAwait(false);

            // Pooled reader connections keep file handles open; a disposed catalog must release the file.
            using var forPool = new SqliteConnection(_connectionString);
            SqliteConnection.ClearPool(forPool);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private const int FaceColumnCount = 27;

    private static async Task<long> MigrateAsync(SqliteConnection connection, TimeProvider clock, CancellationToken ct)
    {
        using var tx = connection.BeginTransaction();
        using (var create = connection.CreateCommand())
        {
            create.Transaction = tx;
            create.CommandText = """
                CREATE TABLE IF NOT EXISTS schema_version (
                    version     INTEGER PRIMARY KEY,
                    description TEXT NOT NULL,
                    applied_at  TEXT NOT NULL
                )
                """;
            await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        long current;
        using (var read = connection.CreateCommand())
        {
            read.Transaction = tx;
            read.CommandText = "SELECT coalesce(max(version), 0) FROM schema_version";
            current = (long)(await read.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }

        if (current > Migrations.LatestVersion)
        {
            throw new CatalogException(
                $"The catalog has schema version {current}, newer than the {Migrations.LatestVersion} this build of Lineup understands. " +
                "Use a newer Lineup; the catalog was left unchanged.");
        }

        foreach (var migration in Migrations.All)
        {
            if (migration.Version <= current)
            {
                continue;
            }

            using var step = connection.CreateCommand();
            step.Transaction = tx;
            step.CommandText = migration.Sql;
            await step.ExecuteNonQueryAsync(ct).ConfigureAwait(false);

            using var record = connection.CreateCommand();
            record.Transaction = tx;
            record.CommandText = "INSERT INTO schema_version(version, description, applied_at) VALUES ($v, $d, $t)";
            record.Parameters.AddWithValue("$v", migration.Version);
            record.Parameters.AddWithValue("$d", migration.Description);
            record.Parameters.AddWithValue("$t", FormatTime(clock.GetUtcNow()));
            await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            current = migration.Version;
        }

        tx.Commit();
        return current;
    }

    private static async Task<int> ReadEmbeddingDimensionsAsync(SqliteConnection connection, string modelId, StoredEmbeddings embeddings, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT id, embedding FROM faces WHERE model_id = $model ORDER BY id LIMIT {StoredEmbeddings.DimensionRows}";
        command.Parameters.AddWithValue("$model", modelId);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var rows = new List<(long, byte[])>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            rows.Add((reader.GetInt64(0), (byte[])reader.GetValue(1)));
        }

        return embeddings.FirstDimensions(rows);
    }

    /// <summary>A new connection to the catalog, open (for the embedding bases' reads).</summary>
    private static SqliteConnection OpenConnection(string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Checks every item; returns the batch's embedding length (0 when it has no faces).</summary>
    internal static int ValidateBatch(IReadOnlyList<NewImage> images)
    {
        var dimensions = 0;
        for (var i = 0; i < images.Count; i++)
        {
            var image = images[i] ?? throw new CatalogException($"Batch item {i} is null.");
            if (image.Sha256 is not { Length: 32 })
            {
                throw new CatalogException($"Batch item {i}: SHA-256 must be 32 bytes, got {image.Sha256?.Length ?? 0}.");
            }

            if (string.IsNullOrWhiteSpace(image.Format))
            {
                throw new CatalogException($"Batch item {i}: image format is empty.");
            }

            if (image.Width < 0 || image.Height < 0 || image.ByteLength < 0)
            {
                throw new CatalogException($"Batch item {i}: negative size ({image.Width}x{image.Height}, {image.ByteLength} bytes).");
            }

            if (image.Provenance is null || image.Faces is null)
            {
                throw new CatalogException($"Batch item {i}: provenance and faces are required (faces may be empty).");
            }

            if (image.NearDuplicateOf is not null && image.Faces.Count > 0)
            {
                throw new CatalogException($"Batch item {i}: a near-duplicate keeps no faces of its own (they stay with image {image.NearDuplicateOf}).");
            }

            for (var f = 0; f < image.Faces.Count; f++)
            {
                var embedding = image.Faces[f]?.Embedding;
                if (embedding is null || embedding.Length == 0)
                {
                    throw new CatalogException($"Batch item {i}, face {f}: embedding is missing.");
                }

                if (dimensions == 0)
                {
                    dimensions = embedding.Length;
                }
                else if (embedding.Length != dimensions)
                {
                    throw new CatalogException(
                        $"Batch item {i}, face {f}: embedding has {embedding.Length} dimensions, the batch has {dimensions}.");
                }

                if (!float.IsFinite(TensorPrimitives.SumOfSquares(embedding)))
                {
                    // Not one component is infinite or NaN, and their squares do not overflow: the int8 scale is finite.
                    throw new CatalogException($"Batch item {i}, face {f}: embedding has a non-finite value.");
                }
            }
        }

        return dimensions;
    }

    private async Task<IReadOnlyList<StoredImage>> WriteBatchAsync(IReadOnlyList<NewImage> images, CancellationToken ct)
    {
        // Disposing an uncommitted transaction rolls it back: any exception below leaves nothing of the batch.
        var basis = _embeddings.Basis;
        using var tx = _writer.BeginTransaction();
        using var batch = new BatchWriter(_writer, tx, ModelId, basis, FormatTime(_clock.GetUtcNow()));
        await BumpGalleryVersionAsync(tx, ct).ConfigureAwait(false);
        var results = new List<StoredImage>(images.Count);
        for (var i = 0; i < images.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            results.Add(await batch.WriteImageAsync(images[i], null, i, ct).ConfigureAwait(false));
        }

        tx.Commit();
        return results;
    }

    private async Task<SqliteConnection> OpenReaderAsync(CancellationToken ct)
    {
        ThrowIfDisposed();
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<Collection?> FindCollectionAsync(SqliteConnection connection, SqliteTransaction? tx, string name, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "SELECT id, name, lawful_basis, jurisdiction, created_at FROM collections WHERE name = $name";
        command.Parameters.AddWithValue("$name", name);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadCollection(reader) : null;
    }

    private static Collection ReadCollection(SqliteDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), ParseTime(r.GetString(4)));

    private static ImageRecord ReadImage(SqliteDataReader r, int o) =>
        new(
            r.GetInt64(o),
            r.GetInt64(o + 1),
            Convert.ToHexStringLower((byte[])r.GetValue(o + 2)),
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
            ParseTime(r.GetString(o + 12)),
            r.IsDBNull(o + 13) ? null : r.GetInt64(o + 13));

    private static FaceRecord ReadFace(SqliteDataReader r, int o)
    {
        PointF Point(int i) => new(r.GetFloat(o + i), r.GetFloat(o + i + 1));
        var detectorScore = r.GetFloat(o + 16);
        return new FaceRecord(
            r.GetInt64(o),
            r.GetInt64(o + 1),
            new BoxF(r.GetFloat(o + 2), r.GetFloat(o + 3), r.GetFloat(o + 4), r.GetFloat(o + 5)),
            new Landmarks5(Point(6), Point(8), Point(10), Point(12), Point(14)),
            detectorScore,
            r.GetString(o + 17))
        {
            Quality = ReadQuality(r, o + 18, detectorScore),
        };
    }

    /// <summary>
    /// The nine quality columns from <paramref name="o"/>: null when the score is NULL (a face stored before schema 3);
    /// a component that is NULL on its own reads as NaN. The detector score is the face's own column.
    /// </summary>
    private static FaceQuality? ReadQuality(SqliteDataReader r, int o, float detectorScore)
    {
        if (r.IsDBNull(o))
        {
            return null;
        }

        float At(int i) => r.IsDBNull(o + i) ? float.NaN : r.GetFloat(o + i);
        return new FaceQuality(At(0), At(1), At(2), At(3), At(4), At(5), At(6), At(7), detectorScore, At(8));
    }

    private static string? NullableString(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static DateTimeOffset? NullableTime(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : ParseTime(r.GetString(i));

    /// <summary>ISO-8601 UTC with 100 ns precision: sorts as text and round-trips every <see cref="DateTimeOffset"/> instant.</summary>
    internal static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    internal static DateTimeOffset ParseTime(string text) =>
        DateTimeOffset.ParseExact(text, "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task DisposeWriterAsync(SqliteConnection writer)
    {
        await writer.CloseAsync().ConfigureAwait(false);
        await writer.DisposeAsync().ConfigureAwait(false);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
