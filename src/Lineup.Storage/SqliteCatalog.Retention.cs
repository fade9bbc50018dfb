using System.Text.Json;
using Lineup.Core.Audit;
using Lineup.Core.Oversight;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>
/// Retention (<see cref="IRetentionStore"/>): time-to-live per data class in <c>retention_settings</c>, and the sweep.
/// A sweep deletes in one write transaction with its receipt, with <c>secure_delete</c> on, then compacts the files as
/// erasure does (<c>VACUUM</c>, WAL truncated), so that no deleted probe photo stays in any file of the data directory.
/// Audit events are pruned, never deleted: the trigger of migration 9 allows exactly that update.
/// </summary>
public sealed partial class SqliteCatalog : IRetentionStore
{
    public async Task<IReadOnlyList<RetentionSetting>> GetRetentionAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await ReadRetentionAsync(connection, null, ct).ConfigureAwait(false);
    }

    public async Task<RetentionSetting> SetRetentionAsync(string dataClass, int ttlDays, string by, CancellationToken ct = default)
    {
        var name = DataClasses.Require(dataClass);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        return await WriteAsync(async tx =>
        {
            var settings = await ReadRetentionAsync(_writer, tx, ct).ConfigureAwait(false);
            var previous = settings.Single(s => s.DataClass == name);
            RetentionPolicy.From(settings).With(name, ttlDays).Validate();

            using var upsert = _writer.CreateCommand();
            upsert.Transaction = tx;
            upsert.CommandText = """
                INSERT INTO retention_settings(data_class, ttl_days, set_at, set_by) VALUES ($class, $days, $now, $by)
                ON CONFLICT(data_class) DO UPDATE SET ttl_days = excluded.ttl_days, set_at = excluded.set_at, set_by = excluded.set_by
                """;
            var now = _clock.GetUtcNow();
            upsert.Parameters.AddWithValue("$class", name);
            upsert.Parameters.AddWithValue("$days", ttlDays);
            upsert.Parameters.AddWithValue("$now", FormatTime(now));
            upsert.Parameters.AddWithValue("$by", by);
            await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);

            var details = RetentionReceipts.SettingDetails(ttlDays, previous);
            await AppendAuditAsync(tx, new NewAuditEvent(by, AuditActions.Admin, $"retention:{name}", details), ct).ConfigureAwait(false);
            return new RetentionSetting(name, ttlDays, ParseTime(FormatTime(now)), by);
        }, ct).ConfigureAwait(false);
    }

    public async Task<SweepReport> SweepAsync(DateTimeOffset now, string actor, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        await _writeGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            await ExecuteAsync(_writer, "PRAGMA secure_delete=ON;", ct).ConfigureAwait(false);
            SweepReport report;
            try
            {
                using var tx = _writer.BeginTransaction();
                report = await SweepInAsync(tx, now, actor, ct).ConfigureAwait(false);
                tx.Commit();
            }
            finally
            {
                await ExecuteAsync(_writer, "PRAGMA secure_delete=OFF;", CancellationToken.None).ConfigureAwait(false);
            }

            // A sweep that removed nothing has nothing to wipe; rebuilding a large gallery's file for it would cost minutes.
            if (report.RemovedAny)
            {
                await CompactAsync().ConfigureAwait(false);
            }

            return report;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private async Task<SweepReport> SweepInAsync(SqliteTransaction tx, DateTimeOffset now, string actor, CancellationToken ct)
    {
        var policy = RetentionPolicy.From(await ReadRetentionAsync(_writer, tx, ct).ConfigureAwait(false));
        var cutoffs = policy.CutoffsAt(now);
        var heldCases = await CountAsync(tx, "SELECT count(*) FROM cases WHERE legal_hold = 1", null, ct).ConfigureAwait(false);

        // Probes, then candidate lists: the searches older than the class's cutoff that still hold one, outside held cases.
        var probeCutoff = FormatTime(cutoffs.ProbeImages);
        var probesHeld = await CountAsync(tx, ExpiredSearches("search_probes", held: true, "count(*)"), probeCutoff, ct).ConfigureAwait(false);
        var probeSearches = JsonSerializer.Serialize(await ExpiredIdsAsync(tx, "search_probes", probeCutoff, ct).ConfigureAwait(false));
        var probes = await ExecuteInAsync(tx, "DELETE FROM search_probes WHERE search_id IN (SELECT value FROM json_each($root))", probeSearches, ct)
            .ConfigureAwait(false);

        var candidateCutoff = FormatTime(cutoffs.CandidateLists);
        var listsHeld = await CountAsync(tx, ExpiredSearches("search_candidates", held: true, "count(*)"), candidateCutoff, ct).ConfigureAwait(false);
        var candidateIds = await ExpiredIdsAsync(tx, "search_candidates", candidateCutoff, ct).ConfigureAwait(false);
        var candidateSearches = JsonSerializer.Serialize(candidateIds);

        // Decisions first and explicitly (as erasure does): the count comes from the statement, whatever foreign_keys says.
        var decisions = await ExecuteInAsync(tx, "DELETE FROM candidate_decisions WHERE search_id IN (SELECT value FROM json_each($root))", candidateSearches, ct)
            .ConfigureAwait(false);
        var candidates = await ExecuteInAsync(tx, "DELETE FROM search_candidates WHERE search_id IN (SELECT value FROM json_each($root))", candidateSearches, ct)
            .ConfigureAwait(false);

        var stamp = _clock.GetUtcNow();
        var (pruned, prunedThrough) = await PruneAuditAsync(tx, FormatTime(cutoffs.AuditEvents), FormatTime(stamp), ct).ConfigureAwait(false);

        var report = new SweepReport(
            ParseTime(FormatTime(now)), policy, cutoffs, probes, candidateIds.Count, candidates, decisions, probesHeld, listsHeld, heldCases,
            pruned, prunedThrough, AuditSeq: 0);
        var receipt = await AppendAuditAsync(
            tx, new NewAuditEvent(actor, AuditActions.Retention, RetentionReceipts.SweepSubject, RetentionReceipts.SweepDetails(report)), ct)
            .ConfigureAwait(false);
        return report with { AuditSeq = receipt.Seq };
    }

    /// <summary>
    /// Prunes the events older than <paramref name="cutoff"/>, contiguously from the first: events are appended in time
    /// order, so pruning stops at the first one young enough to keep, and a later event with an earlier time (a clock set
    /// back) waits for it. Returns the count pruned now and the last pruned sequence number overall.
    /// </summary>
    private async Task<(long Pruned, long Through)> PruneAuditAsync(SqliteTransaction tx, string cutoff, string stamp, CancellationToken ct)
    {
        // Pruned events are a prefix of the log: the next candidate is the first event not yet pruned.
        var firstUnpruned = await QueryLongAsync(tx, "SELECT seq FROM audit_events WHERE pruned_at IS NULL ORDER BY seq LIMIT 1", ct)
            .ConfigureAwait(false);
        var lastSeq = await CountAsync(tx, "SELECT coalesce(max(seq), 0) FROM audit_events", null, ct).ConfigureAwait(false);
        var from = firstUnpruned ?? lastSeq + 1;
        var firstKept = await QueryLongAsync(tx, "SELECT seq FROM audit_events WHERE seq >= $from AND at >= $cutoff ORDER BY seq LIMIT 1", ct,
            ("$from", from), ("$cutoff", cutoff)).ConfigureAwait(false) ?? lastSeq + 1;

        long pruned = 0;
        if (firstKept > from)
        {
            using var update = _writer.CreateCommand();
            update.Transaction = tx;
            update.CommandText = """
                UPDATE audit_events SET actor = '', action = '', subject = '', details = '', pruned_at = $stamp
                WHERE seq >= $from AND seq < $kept AND pruned_at IS NULL
                """;
            update.Parameters.AddWithValue("$stamp", stamp);
            update.Parameters.AddWithValue("$from", from);
            update.Parameters.AddWithValue("$kept", firstKept);
            pruned = await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        return (pruned, Math.Max(from, firstKept) - 1);
    }

    /// <summary>
    /// Searches older than the cutoff (<c>$a</c>) that still hold a row in <paramref name="table"/>, outside (or, with
    /// <paramref name="held"/>, inside) cases on legal hold. A search without a case (a refused intake) is never held.
    /// The scan starts at the oldest search that still holds a row: search ids grow with time, and what expired before
    /// is gone, so each sweep reads only what is still kept rather than the whole record of searches.
    /// </summary>
    private static string ExpiredSearches(string table, bool held, string select) => $"""
        SELECT {select} FROM searches s
        WHERE s.id >= (SELECT coalesce(min(search_id), 0) FROM {table})
          AND s.at < $a
          AND EXISTS (SELECT 1 FROM {table} t WHERE t.search_id = s.id)
          AND {(held ? "" : "NOT ")}EXISTS (SELECT 1 FROM cases c WHERE c.id = s.case_id AND c.legal_hold = 1)
        """;

    private async Task<List<long>> ExpiredIdsAsync(SqliteTransaction tx, string table, string cutoff, CancellationToken ct)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = tx;
        command.CommandText = ExpiredSearches(table, held: false, "s.id") + " ORDER BY s.id";
        command.Parameters.AddWithValue("$a", cutoff);
        var ids = new List<long>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    private async Task<long> CountAsync(SqliteTransaction tx, string sql, string? cutoff, CancellationToken ct) =>
        await QueryLongAsync(tx, sql, ct, cutoff is null ? [] : [("$a", cutoff)]).ConfigureAwait(false) ?? 0;

    /// <summary>The first column of the first row as an integer; null when there is no row or it is NULL.</summary>
    private async Task<long?> QueryLongAsync(SqliteTransaction tx, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is long result ? result : null;
    }

    /// <summary>Every class's setting, the built-in default where no row was written.</summary>
    private static async Task<IReadOnlyList<RetentionSetting>> ReadRetentionAsync(SqliteConnection connection, SqliteTransaction? tx, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "SELECT data_class, ttl_days, set_at, set_by FROM retention_settings";
        var stored = new Dictionary<string, RetentionSetting>(StringComparer.Ordinal);
        using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var name = reader.GetString(0);
                stored[name] = new RetentionSetting(name, reader.GetInt32(1), ParseTime(reader.GetString(2)), reader.GetString(3));
            }
        }

        return DataClasses.All
            .Select(c => stored.GetValueOrDefault(c) ?? new RetentionSetting(c, RetentionPolicy.Default.DaysOf(c), null, null))
            .ToList();
    }
}
