using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Npgsql;
using NpgsqlTypes;

namespace Lineup.Storage.Postgres;

/// <summary>
/// The two-person rule (<see cref="IReviewStore"/>) with reviewers on many connections and machines. SQLite's single
/// writer made every check-then-write race-free; here each decision and export locks the candidate's row first
/// (<c>FOR UPDATE</c> to decide, <c>FOR SHARE</c> to export), so two attempts on one candidate run one after the other
/// and the second reads what the first committed: one reviewer clicking twice on two API replicas gets one decision
/// and one <see cref="ReviewRefusals.AlreadyDecided"/> refusal, never a unique-key error, and an export never counts a
/// decision that is still being written. A decision also holds share locks on the rows its checks read (the case, the
/// reviewer, the assignment), so closing the case, disabling the reviewer or unassigning them waits for the decision
/// to commit, or the decision waits and sees the change: the audit log never shows a decision after the change that
/// forbade it. Refusals are committed as audit events before they are thrown, as in SQLite.
/// </summary>
/// <remarks>
/// Lock order, the same in every transaction here: candidate row, case row, user row, assignment row, then the audit
/// tree row (<see cref="AppendAuditAsync(NpgsqlConnection, NpgsqlTransaction, NewAuditEvent, CancellationToken)"/>,
/// always last), so two decisions cannot deadlock.
/// </remarks>
public sealed partial class PostgresCatalog : IReviewStore
{
    private const string DecisionColumns = "d.id, d.search_id, d.rank, u.name, d.decision, d.reason, d.at";

    private const string CandidateColumnsOfC = "c.rank, c.face_id, c.image_id, c.similarity, c.estimated_fmr, c.above_threshold";

    /// <summary>Where the candidate's columns start in a row of <see cref="s_searchColumnsOfS"/> then <see cref="CandidateColumnsOfC"/>.</summary>
    private const int CandidateOffset = 22;

    private static readonly string s_searchColumnsOfS = string.Join(", ", SearchColumns.Split(", ").Select(c => "s." + c));

    public async Task<CandidateDecision> DecideAsync(
        long searchId, int rank, string userName, ReviewDecision decision, string? reason, DateTimeOffset now, CancellationToken ct = default)
    {
        CandidateReviews.RequireUserName(userName);
        reason = CandidateReviews.CheckDecision(decision, reason);

        var (recorded, refusal) = await WriteAsync<(CandidateDecision?, ReviewRefusedException?)>(async (connection, tx) =>
        {
            var subject = CandidateReviews.CandidateSubject(searchId, rank);
            var target = await ReadTargetAsync(connection, tx, searchId, rank, forDecision: true, userName, ct).ConfigureAwait(false);
            var user = await ReadUserAsync(connection, tx, "lower(u.name) = lower(@key)", userName, ct).ConfigureAwait(false);
            var details = CandidateReviews.DecisionDetails(decision, target);

            var why = target is null
                ? (ReviewRefusals.NoSuchCandidate, CandidateReviews.NoSuchCandidateMessage(searchId, rank))
                : CandidateReviews.Refusal(target.Value, user, userName, decision, reason, now);
            if (why is null)
            {
                var existing = await ReadDecisionsAsync(connection, tx, "d.search_id = @a AND d.rank = @b AND d.user_id = @c", searchId, rank, user!.Id, ct)
                    .ConfigureAwait(false);
                if (existing.Count > 0)
                {
                    why = CandidateReviews.AlreadyDecided(searchId, rank, existing[0]);
                }
            }

            if (why is { } refused)
            {
                // Refusals are audited: an attempt to confirm one's own search, or to confirm twice, is itself a fact.
                await AppendAuditAsync(connection, tx, new NewAuditEvent(
                    user?.Name ?? userName, AuditActions.Confirm, subject, details.With("outcome", "refused").With("refusal", refused.Code)), ct).ConfigureAwait(false);
                return (null, new ReviewRefusedException(refused.Code, refused.Message));
            }

            long id;
            await using (var insert = new NpgsqlCommand(
                """
                INSERT INTO candidate_decisions(search_id, rank, user_id, decision, reason, at)
                VALUES (@search, @rank, @user, @decision, @reason, @at) RETURNING id
                """, connection, tx))
            {
                insert.Parameters.AddWithValue("search", searchId);
                insert.Parameters.AddWithValue("rank", rank);
                insert.Parameters.AddWithValue("user", user!.Id);
                insert.Parameters.AddWithValue("decision", CandidateReviews.DecisionText(decision));
                insert.Parameters.AddWithValue("reason", (object?)reason ?? DBNull.Value);
                insert.Parameters.AddWithValue("at", SqliteCatalog.FormatTime(now));
                id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }

            // The reason stays in the catalog (it may describe the candidate); the log says only that one was given.
            await AppendAuditAsync(connection, tx, new NewAuditEvent(
                user.Name, AuditActions.Confirm, subject,
                details.With("outcome", "recorded").With("decision_id", id).With("reason_given", reason is not null)), ct).ConfigureAwait(false);
            return (new CandidateDecision(id, searchId, rank, user.Name, decision, reason, SqliteCatalog.ParseTime(SqliteCatalog.FormatTime(now))), null);
        }, ct).ConfigureAwait(false);
        return refusal is null ? recorded! : throw refusal;
    }

