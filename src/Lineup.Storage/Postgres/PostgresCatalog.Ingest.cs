using Lineup.Core.Catalog;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The ingest-run ledger (<see cref="IIngestLedger"/>) of the PostgreSQL catalog. SQLite's single writer made "items
/// continue the run's sequence" a plain read; here two processes may commit to one run at once, so a commit locks the
/// run row (<c>FOR UPDATE</c>) before it reads how far the run got, and the second commit reads the first's result.
/// </summary>
public sealed partial class PostgresCatalog : IIngestLedger
{
    private const string RunColumns =
        "id, collection_id, source_kind, source, status, total_items, items_done, last_item_name, resumes, started_at, " +
        "updated_at, finished_at, error";

    public async Task<IngestRun> StartRunAsync(long collectionId, string sourceKind, string source, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceKind);
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        return await WriteAsync(async (connection, tx) =>
        {
            await using var insert = new NpgsqlCommand($"""
                INSERT INTO ingest_runs(collection_id, source_kind, source, status, started_at, updated_at)
                VALUES (@collection, @kind, @source, 'running', @now, @now)
                RETURNING {RunColumns}
                """, connection, tx);
            insert.Parameters.AddWithValue("collection", collectionId);
            insert.Parameters.AddWithValue("kind", sourceKind);
            insert.Parameters.AddWithValue("source", source);
            insert.Parameters.AddWithValue("now", SqliteCatalog.FormatTime(_clock.GetUtcNow()));
            try
            {
                await using var reader = await insert.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await reader.ReadAsync(ct).ConfigureAwait(false);
                return ReadRun(reader);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation)
            {
                throw new CatalogException($"Collection {collectionId} does not exist.", e);
            }
        }, ct).ConfigureAwait(false);
    }

    public async Task<IngestRun?> GetRunAsync(long runId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await GetRunAsync(connection, null, runId, forUpdate: false, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<IngestRun>> ListRunsAsync(int limit = 100, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT {RunColumns} FROM ingest_runs ORDER BY id DESC LIMIT @limit", connection);
        command.Parameters.AddWithValue("limit", limit);
        var runs = new List<IngestRun>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            runs.Add(ReadRun(reader));
        }

        return runs;
    }

    public async Task<IngestRun?> FindResumableRunAsync(long collectionId, string sourceKind, string source, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"""
            SELECT {RunColumns} FROM ingest_runs
            WHERE collection_id = @collection AND source_kind = @kind AND source = @source AND status IN ('interrupted', 'failed')
            ORDER BY id DESC LIMIT 1
            """, connection);
        command.Parameters.AddWithValue("collection", collectionId);
        command.Parameters.AddWithValue("kind", sourceKind);
        command.Parameters.AddWithValue("source", source);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadRun(reader) : null;
    }

    public async Task<int> MarkRunningAsInterruptedAsync(CancellationToken ct = default) =>
        await WriteAsync(async (connection, tx) =>
        {
            await using var update = new NpgsqlCommand(
                "UPDATE ingest_runs SET status = 'interrupted', updated_at = @now WHERE status = 'running'", connection, tx);
            update.Parameters.AddWithValue("now", SqliteCatalog.FormatTime(_clock.GetUtcNow()));
            return await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);

    public async Task<IngestRun> ResumeRunAsync(long runId, CancellationToken ct = default) =>
        await WriteAsync(async (connection, tx) =>
        {
            // Locked: two processes resuming the same run cannot both see it interrupted.
            var run = await GetRunAsync(connection, tx, runId, forUpdate: true, ct).ConfigureAwait(false)
                ?? throw new CatalogException($"Ingest run {runId} does not exist.");
            if (run.Status is IngestRunStatus.Running or IngestRunStatus.Completed)
            {
                throw new CatalogException(
                    $"Ingest run {runId} is {SqliteCatalog.Status(run.Status)}; only an interrupted or failed run can be resumed.");
            }

            await using var update = new NpgsqlCommand($"""
                UPDATE ingest_runs SET status = 'running', resumes = resumes + 1, updated_at = @now, finished_at = NULL, error = NULL
                WHERE id = @id RETURNING {RunColumns}
                """, connection, tx);
            update.Parameters.AddWithValue("id", runId);
            update.Parameters.AddWithValue("now", SqliteCatalog.FormatTime(_clock.GetUtcNow()));
            await using var reader = await update.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            return ReadRun(reader);
        }, ct).ConfigureAwait(false);

    public async Task SetRunTotalAsync(long runId, long? totalItems, CancellationToken ct = default) =>
        await WriteAsync(async (connection, tx) =>
        {
            await using var update = new NpgsqlCommand("UPDATE ingest_runs SET total_items = @total WHERE id = @id", connection, tx);
            update.Parameters.AddWithValue("id", runId);
            update.Parameters.Add(new NpgsqlParameter("total", NpgsqlDbType.Bigint) { Value = (object?)totalItems ?? DBNull.Value });
            return await RequireRowAsync(update, runId, ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);

    public async Task FinishRunAsync(long runId, IngestRunStatus status, string? error, CancellationToken ct = default)
    {
        if (status == IngestRunStatus.Running)
        {
            throw new ArgumentException("A run finishes as completed, interrupted or failed.", nameof(status));
        }

        await WriteAsync(async (connection, tx) =>
        {
            await using var update = new NpgsqlCommand("""
                UPDATE ingest_runs SET status = @status, error = @error, updated_at = @now,
                       finished_at = CASE WHEN @status = 'completed' THEN @now ELSE NULL END
                WHERE id = @id
                """, connection, tx);
            update.Parameters.AddWithValue("id", runId);
            update.Parameters.AddWithValue("status", SqliteCatalog.Status(status));
            update.Parameters.Add(new NpgsqlParameter("error", NpgsqlDbType.Text) { Value = (object?)error ?? DBNull.Value });
            update.Parameters.AddWithValue("now", SqliteCatalog.FormatTime(_clock.GetUtcNow()));
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
        var dimensions = SqliteCatalog.ValidateBatch(images);
        var results = await WriteAsync((connection, tx) => CommitEntriesAsync(connection, tx, runId, entries, dimensions, ct), ct)
            .ConfigureAwait(false);
        ConfirmEmbeddingDimensions(dimensions);
        return results;
    }

    /// <param name="worker">
    /// Null for an ordered commit (<see cref="CommitAsync"/>): the entries must continue the run's prefix. A worker's
    /// name for a claimed commit (<see cref="CommitClaimedAsync"/>): the caller has locked the entries' queue rows, which
    /// this marks done, and the run completes when none is left.
    /// </param>
    private async Task<IReadOnlyList<IngestEntryResult>> CommitEntriesAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, long runId, IReadOnlyList<IngestEntry> entries, int dimensions, CancellationToken ct,
        string? worker = null)
    {
        // Ordered: the run row stays locked until this commit ends, so a concurrent commit to the same run waits, then
        // reads the sequence this one leaves, and the recorded items stay a prefix of the source. Claimed: the queue rows
        // are the locks; the run row is only updated at the end.
        var run = await GetRunAsync(connection, tx, runId, forUpdate: worker is null, ct).ConfigureAwait(false)
            ?? throw new CatalogException($"Ingest run {runId} does not exist.");
        if (run.Status != IngestRunStatus.Running)
        {
            throw new CatalogException($"Ingest run {runId} is {SqliteCatalog.Status(run.Status)}, not running.");
        }

        for (var i = 0; worker is null && i < entries.Count; i++)
        {
            if (entries[i].Sequence != run.ItemsDone + i)
            {
                throw new CatalogException(
                    $"Ingest run {runId}: item '{entries[i].Name}' has sequence {entries[i].Sequence}, expected {run.ItemsDone + i}.");
            }
        }

        var items = new BatchItem[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i];
            if (entry.Image is null && entry.SeenAgain is null && entry.Status is not (IngestStatus.Refused or IngestStatus.Failed))
            {
                throw new CatalogException($"Item '{entry.Name}': status {entry.Status} needs an image or a sighting.");
            }

            items[i] = new BatchItem(entry.Image, entry.Image is null ? entry.SeenAgain : null);
        }

        var now = SqliteCatalog.FormatTime(_clock.GetUtcNow());
        var writer = new BatchWriter(this, connection, tx, now, runId);
        var stored = await writer.PrepareAsync(items, dimensions, ct).ConfigureAwait(false);

        var results = new IngestEntryResult[entries.Count];
        var sequences = new long[entries.Count];
        var names = new string[entries.Count];
        var statuses = new string[entries.Count];
        var faces = new int[entries.Count];
        var imageIds = new long?[entries.Count];
        var reasons = new string?[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i];
            IngestEntryResult result;
            if (entry.Image is { } image)
            {
                var s = stored[i]!;
                result = s.AlreadyPresent
                    ? new IngestEntryResult(IngestStatus.Duplicate, s.ImageId, [], $"same bytes as image {s.ImageId}")
                    : image.NearDuplicateOf is { } original
                        ? new IngestEntryResult(IngestStatus.NearDuplicate, s.ImageId, [], entry.Reason ?? $"near-duplicate of image {original}")
                        : new IngestEntryResult(s.FaceIds.Count > 0 ? IngestStatus.Ingested : IngestStatus.NoFace, s.ImageId, s.FaceIds, null);
            }
            else if (entry.SeenAgain is { } seen)
            {
                result = new IngestEntryResult(IngestStatus.Duplicate, seen.ImageId, [], entry.Reason ?? $"same bytes as image {seen.ImageId}");
            }
            else
            {
                result = new IngestEntryResult(entry.Status, null, [], entry.Reason);
            }

            results[i] = result;
            sequences[i] = entry.Sequence;
            names[i] = entry.Name;
            statuses[i] = SqliteCatalog.Status(result.Status);
            faces[i] = result.FaceIds.Count;
            imageIds[i] = result.ImageId;
            reasons[i] = result.Reason;
        }

        var record = new NpgsqlBatchCommand("""
            INSERT INTO ingest_items(run_id, seq, name, status, faces, image_id, reason, recorded_at)
            SELECT @run, u.seq, u.name, u.status, u.faces, u.image_id, u.reason, @now
            FROM unnest(@seqs, @names, @statuses, @faces, @images, @reasons) AS u(seq, name, status, faces, image_id, reason)
            """);
        record.Parameters.AddWithValue("run", runId);
        record.Parameters.AddWithValue("now", now);
        record.Parameters.AddWithValue("seqs", sequences);
        record.Parameters.AddWithValue("names", names);
        record.Parameters.AddWithValue("statuses", statuses);
        record.Parameters.AddWithValue("faces", faces);
        record.Parameters.AddWithValue("images", imageIds);
        record.Parameters.AddWithValue("reasons", reasons);
        writer.Tail.Add(record);

        if (worker is null)
        {
            var advance = new NpgsqlBatchCommand("UPDATE ingest_runs SET items_done = @done, last_item_name = @last, updated_at = @now WHERE id = @id");
            advance.Parameters.AddWithValue("id", runId);
            advance.Parameters.AddWithValue("done", run.ItemsDone + entries.Count);
            advance.Parameters.AddWithValue("last", entries[^1].Name);
            advance.Parameters.AddWithValue("now", now);
            writer.Tail.Add(advance);
        }
        else
        {
            AddClaimedTail(writer.Tail, runId, worker, sequences, [.. sequences.Where((_, i) => faces[i] > 0)], entries[^1].Name, now);
        }

        await writer.FlushAsync(ct).ConfigureAwait(false);
        return results;
    }

    public async Task<IngestRunCounts> GetRunCountsAsync(long runId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            "SELECT status, count(*), sum(faces) FROM ingest_items WHERE run_id = @run GROUP BY status", connection);
        command.Parameters.AddWithValue("run", runId);
        var counts = new Dictionary<IngestStatus, long>();
        long items = 0, faces = 0;
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var n = reader.GetInt64(1);
            counts[SqliteCatalog.ParseStatus(reader.GetString(0))] = n;
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
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("""
            SELECT seq, name, status, faces, image_id, reason, recorded_at FROM ingest_items
            WHERE run_id = @run AND (@all OR status = ANY(@statuses))
            ORDER BY seq LIMIT @limit
            """, connection);
        command.Parameters.AddWithValue("run", runId);
        command.Parameters.AddWithValue("all", statuses is null);
        command.Parameters.AddWithValue("statuses", (statuses ?? []).Select(SqliteCatalog.Status).ToArray());
        command.Parameters.AddWithValue("limit", limit);
        var items = new List<IngestItemRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            items.Add(new IngestItemRecord(
                reader.GetInt64(0),
                reader.GetString(1),
                SqliteCatalog.ParseStatus(reader.GetString(2)),
                reader.GetInt32(3),
                reader.IsDBNull(4) ? null : reader.GetInt64(4),
                NullableString(reader, 5),
                SqliteCatalog.ParseTime(reader.GetString(6))));
        }

        return items;
    }

    private static async Task<int> RequireRowAsync(NpgsqlCommand command, long runId, CancellationToken ct)
    {
        var rows = await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return rows == 0 ? throw new CatalogException($"Ingest run {runId} does not exist.") : rows;
    }

    private static async Task<IngestRun?> GetRunAsync(
        NpgsqlConnection connection, NpgsqlTransaction? tx, long runId, bool forUpdate, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT {RunColumns} FROM ingest_runs WHERE id = @id" + (forUpdate ? " FOR UPDATE" : ""), connection, tx);
        command.Parameters.AddWithValue("id", runId);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadRun(reader) : null;
    }

    private static IngestRun ReadRun(NpgsqlDataReader r) =>
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
            SqliteCatalog.ParseTime(r.GetString(9)),
            SqliteCatalog.ParseTime(r.GetString(10)),
            NullableTime(r, 11),
            NullableString(r, 12));
}
