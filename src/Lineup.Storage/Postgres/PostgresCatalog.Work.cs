using Lineup.Core.Catalog;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The ingest work queue (<see cref="IIngestWorkQueue"/>) in <c>ingest_work</c> and <c>workers</c>. Lease times are
/// the database server's clock (<c>now()</c>), so workers on machines whose clocks disagree still agree on who holds what.
/// </summary>
public sealed partial class PostgresCatalog : IIngestWorkQueue
{
    /// <summary>Rows per COPY when queueing: bounded memory whatever the run's size.</summary>
    private const int EnqueueChunk = 10_000;

    public async Task EnqueueAsync(long runId, IReadOnlyList<(long Sequence, string Name)> items, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return;
        }

        await WriteAsync(async (connection, tx) =>
        {
            await using (var check = new NpgsqlCommand("SELECT status FROM ingest_runs WHERE id = @id FOR UPDATE", connection, tx))
            {
                check.Parameters.AddWithValue("id", runId);
                var status = await check.ExecuteScalarAsync(ct).ConfigureAwait(false) as string
                    ?? throw new CatalogException($"Ingest run {runId} does not exist.");
                if (status != "running")
                {
                    throw new CatalogException($"Ingest run {runId} is {status}; only a running run takes queued items.");
                }
            }

            // COPY into a temporary table, then insert what is not queued yet: re-queueing after a crash of the
            // coordinator is harmless.
            await using (var temp = new NpgsqlCommand(
                "CREATE TEMP TABLE incoming_work (seq bigint NOT NULL, name text NOT NULL) ON COMMIT DROP", connection, tx))
            {
                await temp.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            for (var start = 0; start < items.Count; start += EnqueueChunk)
            {
                await using var copy = await connection.BeginBinaryImportAsync("COPY incoming_work (seq, name) FROM STDIN (FORMAT BINARY)", ct)
                    .ConfigureAwait(false);
                for (var i = start; i < Math.Min(items.Count, start + EnqueueChunk); i++)
                {
                    ArgumentOutOfRangeException.ThrowIfNegative(items[i].Sequence);
                    await copy.StartRowAsync(ct).ConfigureAwait(false);
                    await copy.WriteAsync(items[i].Sequence, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                    await copy.WriteAsync(items[i].Name, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                }

                await copy.CompleteAsync(ct).ConfigureAwait(false);
            }

            await using var insert = new NpgsqlCommand(
                """
                INSERT INTO ingest_work (run_id, seq, name)
                SELECT @run, seq, name FROM incoming_work
                ON CONFLICT (run_id, seq) DO NOTHING
                """, connection, tx);
            insert.Parameters.AddWithValue("run", runId);
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);
    }

    public async Task<int> HeartbeatAsync(string worker, string host, TimeSpan lease, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        CheckLease(lease);
        return await WriteAsync(async (connection, tx) =>
        {
            await using (var upsert = new NpgsqlCommand(
                """
                INSERT INTO workers (name, host, started_at, heartbeat_at) VALUES (@worker, @host, now(), now())
                ON CONFLICT (name) DO UPDATE SET host = excluded.host, heartbeat_at = now()
                """, connection, tx))
            {
                upsert.Parameters.AddWithValue("worker", worker);
                upsert.Parameters.AddWithValue("host", host);
                await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await using var renew = new NpgsqlCommand(
                """
                UPDATE ingest_work w SET lease_until = now() + @lease
                FROM (SELECT run_id, seq FROM ingest_work
                      WHERE worker = @worker AND state IN ('claimed', 'indexing')
                      ORDER BY run_id, seq
                      FOR UPDATE SKIP LOCKED) held
                WHERE w.run_id = held.run_id AND w.seq = held.seq
                """, connection, tx);
            renew.Parameters.AddWithValue("worker", worker);
            renew.Parameters.AddWithValue("lease", lease);
            return await renew.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<WorkClaim>> ClaimAsync(string worker, int max, TimeSpan lease, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        CheckLease(lease);
        return await WriteAsync(async (connection, tx) =>
        {
            // SKIP LOCKED: concurrent claimers each take different rows instead of queueing behind one another. An item
            // whose worker died between its catalog commit and its index add stays 'indexing': only its faces are due.
            await using var claim = new NpgsqlCommand(
                """
                WITH picked AS (
                    SELECT w.run_id, w.seq FROM ingest_work w
                    JOIN ingest_runs r ON r.id = w.run_id AND r.status = 'running'
                    WHERE w.state = 'pending' OR (w.state IN ('claimed', 'indexing') AND w.lease_until < now())
                    ORDER BY w.run_id, w.seq
                    LIMIT @max
                    FOR UPDATE OF w SKIP LOCKED)
                UPDATE ingest_work w
                SET state = CASE WHEN w.state = 'indexing' THEN 'indexing' ELSE 'claimed' END,
                    worker = @worker, lease_until = now() + @lease, attempts = w.attempts + 1
                FROM picked LEFT JOIN ingest_items i ON i.run_id = picked.run_id AND i.seq = picked.seq
                WHERE w.run_id = picked.run_id AND w.seq = picked.seq
                RETURNING w.run_id, w.seq, w.name, w.attempts, w.lease_until, w.state = 'indexing', i.image_id
                """, connection, tx);
            claim.Parameters.AddWithValue("worker", worker);
            claim.Parameters.AddWithValue("max", max);
            claim.Parameters.AddWithValue("lease", lease);
            var claims = new List<WorkClaim>();
            await using var reader = await claim.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                claims.Add(new WorkClaim(reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetInt32(3),
                    reader.GetFieldValue<DateTimeOffset>(4))
                {
                    Committed = reader.GetBoolean(5),
                    ImageId = reader.IsDBNull(6) ? null : reader.GetInt64(6),
                });
            }

            claims.Sort((a, b) => a.RunId != b.RunId ? a.RunId.CompareTo(b.RunId) : a.Sequence.CompareTo(b.Sequence));
            return (IReadOnlyList<WorkClaim>)claims;
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<IngestEntryResult?>> CommitClaimedAsync(
        string worker, long runId, IReadOnlyList<IngestEntry> entries, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return [];
        }

        var images = entries.Where(e => e.Image is not null).Select(e => e.Image!).ToList();
        var dimensions = SqliteCatalog.ValidateBatch(images);
        var results = await WriteAsync(async (connection, tx) =>
        {
            // Lock the entries' queue rows that this worker still holds. A claimer skips locked rows, so an item whose
            // lease passes while this commit runs cannot be taken over until the commit ends, and then it is done.
            var held = new HashSet<long>();
            await using (var hold = new NpgsqlCommand(
                """
                SELECT seq FROM ingest_work
                WHERE run_id = @run AND seq = ANY(@seqs) AND state = 'claimed' AND worker = @worker
                ORDER BY seq
                FOR UPDATE
                """, connection, tx))
            {
                hold.Parameters.AddWithValue("run", runId);
                hold.Parameters.AddWithValue("seqs", entries.Select(e => e.Sequence).ToArray());
                hold.Parameters.AddWithValue("worker", worker);
                await using var reader = await hold.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    held.Add(reader.GetInt64(0));
                }
            }

            var mine = entries.Where(e => held.Contains(e.Sequence)).ToList();
            var written = mine.Count == 0
                ? []
                : await CommitEntriesAsync(connection, tx, runId, mine, dimensions, ct, worker).ConfigureAwait(false);
            var bySequence = new Dictionary<long, IngestEntryResult>();
            for (var i = 0; i < mine.Count; i++)
            {
                bySequence[mine[i].Sequence] = written[i];
            }

            return (IReadOnlyList<IngestEntryResult?>)entries.Select(e => bySequence.GetValueOrDefault(e.Sequence)).ToArray();
        }, ct).ConfigureAwait(false);
        ConfirmEmbeddingDimensions(dimensions);
        return results;
    }

    /// <summary>
    /// The end of a claimed commit: the items are done (those that stored faces wait, still leased, for
    /// <see cref="MarkIndexedAsync"/>), the run and the worker count them, and the run completes when none of its items
    /// is left. The run-row update waits for any other commit to the run to end, so the check that follows it (a new
    /// statement, a new snapshot) sees that commit's items done too: the last two commits cannot both miss the completion.
    /// </summary>
    private static void AddClaimedTail(
        List<NpgsqlBatchCommand> tail, long runId, string worker, long[] sequences, long[] indexing, string lastName, string now)
    {
        var done = new NpgsqlBatchCommand(
            """
            UPDATE ingest_work SET state = CASE WHEN seq = ANY(@indexing) THEN 'indexing' ELSE 'done' END,
                                   lease_until = CASE WHEN seq = ANY(@indexing) THEN lease_until END
            WHERE run_id = @run AND seq = ANY(@seqs)
            """);
        done.Parameters.AddWithValue("run", runId);
        done.Parameters.AddWithValue("seqs", sequences);
        done.Parameters.AddWithValue("indexing", indexing);
        tail.Add(done);

        var count = new NpgsqlBatchCommand(
            "UPDATE ingest_runs SET items_done = items_done + @n, last_item_name = @last, updated_at = @now WHERE id = @run");
        count.Parameters.AddWithValue("run", runId);
        count.Parameters.AddWithValue("n", (long)sequences.Length);
        count.Parameters.AddWithValue("last", lastName);
        count.Parameters.AddWithValue("now", now);
        tail.Add(count);

        var credit = new NpgsqlBatchCommand("UPDATE workers SET items_done = items_done + @n WHERE name = @worker");
        credit.Parameters.AddWithValue("worker", worker);
        credit.Parameters.AddWithValue("n", (long)sequences.Length);
        tail.Add(credit);

        tail.Add(CompleteRun(runId, now));
    }

    /// <summary>Completes a running run none of whose items is left (after a statement that locked its row).</summary>
    private static NpgsqlBatchCommand CompleteRun(long runId, string now)
    {
        var complete = new NpgsqlBatchCommand(
            """
            UPDATE ingest_runs SET status = 'completed', finished_at = @now, updated_at = @now
            WHERE id = @run AND status = 'running' AND total_items IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM ingest_work WHERE run_id = @run AND state <> 'done')
            """);
        complete.Parameters.AddWithValue("run", runId);
        complete.Parameters.AddWithValue("now", now);
        return complete;
    }

    public async Task MarkIndexedAsync(long runId, IReadOnlyList<long> sequences, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
        {
            return;
        }

        await WriteAsync(async (connection, tx) =>
        {
            // Whoever holds the items now (another worker may have claimed them again after this one's lease passed):
            // the faces are in the index either way, and adding them again would only replace them.
            var now = SqliteCatalog.FormatTime(_clock.GetUtcNow());
            await using var batch = new NpgsqlBatch(connection, tx);
            var done = new NpgsqlBatchCommand(
                "UPDATE ingest_work SET state = 'done', lease_until = NULL WHERE run_id = @run AND seq = ANY(@seqs) AND state = 'indexing'");
            done.Parameters.AddWithValue("run", runId);
            done.Parameters.AddWithValue("seqs", sequences.ToArray());
            batch.BatchCommands.Add(done);

            // As in a commit: the run-row update waits for any other confirmation, so the last two cannot both miss the
            // completion.
            var touch = new NpgsqlBatchCommand("UPDATE ingest_runs SET updated_at = @now WHERE id = @run");
            touch.Parameters.AddWithValue("run", runId);
            touch.Parameters.AddWithValue("now", now);
            batch.BatchCommands.Add(touch);
            batch.BatchCommands.Add(CompleteRun(runId, now));
            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);
    }

    public async Task<int> ReleaseAsync(string worker, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        return await WriteAsync(async (connection, tx) =>
        {
            // Committed items whose index add is unconfirmed stay 'indexing', with their lease ended: the next claim
            // re-adds their faces.
            await using var release = new NpgsqlCommand(
                """
                UPDATE ingest_work
                SET state = CASE WHEN state = 'indexing' THEN 'indexing' ELSE 'pending' END,
                    worker = NULL, lease_until = CASE WHEN state = 'indexing' THEN '-infinity'::timestamptz END
                WHERE worker = @worker AND state IN ('claimed', 'indexing')
                """, connection, tx);
            release.Parameters.AddWithValue("worker", worker);
            return await release.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    public async Task<WorkQueueStatus> GetWorkStatusAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        var runs = new List<QueuedRunStatus>();
        await using (var command = new NpgsqlCommand(
            """
            SELECT r.id, r.source, r.status,
                   count(*) FILTER (WHERE w.state = 'pending'),
                   count(*) FILTER (WHERE w.state IN ('claimed', 'indexing') AND w.lease_until >= now()),
                   count(*) FILTER (WHERE w.state IN ('claimed', 'indexing') AND w.lease_until < now()),
                   count(*) FILTER (WHERE w.state = 'done')
            FROM ingest_work w JOIN ingest_runs r ON r.id = w.run_id
            GROUP BY r.id, r.source, r.status
            ORDER BY r.id DESC
            LIMIT 50
            """, connection))
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                runs.Add(new QueuedRunStatus(reader.GetInt64(0), reader.GetString(1), ParseRunStatus(reader.GetString(2)),
                    reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6)));
            }
        }

        var workers = new List<WorkerRecord>();
        await using (var command = new NpgsqlCommand(
            """
            SELECT k.name, k.host, k.started_at, k.heartbeat_at, k.items_done,
                   (SELECT count(*) FROM ingest_work w WHERE w.worker = k.name AND w.state IN ('claimed', 'indexing'))::int
            FROM workers k ORDER BY k.name
            """, connection))
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                workers.Add(new WorkerRecord(reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2),
                    reader.GetFieldValue<DateTimeOffset>(3), reader.GetInt64(4), reader.GetInt32(5)));
            }
        }

        return new WorkQueueStatus(runs, workers);
    }

    private static IngestRunStatus ParseRunStatus(string status) => status switch
    {
        "running" => IngestRunStatus.Running,
        "interrupted" => IngestRunStatus.Interrupted,
        "completed" => IngestRunStatus.Completed,
        _ => IngestRunStatus.Failed,
    };

    private static void CheckLease(TimeSpan lease)
    {
        if (lease < TimeSpan.FromSeconds(1) || lease > TimeSpan.FromHours(1))
        {
            throw new ArgumentOutOfRangeException(nameof(lease), lease, "A lease lasts between one second and one hour.");
        }
    }
}