    public async Task<IReadOnlyList<CandidateDecision>> GetDecisionsAsync(long searchId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await ReadDecisionsAsync(connection, null, "d.search_id = @a", searchId, null, null, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<CandidateDecision>> GetDecisionsForCaseAsync(long caseId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await ReadDecisionsAsync(connection, null, "d.search_id IN (SELECT id FROM searches WHERE case_id = @a)", caseId, null, null, ct)
            .ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ReviewItem>> ReviewQueueAsync(string userName, int limit = 100, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(userName);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, 10_000);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        var user = await ReadUserAsync(connection, null, "lower(u.name) = lower(@key)", userName, ct).ConfigureAwait(false);
        if (user is null || ReviewRules.CheckReviewer(user, userName, _clock.GetUtcNow()) is not null)
        {
            return [];
        }

        // Independent of what other reviewers did: a candidate stays in every assigned reviewer's queue until that
        // reviewer decides it, so that a queue that shrinks does not tell the second reviewer the first one's answer.
        var rows = new List<(SearchRecord Search, StoredCandidate Candidate, int Confirmations)>();
        await using (var command = new NpgsqlCommand(
            $"""
            SELECT {s_searchColumnsOfS}, {CandidateColumnsOfC},
                   (SELECT count(*) FROM candidate_decisions x WHERE x.search_id = c.search_id AND x.rank = c.rank AND x.decision = 'confirm')::integer
            FROM case_users cu
            JOIN cases k ON k.id = cu.case_id AND k.status = 'open'
            JOIN searches s ON s.case_id = cu.case_id
            JOIN search_candidates c ON c.search_id = s.id
            WHERE cu.user_id = @user
              AND c.above_threshold = 1
              AND lower(s.by_user) <> lower(@name)
              AND NOT EXISTS (SELECT 1 FROM candidate_decisions d WHERE d.search_id = c.search_id AND d.rank = c.rank AND d.user_id = @user)
            ORDER BY c.search_id, c.rank
            LIMIT @limit
            """, connection))
        {
            command.Parameters.AddWithValue("user", user.Id);
            command.Parameters.AddWithValue("name", user.Name);
            command.Parameters.AddWithValue("limit", limit);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                rows.Add((ReadSearch(reader), ReadCandidate(reader, CandidateOffset), reader.GetInt32(CandidateOffset + 6)));
            }
        }

        var cases = new Dictionary<long, CaseRecord>();
        foreach (var caseId in rows.Select(r => r.Search.CaseId!.Value).Distinct())
        {
            cases[caseId] = (await ReadCaseAsync(connection, null, "c.id = @key", caseId, ct).ConfigureAwait(false))!;
        }

        return rows.Select(r => new ReviewItem(r.Search, cases[r.Search.CaseId!.Value], r.Candidate, r.Confirmations)).ToList();
    }

    public async Task<LeadExport> ExportLeadAsync(long searchId, int rank, string userName, CancellationToken ct = default)
    {
        CandidateReviews.RequireUserName(userName);
        var (export, refusal) = await WriteAsync<(LeadExport?, ReviewRefusedException?)>(async (connection, tx) =>
        {
            var subject = CandidateReviews.CandidateSubject(searchId, rank);
            var target = await ReadTargetAsync(connection, tx, searchId, rank, forDecision: false, userName, ct).ConfigureAwait(false);
            if (target is not { Case: { } found } t)
            {
                await AppendAuditAsync(connection, tx, new NewAuditEvent(userName, AuditActions.Export, subject,
                    AuditDetails.Empty.With("outcome", "refused").With("refusal", ReviewRefusals.NoSuchCandidate)), ct).ConfigureAwait(false);
                return (null, new ReviewRefusedException(ReviewRefusals.NoSuchCandidate, CandidateReviews.NoSuchCandidateMessage(searchId, rank)));
            }

            var decisions = await ReadDecisionsAsync(connection, tx, "d.search_id = @a AND d.rank = @b", searchId, rank, null, ct).ConfigureAwait(false);
            var status = LeadRules.Status(decisions);
            var details = CandidateReviews.ExportDetails(found, t, status, decisions);
            if (status != LeadStatus.Confirmed)
            {
                await AppendAuditAsync(connection, tx, new NewAuditEvent(userName, AuditActions.Export, subject,
                    details.With("outcome", "refused").With("refusal", ReviewRefusals.NotConfirmed)), ct).ConfigureAwait(false);
                return (null, CandidateReviews.NotConfirmed(searchId, rank, status));
            }

            var logged = await AppendAuditAsync(connection, tx, new NewAuditEvent(userName, AuditActions.Export, subject, details.With("outcome", "exported")), ct)
                .ConfigureAwait(false);
            return (new LeadExport(t.Search, found, t.Candidate, decisions, logged.At, logged.Seq), null);
        }, ct).ConfigureAwait(false);
        return refusal is null ? export! : throw refusal;
    }

    /// <summary>
    /// The candidate with its search and case, read in the write transaction with the candidate's row locked (see the
    /// class remarks); null when there is no such candidate (or it was deleted while this waited for the lock).
    /// <paramref name="forDecision"/> takes the exclusive lock and the share locks on the rows a decision's checks read
    /// (the case, <paramref name="userName"/>'s user row and assignment); an export takes only a share lock on the
    /// candidate, enough to keep decisions out until it commits.
    /// </summary>
    private static async Task<ReviewTarget?> ReadTargetAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, long searchId, int rank, bool forDecision, string userName, CancellationToken ct)
    {
        SearchRecord search;
        StoredCandidate candidate;
        await using (var command = new NpgsqlCommand(
            $"""
            SELECT {s_searchColumnsOfS}, {CandidateColumnsOfC}
            FROM search_candidates c JOIN searches s ON s.id = c.search_id
            WHERE c.search_id = @search AND c.rank = @rank
            FOR {(forDecision ? "UPDATE" : "SHARE")} OF c
            """, connection, tx))
        {
            command.Parameters.AddWithValue("search", searchId);
            command.Parameters.AddWithValue("rank", rank);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            search = ReadSearch(reader);
            candidate = ReadCandidate(reader, CandidateOffset);
        }

        if (forDecision)
        {
            // Only locks: the rows are read again below by the shared readers (each statement sees what committed before it).
            await using var share = new NpgsqlCommand(
                """
                SELECT 1 FROM cases WHERE id = @case FOR SHARE;
                SELECT 1 FROM users WHERE lower(name) = lower(@name) FOR SHARE;
                SELECT 1 FROM case_users cu JOIN users u ON u.id = cu.user_id
                WHERE cu.case_id = @case AND lower(u.name) = lower(@name) FOR SHARE OF cu
                """, connection, tx);
            share.Parameters.AddWithValue("case", NpgsqlDbType.Bigint, (object?)search.CaseId ?? DBNull.Value);
            share.Parameters.AddWithValue("name", userName);
            await share.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        var found = search.CaseId is { } caseId ? await ReadCaseAsync(connection, tx, "c.id = @key", caseId, ct).ConfigureAwait(false) : null;
        return new ReviewTarget(search, found, candidate);
    }

    private static async Task<IReadOnlyList<CandidateDecision>> ReadDecisionsAsync(
        NpgsqlConnection connection, NpgsqlTransaction? tx, string condition, long a, long? b, long? c, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT {DecisionColumns} FROM candidate_decisions d JOIN users u ON u.id = d.user_id WHERE {condition} ORDER BY d.id", connection, tx);
        command.Parameters.AddWithValue("a", a);
        if (b is { } rank)
        {
            command.Parameters.AddWithValue("b", (int)rank);
        }

        if (c is { } userId)
        {
            command.Parameters.AddWithValue("c", userId);
        }

        var decisions = new List<CandidateDecision>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            decisions.Add(new CandidateDecision(
                reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetString(3),
                reader.GetString(4) == "confirm" ? ReviewDecision.Confirm : ReviewDecision.Reject,
                reader.IsDBNull(5) ? null : reader.GetString(5), SqliteCatalog.ParseTime(reader.GetString(6))));
        }

        return decisions;
    }

    private static StoredCandidate ReadCandidate(NpgsqlDataReader r, int o) =>
        new(r.GetInt32(o), r.GetInt64(o + 1), r.GetInt64(o + 2), (float)r.GetDouble(o + 3), r.IsDBNull(o + 4) ? null : r.GetDouble(o + 4), r.GetInt32(o + 5) != 0);

}
