using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

/// <summary>
/// Retention (<see cref="IRetentionStore"/>) on PostgreSQL: time-to-live per data class in <c>retention_settings</c>,
/// and the sweep, in one transaction with its receipt, as in <see cref="SqliteCatalog"/>. Audit events are pruned,
/// never deleted: the trigger <c>audit_events_no_update</c> allows exactly that update.
/// </summary>
/// <remarks>
/// <para>
/// Settings changes and sweeps take the <see cref="WriteLock.Retention"/> advisory lock, so that across every process
/// one sweep runs at a time (each starts from the prefix the one before pruned, and the receipts' counts add up) and a
/// sweep applies a policy that no concurrent change is validating against a stale read (audit events must outlive
/// candidate lists).
/// </para>
/// <para>
/// What PostgreSQL does with deleted bytes differs from SQLite's <c>secure_delete</c>, and nothing here can make it
/// the same. Under MVCC a <c>DELETE</c> (or the pruning <c>UPDATE</c>) only marks the old row version dead; its bytes
/// stay in the table's pages (or its TOAST table, where probe photos live) until <c>VACUUM</c> frees the space, and
/// even then the freed space is reused rather than overwritten, and the WAL segments that carried the rows are kept
/// until the server recycles them (longer in a WAL archive or on a replica). <c>VACUUM</c> cannot run inside a
/// transaction, so after a sweep that removed anything a plain <c>VACUUM</c> of the touched tables runs on its own,
/// after the commit: it takes no lock that blocks readers or writers, and since PostgreSQL 14 it skips the index pass
/// when few rows died, so it costs about the pages the sweep changed. <c>VACUUM FULL</c> (a rewrite of the whole table
/// under an exclusive lock, in a maintenance window) and encrypted storage are the operator's tools for the rest.
/// </para>
/// </remarks>
public sealed partial class PostgresCatalog : IRetentionStore
{
    public async Task<IReadOnlyList<RetentionSetting>> GetRetentionAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await ReadRetentionSettingsAsync(connection, null, ct).ConfigureAwait(false);
    }

    public async Task<RetentionSetting> SetRetentionAsync(string dataClass, int ttlDays, string by, CancellationToken ct = default)
    {
        var name = DataClasses.Require(dataClass);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        return await WriteAsync(async (connection, tx) =>
        {
            // The policy is validated as a whole (audit events outlive candidate lists): two changes of different classes
            // validated at once against the same old policy could together break it.
            await LockAsync(connection, tx, WriteLock.Retention, ct).ConfigureAwait(false);
            var settings = await ReadRetentionSettingsAsync(connection, tx, ct).ConfigureAwait(false);
            var previous = settings.Single(s => s.DataClass == name);
            RetentionPolicy.From(settings).With(name, ttlDays).Validate();

            var now = _clock.GetUtcNow();
            await using (var upsert = new NpgsqlCommand(
                """
                INSERT INTO retention_settings(data_class, ttl_days, set_at, set_by) VALUES (@class, @days, @now, @by)
                ON CONFLICT(data_class) DO UPDATE SET ttl_days = excluded.ttl_days, set_at = excluded.set_at, set_by = excluded.set_by
                """, connection, tx))
            {
                upsert.Parameters.AddWithValue("class", name);
                upsert.Parameters.AddWithValue("days", ttlDays);
                upsert.Parameters.AddWithValue("now", SqliteCatalog.FormatTime(now));
                upsert.Parameters.AddWithValue("by", by);
                await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var details = RetentionReceipts.SettingDetails(ttlDays, previous);
            await AppendAuditAsync(connection, tx, new NewAuditEvent(by, AuditActions.Admin, $"retention:{name}", details), ct).ConfigureAwait(false);
            return new RetentionSetting(name, ttlDays, SqliteCatalog.ParseTime(SqliteCatalog.FormatTime(now)), by);
        }, ct).ConfigureAwait(false);
    }

    public async Task<SweepReport> SweepAsync(DateTimeOffset now, string actor, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        var report = await WriteAsync(async (connection, tx) =>
        {
            await LockAsync(connection, tx, WriteLock.Retention, ct).ConfigureAwait(false);
            return await SweepInAsync(connection, tx, now, actor, ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);

        // A sweep that removed nothing left no dead rows behind. Only the tables it changed are vacuumed.
        var touched = new List<string>(4);
        if (report.ProbesDeleted > 0)
        {
            touched.Add("search_probes");
        }

        if (report.CandidatesDeleted + report.DecisionsDeleted > 0)
        {
            touched.AddRange(["search_candidates", "candidate_decisions"]);
        }

        if (report.AuditEventsPruned > 0)
        {
            touched.Add("audit_events");
        }

        await VacuumAfterDeletionAsync(touched, "sweep").ConfigureAwait(false);
        return report;
    }

    private async Task<SweepReport> SweepInAsync(NpgsqlConnection connection, NpgsqlTransaction tx, DateTimeOffset now, string actor, CancellationToken ct)
    {
        var policy = RetentionPolicy.From(await ReadRetentionSettingsAsync(connection, tx, ct).ConfigureAwait(false));
        var cutoffs = policy.CutoffsAt(now);
        var probeCutoff = SqliteCatalog.FormatTime(cutoffs.ProbeImages);
        var candidateCutoff = SqliteCatalog.FormatTime(cutoffs.CandidateLists);

        // SQLite's single writer kept a legal hold from landing between the check and the delete. Here the cases of the
        // expired searches are share-locked first: a hold placed meanwhile waits for this sweep, and a hold committed
        // before is seen by every statement after this one (read committed takes a fresh snapshot per statement).
        await LockCasesOfExpiredSearchesAsync(connection, tx, "search_probes", probeCutoff, ct).ConfigureAwait(false);
        await LockCasesOfExpiredSearchesAsync(connection, tx, "search_candidates", candidateCutoff, ct).ConfigureAwait(false);
        var heldCases = await RetentionScalarAsync(connection, tx, "SELECT count(*) FROM cases WHERE legal_hold = 1", ct).ConfigureAwait(false) ?? 0;

        // Probes, then candidate lists: the searches older than the class's cutoff that still hold one, outside held cases.
        var probesHeld = await RetentionScalarAsync(connection, tx, ExpiredSearches("search_probes", held: true, "count(*)"), ct, ("a", probeCutoff))
            .ConfigureAwait(false) ?? 0;
        var probeSearches = await ExpiredSearchIdsAsync(connection, tx, "search_probes", probeCutoff, ct).ConfigureAwait(false);
        var probes = await DeleteBySearchAsync(connection, tx, "DELETE FROM search_probes WHERE search_id = ANY(@ids)", probeSearches, ct)
            .ConfigureAwait(false);

        var listsHeld = await RetentionScalarAsync(connection, tx, ExpiredSearches("search_candidates", held: true, "count(*)"), ct, ("a", candidateCutoff))
            .ConfigureAwait(false) ?? 0;
        var candidateIds = await ExpiredSearchIdsAsync(connection, tx, "search_candidates", candidateCutoff, ct).ConfigureAwait(false);

        // Decisions first and explicitly (as erasure does): the count comes from the statement, not from a cascade.
        var decisions = await DeleteBySearchAsync(connection, tx, "DELETE FROM candidate_decisions WHERE search_id = ANY(@ids)", candidateIds, ct)
            .ConfigureAwait(false);
        var candidates = await DeleteBySearchAsync(connection, tx, "DELETE FROM search_candidates WHERE search_id = ANY(@ids)", candidateIds, ct)
            .ConfigureAwait(false);

        var stamp = _clock.GetUtcNow();
        var (pruned, prunedThrough) = await PruneAuditAsync(
            connection, tx, SqliteCatalog.FormatTime(cutoffs.AuditEvents), SqliteCatalog.FormatTime(stamp), ct).ConfigureAwait(false);

        var report = new SweepReport(
            SqliteCatalog.ParseTime(SqliteCatalog.FormatTime(now)), policy, cutoffs, probes, candidateIds.Length, candidates, decisions,
            probesHeld, listsHeld, heldCases, pruned, prunedThrough, AuditSeq: 0);
        var receipt = await AppendAuditAsync(
            connection, tx, new NewAuditEvent(actor, AuditActions.Retention, RetentionReceipts.SweepSubject, RetentionReceipts.SweepDetails(report)), ct)
            .ConfigureAwait(false);
        return report with { AuditSeq = receipt.Seq };
    }

    /// <summary>
    /// Prunes the events older than <paramref name="cutoff"/>, contiguously from the first: events are appended in time
    /// order, so pruning stops at the first one young enough to keep, and a later event with an earlier time (a clock set
    /// back, or a machine whose clock lags) waits for it. Returns the count pruned now and the last pruned sequence
    /// number overall. Appends running meanwhile only add events after the range pruned here.
    /// </summary>
    private static async Task<(long Pruned, long Through)> PruneAuditAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, string cutoff, string stamp, CancellationToken ct)
    {
        // Pruned events are a prefix of the log: the next candidate is the first event not yet pruned.
        var firstUnpruned = await RetentionScalarAsync(connection, tx, "SELECT seq FROM audit_events WHERE pruned_at IS NULL ORDER BY seq LIMIT 1", ct)
            .ConfigureAwait(false);
        var lastSeq = await RetentionScalarAsync(connection, tx, "SELECT coalesce(max(seq), 0) FROM audit_events", ct).ConfigureAwait(false) ?? 0;
        var from = firstUnpruned ?? lastSeq + 1;
        var firstKept = await RetentionScalarAsync(connection, tx, "SELECT seq FROM audit_events WHERE seq >= @from AND at >= @cutoff ORDER BY seq LIMIT 1", ct,
            ("from", from), ("cutoff", cutoff)).ConfigureAwait(false) ?? lastSeq + 1;

        long pruned = 0;
        if (firstKept > from)
        {
            await using var update = new NpgsqlCommand(
                """
                UPDATE audit_events SET actor = '', action = '', subject = '', details = '', pruned_at = @stamp
                WHERE seq >= @from AND seq < @kept AND pruned_at IS NULL
                """, connection, tx);
            update.Parameters.AddWithValue("stamp", stamp);
            update.Parameters.AddWithValue("from", from);
            update.Parameters.AddWithValue("kept", firstKept);
            pruned = await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        return (pruned, Math.Max(from, firstKept) - 1);
    }

    /// <summary>
    /// Searches older than the cutoff (<c>@a</c>) that still hold a row in <paramref name="table"/>, outside (or, with
    /// <paramref name="held"/>, inside) cases on legal hold. A search without a case (a refused intake) is never held.
    /// The scan starts at the oldest search that still holds a row: search ids grow with time, and what expired before
    /// is gone, so each sweep reads only what is still kept rather than the whole record of searches.
    /// </summary>
    private static string ExpiredSearches(string table, bool held, string select) => $"""
        SELECT {select} FROM searches s
        WHERE s.id >= (SELECT coalesce(min(search_id), 0) FROM {table})
          AND s.at < @a
          AND EXISTS (SELECT 1 FROM {table} t WHERE t.search_id = s.id)
          AND {(held ? "" : "NOT ")}EXISTS (SELECT 1 FROM cases c WHERE c.id = s.case_id AND c.legal_hold = 1)
        """;

    /// <summary>Share-locks the cases of the searches whose rows in <paramref name="table"/> expired, held or not.</summary>
    private static async Task LockCasesOfExpiredSearchesAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, string table, string cutoff, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"""
            SELECT c.id FROM cases c
            WHERE c.id IN (
                SELECT s.case_id FROM searches s
                WHERE s.id >= (SELECT coalesce(min(search_id), 0) FROM {table})
                  AND s.at < @a
                  AND s.case_id IS NOT NULL
                  AND EXISTS (SELECT 1 FROM {table} t WHERE t.search_id = s.id))
            ORDER BY c.id
            FOR SHARE
            """, connection, tx);
        command.Parameters.AddWithValue("a", cutoff);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<long[]> ExpiredSearchIdsAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string table, string cutoff, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(ExpiredSearches(table, held: false, "s.id") + " ORDER BY s.id", connection, tx);
        command.Parameters.AddWithValue("a", cutoff);
        var ids = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            ids.Add(reader.GetInt64(0));
        }

        return [.. ids];
    }

    private static async Task<long> DeleteBySearchAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, long[] searchIds, CancellationToken ct)
    {
        if (searchIds.Length == 0)
        {
            return 0;
        }

        await using var command = new NpgsqlCommand(sql, connection, tx);
        command.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = searchIds });
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The first column of the first row as an integer; null when there is no row or it is NULL.</summary>
    private static async Task<long?> RetentionScalarAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) switch
        {
            long value => value,
            int value => value,
            _ => null,
        };
    }

    /// <summary>Every class's setting, the built-in default where no row was written.</summary>
    private static async Task<IReadOnlyList<RetentionSetting>> ReadRetentionSettingsAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT data_class, ttl_days, set_at, set_by FROM retention_settings", connection, tx);
        var stored = new Dictionary<string, RetentionSetting>(StringComparer.Ordinal);
        await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var name = reader.GetString(0);
                stored[name] = new RetentionSetting(name, reader.GetInt32(1), SqliteCatalog.ParseTime(reader.GetString(2)), reader.GetString(3));
            }
        }

        return DataClasses.All
            .Select(c => stored.GetValueOrDefault(c) ?? new RetentionSetting(c, RetentionPolicy.Default.DaysOf(c), null, null))
            .ToList();
    }

    /// <summary>
    /// A plain <c>VACUUM</c> of <paramref name="tables"/> after a committed deletion (it cannot run in a transaction):
    /// the dead row versions that still hold the deleted bytes are freed for reuse now rather than whenever autovacuum
    /// gets to them. It does not overwrite them (see the class remarks). Not cancellable, like SQLite's compaction: the
    /// deletion committed and should not leave its rows behind because the caller gave up waiting.
    /// </summary>
    private async Task VacuumAfterDeletionAsync(IReadOnlyList<string> tables, string what)
    {
        if (tables.Count == 0)
        {
            return;
        }

        try
        {
            await using var connection = await OpenConnectionAsync(CancellationToken.None).ConfigureAwait(false);
            await using var vacuum = new NpgsqlCommand("VACUUM " + string.Join(", ", tables.Distinct(StringComparer.Ordinal)), connection);
            vacuum.CommandTimeout = 0;
            await vacuum.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            throw new CatalogException(
                $"The {what} committed, but VACUUM of {string.Join(", ", tables)} failed ({e.Message}); the deleted rows stay in " +
                "the tables' free space until autovacuum or the next VACUUM reaches them.", e);
        }
    }
}
