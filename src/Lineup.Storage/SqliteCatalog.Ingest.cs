using System.Runtime.CompilerServices;
using Lineup.Core.Catalog;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>The ingest-run ledger, sightings and near-duplicate support of the SQLite catalog.</summary>
public sealed partial class SqliteCatalog
{
    private const string RunColumns =
        "id, collection_id, source_kind, source, status, total_items, items_done, last_item_name, resumes, started_at, " +
        "updated_at, finished_at, error";

    public async Task<IngestRun> StartRunAsync(long collectionId, string sourceKind, string source, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceKind);
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        return await WriteAsync(async tx =>
        {
            using var insert = _writer.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = $"""
                INSERT INTO ingest_runs(collection_id, source_kind, source, status, started_at, updated_at)
                VALUES ($collection, $kind, $source, 'running', $now, $now)
                RETURNING {RunColumns}
                """;
            insert.Parameters.AddWithValue("$collection", collectionId);
            insert.Parameters.AddWithValue("$kind", sourceKind);
            insert.Parameters.AddWithValue("$source", source);
            insert.Parameters.AddWithValue("$now", FormatTime(_clock.GetUtcNow()));
            try
            {
                using var reader = await insert.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await reader.ReadAsync(ct).ConfigureAwait(false);
                return ReadRun(reader);
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19)
            {
                throw new CatalogException($"Collection {collectionId} does not exist.", e);
            }
        }, ct).ConfigureAwait(false);
    }

    public async Task<IngestRun?> GetRunAsync(long runId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await GetRunAsync(connection, null, runId, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<IngestRun>> ListRunsAsync(int limit = 100, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {RunColumns} FROM ingest_runs ORDER BY id DESC LIMIT $limit";
        command.Parameters.AddWithValue("$limit", limit);
        var runs = new List<IngestRun>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            runs.Add(ReadRun(reader));
        }

        return runs;
    }

    public async Task<IngestRun?> FindResumableRunAsync(long collectionId, string sourceKind, string source, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {RunColumns} FROM ingest_runs
            WHERE collection_id = $collection AND source_kind = $kind AND source = $source AND status IN ('interrupted', 'failed')
            ORDER BY id DESC LIMIT 1
            """;
        command.Parameters.AddWithValue("$collection", collectionId);
        command.Parameters.AddWithValue("$kind", sourceKind);
        command.Parameters.AddWithValue("$source", source);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadRun(reader) : null;
    }

    public async Task<int> MarkRunningAsInterruptedAsync(CancellationToken ct = default) =>
        await WriteAsync(async tx =>
        {
            using var update = _writer.CreateCommand();
            update.Transaction = tx;
            update.CommandText = "UPDATE ingest_runs SET status = 'interrupted', updated_at = $now WHERE status = 'running'";
            update.Parameters.AddWithValue("$now", FormatTime(_clock.GetUtcNow()));
            return await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);

    public async Task<IngestRun> ResumeRunAsync(long runId, CancellationToken ct = default) =>
        await WriteAsync(async tx =>
        {
            var run = await GetRunAsync(_writer, tx, runId, ct).ConfigureAwait(false)
                ?? throw new CatalogException($"Ingest run {runId} does not exist.");
            if (run.Status is IngestRunStatus.Running or IngestRunStatus.Completed)
            {
                throw new CatalogException($"Ingest run {runId} is {Status(run.Status)}; only an interrupted or failed run can be resumed.");
            }

            using var update = _writer.CreateCommand();
            update.Transaction = tx;
            update.CommandText = $"""
                UPDATE ingest_runs SET status = 'running', resumes = resumes + 1, updated_at = $now, finished_at = NULL, error = NULL
                WHERE id = $id RETURNING {RunColumns}
                """;
            update.Parameters.AddWithValue("$id", runId);
            update.Parameters.AddWithValue("$now", FormatTime(_clock.GetUtcNow()));
            using var reader = await update.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            return ReadRun(reader);
        }, ct).ConfigureAwait(false);

    public async Task SetRunTotalAsync(long runId, long? totalItems, CancellationToken ct = default) =>
        await WriteAsync(async tx =>
        {
            using var update = _writer.CreateCommand();
            update.Transaction = tx;
            update.CommandText = "UPDATE ingest_runs SET total_items = $total WHERE id = $id";
            update.Parameters.AddWithValue("$id", runId);
            update.Parameters.AddWithValue("$total", (object?)totalItems ?? DBNull.Value);
            return await RequireRowAsync(update, runId, ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);

    public async Task FinishRunAsync(long runId, IngestRunStatus status, string? error, CancellationToken ct = default)
    {
        if (status == IngestRunStatus.Running)
        {
            throw new ArgumentException("A run finishes as completed, interrupted or failed.", nameof(status));
        }

        await WriteAsync(async tx =>
        {
            using var update = _writer.CreateCommand();
            update.Transaction = tx;
            update.CommandText = """
                UPDATE ingest_runs SET status = $status, error = $error, updated_at = $now,
                       finished_at = CASE WHEN $status = 'completed' THEN $now ELSE NULL END
                WHERE id = $id
                """;
            update.Parameters.AddWithValue("$id", runId);
            update.Parameters.AddWithValue("$status", Status(status));
            update.Parameters.AddWithValue("$error", (object?)error ?? DBNull.Value);
            update.Parameters.AddWithValue("$now", FormatTime(_clock.GetUtcNow()));
            return await RequireRowAsync(update, runId, ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<IngestEntryResult>> CommitAsync(long runId, IReadOnlyList<IngestEntry> entries, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return [];
        }

        var images = entries.Where(e => e.Image is not null).Select(e => e.Image!).ToList();
        var dimensions = ValidateBatch(images);
        return await WriteEmbeddingsAsync(dimensions, () => CommitEntriesAsync(runId, entries, ct), ct).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<IngestEntryResult>> CommitEntriesAsync(long runId, IReadOnlyList<IngestEntry> entries, CancellationToken ct)
    {
        var basis = _embeddings.Basis;
        using var tx = _writer.BeginTransaction();
        var run = await GetRunAsync(_writer, tx, runId, ct).ConfigureAwait(false)
            ?? throw new CatalogException($"Ingest run {runId} does not exist.");
        if (run.Status != IngestRunStatus.Running)
        {
            throw new CatalogException($"Ingest run {runId} is {Status(run.Status)}, not running.");
        }

        // The recorded items stay a prefix of the source: that is what makes a resume exact.
        for (var i = 0; i < entries.Count; i++)
        {
            if (entries[i].Sequence != run.ItemsDone + i)
            {
                throw new CatalogException(
                    $"Ingest run {runId}: item '{entries[i].Name}' has sequence {entries[i].Sequence}, expected {run.ItemsDone + i}.");
            }
        }

        var now = FormatTime(_clock.GetUtcNow());
        using var batch = new BatchWriter(_writer, tx, ModelId, basis, now);
        await BumpGalleryVersionAsync(tx, ct).ConfigureAwait(false);
        using var record = _writer.CreateCommand();
        record.Transaction = tx;
        record.CommandText = """
            INSERT INTO ingest_items(run_id, seq, name, status, faces, image_id, reason, recorded_at)
            VALUES ($run, $seq, $name, $status, $faces, $image, $reason, $now)
            """;
        var results = new List<IngestEntryResult>(entries.Count);
        var faces = 0L;
        for (var i = 0; i < entries.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var entry = entries[i];
            IngestEntryResult result;
            if (entry.Image is { } image)
            {
                var stored = await batch.WriteImageAsync(image, runId, i, ct).ConfigureAwait(false);
                result = stored.AlreadyPresent
                    ? new IngestEntryResult(IngestStatus.Duplicate, stored.ImageId, [], $"same bytes as image {stored.ImageId}")
                    : image.NearDuplicateOf is { } original
                        ? new IngestEntryResult(IngestStatus.NearDuplicate, stored.ImageId, [], entry.Reason ?? $"near-duplicate of image {original}")
                        : new IngestEntryResult(stored.FaceIds.Count > 0 ? IngestStatus.Ingested : IngestStatus.NoFace, stored.ImageId, stored.FaceIds, null);
            }
            else if (entry.SeenAgain is { } seen)
            {
                await batch.EnsureCollectionAsync(seen.CollectionId, i, ct).ConfigureAwait(false);
                await batch.AddSightingsAsync(seen.ImageId, seen.CollectionId, runId, seen.Provenance, ct).ConfigureAwait(false);
                result = new IngestEntryResult(IngestStatus.Duplicate, seen.ImageId, [], entry.Reason ?? $"same bytes as image {seen.ImageId}");
            }
            else if (entry.Status is IngestStatus.Refused or IngestStatus.Failed)
            {
                result = new IngestEntryResult(entry.Status, null, [], entry.Reason);
            }
            else
            {
                throw new CatalogException($"Item '{entry.Name}': status {entry.Status} needs an image or a sighting.");
            }

            faces += result.FaceIds.Count;
            record.Parameters.Clear();
            record.Parameters.AddWithValue("$run", runId);
            record.Parameters.AddWithValue("$seq", entry.Sequence);
            record.Parameters.AddWithValue("$name", entry.Name);
            record.Parameters.AddWithValue("$status", Status(result.Status));
            record.Parameters.AddWithValue("$faces", result.FaceIds.Count);
            record.Parameters.AddWithValue("$image", (object?)result.ImageId ?? DBNull.Value);
            record.Parameters.AddWithValue("$reason", (object?)result.Reason ?? DBNull.Value);
            record.Parameters.AddWithValue("$now", now);
            await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            results.Add(result);
        }

        using var advance = _writer.CreateCommand();
        advance.Transaction = tx;
        advance.CommandText = "UPDATE ingest_runs SET items_done = $done, last_item_name = $last, updated_at = $now WHERE id = $id";
        advance.Parameters.AddWithValue("$id", runId);
        advance.Parameters.AddWithValue("$done", run.ItemsDone + entries.Count);
        advance.Parameters.AddWithValue("$last", entries[^1].Name);
        advance.Parameters.AddWithValue("$now", now);
        await advance.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        tx.Commit();
        return results;
    }

    public async Task<IngestRunCounts> GetRunCountsAsync(long runId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT status, count(*), sum(faces) FROM ingest_items WHERE run_id = $run GROUP BY status";
        command.Parameters.AddWithValue("$run", runId);
        var counts = new Dictionary<IngestStatus, long>();
        long items = 0, faces = 0;
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var n = reader.GetInt64(1);
            counts[ParseStatus(reader.GetString(0))] = n;
            items += n;
            faces += reader.IsDBNull(2) ? 0 : reader.GetInt64(2);
        }

        long Count(IngestStatus s) => counts.GetValueOrDefault(s);
        return new IngestRunCounts(items, Count(IngestStatus.Ingested), Count(IngestStatus.NoFace), Count(IngestStatus.Duplicate),
            Count(IngestStatus.NearDuplicate), Count(IngestStatus.Refused), Count(IngestStatus.Failed), faces);
    }

    public async Task<IReadOnlyList<IngestItemRecord>> GetRunItemsAsync(
        long runId, IReadOnlyCollection<IngestStatus>? statuses = null, int limit = int.MaxValue, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT seq, name, status, faces, image_id, reason, recorded_at FROM ingest_items
            WHERE run_id = $run AND ($all OR status IN (SELECT value FROM json_each($statuses)))
            ORDER BY seq LIMIT $limit
            """;
        command.Parameters.AddWithValue("$run", runId);
        command.Parameters.AddWithValue("$all", statuses is null);
        command.Parameters.AddWithValue("$statuses", System.Text.Json.JsonSerializer.Serialize((statuses ?? []).Select(Status)));
        command.Parameters.AddWithValue("$limit", limit);
        var items = new List<IngestItemRecord>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            items.Add(new IngestItemRecord(
                reader.GetInt64(0),
                reader.GetString(1),
                ParseStatus(reader.GetString(2)),
                reader.GetInt32(3),
                reader.IsDBNull(4) ? null : reader.GetInt64(4),
                NullableString(reader, 5),
                ParseTime(reader.GetString(6))));
        }

        return items;
    }

    public async Task<IReadOnlyList<Sighting>> GetSightingsAsync(long imageId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT s.id, s.image_id, s.collection_id, s.run_id, s.source_url, s.page_url, s.captured_at, s.fetched_at,
                   s.original_path, s.record_id, s.licence, s.seen_at
            FROM sightings s
            WHERE s.image_id = $id OR s.image_id IN (SELECT id FROM images WHERE near_duplicate_of = $id)
            ORDER BY s.id
            """;
        command.Parameters.AddWithValue("$id", imageId);
        var sightings = new List<Sighting>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
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
                ParseTime(reader.GetString(11))));
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
            await using (var connection = await OpenReaderAsync(ct).ConfigureAwait(false))
            {
                using var command = connection.CreateCommand();
                command.CommandText = """
                    SELECT id, phash, width, height FROM images
                    WHERE id > $after AND phash IS NOT NULL AND near_duplicate_of IS NULL
                    ORDER BY id LIMIT $limit
                    """;
                command.Parameters.AddWithValue("$after", after);
                command.Parameters.AddWithValue("$limit", EmbeddingPageSize);
                using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
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

        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, embedding FROM faces WHERE id IN (SELECT value FROM json_each($ids)) AND model_id = $model";
        command.Parameters.AddWithValue("$ids", System.Text.Json.JsonSerializer.Serialize(faceIds));
        command.Parameters.AddWithValue("$model", ModelId);
        var found = new Dictionary<long, float[]>(faceIds.Count);
        using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                found[reader.GetInt64(0)] = _embeddings.Decode(reader.GetInt64(0), (byte[])reader.GetValue(1));
            }
        }

        return InOrder(faceIds, found);
    }

    /// <summary>The found embeddings in the order of <paramref name="faceIds"/> (each id once).</summary>
    internal static List<StoredEmbedding> InOrder(IReadOnlyList<long> faceIds, Dictionary<long, float[]> found)
    {
        var result = new List<StoredEmbedding>(found.Count);
        foreach (var id in faceIds)
        {
            if (found.Remove(id, out var vector))
            {
                result.Add(new StoredEmbedding(id, vector));
            }
        }

        return result;
    }

    public async Task<IReadOnlyList<StoredEmbedding>> GetEmbeddingsOfImageAsync(long imageId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, embedding FROM faces WHERE image_id = $id AND model_id = $model ORDER BY id";
        command.Parameters.AddWithValue("$id", imageId);
        command.Parameters.AddWithValue("$model", ModelId);
        var result = new List<StoredEmbedding>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(new StoredEmbedding(reader.GetInt64(0), _embeddings.Decode(reader.GetInt64(0), (byte[])reader.GetValue(1))));
        }

        return result;
    }

    /// <summary>Runs <paramref name="work"/> in one write transaction under the write gate.</summary>
    private async Task<T> WriteAsync<T>(Func<SqliteTransaction, Task<T>> work, CancellationToken ct)
    {
        await _writeGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            using var tx = _writer.BeginTransaction();
            var result = await work(tx).ConfigureAwait(false);
            tx.Commit();
            return result;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private static async Task<int> RequireRowAsync(SqliteCommand command, long runId, CancellationToken ct)
    {
        var rows = await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return rows == 0 ? throw new CatalogException($"Ingest run {runId} does not exist.") : rows;
    }

    private static async Task<IngestRun?> GetRunAsync(SqliteConnection connection, SqliteTransaction? tx, long runId, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = $"SELECT {RunColumns} FROM ingest_runs WHERE id = $id";
        command.Parameters.AddWithValue("$id", runId);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadRun(reader) : null;
    }

    private static IngestRun ReadRun(SqliteDataReader r) =>
        new(
            r.GetInt64(0),
            r.GetInt64(1),
            r.GetString(2),
            r.GetString(3),
            Enum.Parse<IngestRunStatus>(r.GetString(4), ignoreCase: true),
            r.IsDBNull(5) ? null : r.GetInt64(5),
            r.GetInt64(6),
            NullableString(r, 7),
            r.GetInt32(8),
            ParseTime(r.GetString(9)),
            ParseTime(r.GetString(10)),
            NullableTime(r, 11),
            NullableString(r, 12));

    internal static string Status(IngestRunStatus status) => status.ToString().ToLowerInvariant();

    /// <summary>Statuses are stored in snake case (<c>no_face</c>, <c>near_duplicate</c>).</summary>
    internal static string Status(IngestStatus status) => status switch
    {
        IngestStatus.Ingested => "ingested",
        IngestStatus.NoFace => "no_face",
        IngestStatus.Duplicate => "duplicate",
        IngestStatus.NearDuplicate => "near_duplicate",
        IngestStatus.Refused => "refused",
        IngestStatus.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    internal static IngestStatus ParseStatus(string text) => text switch
    {
        "ingested" => IngestStatus.Ingested,
        "no_face" => IngestStatus.NoFace,
        "duplicate" => IngestStatus.Duplicate,
        "near_duplicate" => IngestStatus.NearDuplicate,
        "refused" => IngestStatus.Refused,
        "failed" => IngestStatus.Failed,
        _ => throw new CatalogException($"Unknown ingest item status '{text}' in the catalog."),
    };
}
