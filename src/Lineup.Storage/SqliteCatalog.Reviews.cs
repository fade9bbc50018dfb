using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>
/// The two-person rule (<see cref="IReviewStore"/>). Every check of a decision or an export reads inside the write
/// transaction that records it: Microsoft.Data.Sqlite begins it IMMEDIATE (the database's write lock is taken first),
/// and in-process writers queue on the write gate, so two reviewers, or one reviewer clicking twice, or the CLI and the
/// server on one data directory, cannot both pass a check that only one of them may pass. Refusals are committed as
/// audit events before they are thrown.
/// </summary>
public sealed partial class SqliteCatalog : IReviewStore
{
    private const string DecisionColumns = "d.id, d.search_id, d.rank, u.name, d.decision, d.reason, d.at";

    private static readonly string s_searchColumnsOfS = string.Join(", ", SearchColumns.Split(", ").Select(c => "s." + c));

    public async Task<CandidateDecision> DecideAsync(
        long searchId, int rank, string userName, ReviewDecision decision, string? reason, DateTimeOffset now, CancellationToken ct = default)
    {
        CandidateReviews.RequireUserName(userName);
        reason = CandidateReviews.CheckDecision(decision, reason);

        var (recorded, refusal) = await WriteAsync<(CandidateDecision?, ReviewRefusedException?)>(async tx =>
        {
            var subject = CandidateReviews.CandidateSubject(searchId, rank);
            var target = await ReadTargetAsync(tx, searchId, rank, ct).ConfigureAwait(false);
            var user = await ReadUserAsync(_writer, tx, "u.name = $key", userName, ct).ConfigureAwait(false);
            var details = CandidateReviews.DecisionDetails(decision, target);

            var why = target is null
                ? (ReviewRefusals.NoSuchCandidate, CandidateReviews.NoSuchCandidateMessage(searchId, rank))
                : CandidateReviews.Refusal(target.Value, user, userName, decision, reason, now);
            if (why is null)
            {
                var existing = await ReadDecisionsAsync(_writer, tx, "d.search_id = $a AND d.rank = $b AND d.user_id = $c", searchId, rank, user!.Id, ct)
                    .ConfigureAwait(false);
                if (existing.Count > 0)
                {
                    why = CandidateReviews.AlreadyDecided(searchId, rank, existing[0]);
                }
            }

            if (why is { } refused)
            {
                // Refusals are audited: an attempt to confirm one's own search, or to confirm twice, is itself a fact.
                await AppendAuditAsync(tx, new NewAuditEvent(
                    user?.Name ?? userName, AuditActions.Confirm, subject, details.With("outcome", "refused").With("refusal", refused.Code)), ct).ConfigureAwait(false);
                return (null, new ReviewRefusedException(refused.Code, refused.Message));
            }

            using var insert = _writer.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = """
                INSERT INTO candidate_decisions(search_id, rank, user_id, decision, reason, at)
                VALUES ($search, $rank, $user, $decision, $reason, $at) RETURNING id
                """;
            insert.Parameters.AddWithValue("$search", searchId);
            insert.Parameters.AddWithValue("$rank", rank);
            insert.Parameters.AddWithValue("$user", user!.Id);
            insert.Parameters.AddWithValue("$decision", CandidateReviews.DecisionText(decision));
            insert.Parameters.AddWithValue("$reason", (object?)reason ?? DBNull.Value);
            insert.Parameters.AddWithValue("$at", FormatTime(now));
            var id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            // The reason stays in the catalog (it may describe the candidate); the log says only that one was given.
            await AppendAuditAsync(tx, new NewAuditEvent(
                user.Name, AuditActions.Confirm, subject,
                details.With("outcome", "recorded").With("decision_id", id).With("reason_given", reason is not null)), ct).ConfigureAwait(false);
            return (new CandidateDecision(id, searchId, rank, user.Name, decision, reason, ParseTime(FormatTime(now))), null);
        }, ct).ConfigureAwait(false);
        return refusal is null ? recorded! : throw refusal;
    }

    public async Task<IReadOnlyList<CandidateDecision>> GetDecisionsAsync(long searchId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await ReadDecisionsAsync(connection, null, "d.search_id = $a", searchId, null, null, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<CandidateDecision>> GetDecisionsForCaseAsync(long caseId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await ReadDecisionsAsync(connection, null, "d.search_id IN (SELECT id FROM searches WHERE case_id = $a)", caseId, null, null, ct)
            .ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ReviewItem>> ReviewQueueAsync(string userName, int limit = 100, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(userName);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, 10_000);
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        var user = await ReadUserAsync(connection, null, "u.name = $key", userName, ct).ConfigureAwait(false);
        if (user is null || ReviewRules.CheckReviewer(user, userName, _clock.GetUtcNow()) is not null)
        {
            return [];
        }

        // Independent of what other reviewers did: a candidate stays in every assigned reviewer's queue until that
        // reviewer decides it, so that a queue that shrinks does not tell the second reviewer the first one's answer.
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {s_searchColumnsOfS}, c.rank, c.face_id, c.image_id, c.similarity, c.estimated_fmr, c.above_threshold,
                   (SELECT count(*) FROM candidate_decisions x WHERE x.search_id = c.search_id AND x.rank = c.rank AND x.decision = 'confirm')
            FROM case_users cu
            JOIN cases k ON k.id = cu.case_id AND k.status = 'open'
            JOIN searches s ON s.case_id = cu.case_id
            JOIN search_candidates c ON c.search_id = s.id
            WHERE cu.user_id = $user
              AND c.above_threshold = 1
              AND s.by_user <> $name COLLATE NOCASE
              AND NOT EXISTS (SELECT 1 FROM candidate_decisions d WHERE d.search_id = c.search_id AND d.rank = c.rank AND d.user_id = $user)
            ORDER BY c.search_id, c.rank
            LIMIT $limit
            """;
        command.Parameters.AddWithValue("$user", user.Id);
        command.Parameters.AddWithValue("$name", user.Name);
        command.Parameters.AddWithValue("$limit", limit);
        var rows = new List<(SearchRecord Search, StoredCandidate Candidate, int Confirmations)>();
        using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                rows.Add((ReadSearch(reader), ReadCandidate(reader, 22), reader.GetInt32(28)));
            }
        }

        var cases = new Dictionary<long, CaseRecord>();
        foreach (var caseId in rows.Select(r => r.Search.CaseId!.Value).Distinct())
        {
            cases[caseId] = (await ReadCaseAsync(connection, null, "c.id = $key", caseId, ct).ConfigureAwait(false))!;
        }

        return rows.Select(r => new ReviewItem(r.Search, cases[r.Search.CaseId!.Value], r.Candidate, r.Confirmations)).ToList();
    }

    public async Task<LeadExport> ExportLeadAsync(long searchId, int rank, string userName, CancellationToken ct = default)
    {
        CandidateReviews.RequireUserName(userName);
        var (export, refusal) = await WriteAsync<(LeadExport?, ReviewRefusedException?)>(async tx =>
        {
            var subject = CandidateReviews.CandidateSubject(searchId, rank);
            var target = await ReadTargetAsync(tx, searchId, rank, ct).ConfigureAwait(false);
            if (target is not { Case: { } found } t)
            {
                await AppendAuditAsync(tx, new NewAuditEvent(userName, AuditActions.Export, subject,
                    AuditDetails.Empty.With("outcome", "refused").With("refusal", ReviewRefusals.NoSuchCandidate)), ct).ConfigureAwait(false);
                return (null, new ReviewRefusedException(ReviewRefusals.NoSuchCandidate, CandidateReviews.NoSuchCandidateMessage(searchId, rank)));
            }

            var decisions = await ReadDecisionsAsync(_writer, tx, "d.search_id = $a AND d.rank = $b", searchId, rank, null, ct).ConfigureAwait(false);
            var status = LeadRules.Status(decisions);
            var details = CandidateReviews.ExportDetails(found, t, status, decisions);
            if (status != LeadStatus.Confirmed)
            {
                await AppendAuditAsync(tx, new NewAuditEvent(userName, AuditActions.Export, subject,
                    details.With("outcome", "refused").With("refusal", ReviewRefusals.NotConfirmed)), ct).ConfigureAwait(false);
                return (null, CandidateReviews.NotConfirmed(searchId, rank, status));
            }

            var logged = await AppendAuditAsync(tx, new NewAuditEvent(userName, AuditActions.Export, subject, details.With("outcome", "exported")), ct)
                .ConfigureAwait(false);
            return (new LeadExport(t.Search, found, t.Candidate, decisions, logged.At, logged.Seq), null);
        }, ct).ConfigureAwait(false);
        return refusal is null ? export! : throw refusal;
    }

    /// <summary>The candidate with its search and case, read in the write transaction; null when there is no such candidate.</summary>
    private async Task<ReviewTarget?> ReadTargetAsync(SqliteTransaction tx, long searchId, int rank, CancellationToken ct)
    {
        SearchRecord search;
        StoredCandidate candidate;
        using (var command = _writer.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = $"""
                SELECT {s_searchColumnsOfS}, c.rank, c.face_id, c.image_id, c.similarity, c.estimated_fmr, c.above_threshold
                FROM search_candidates c JOIN searches s ON s.id = c.search_id
                WHERE c.search_id = $search AND c.rank = $rank
                """;
            command.Parameters.AddWithValue("$search", searchId);
            command.Parameters.AddWithValue("$rank", rank);
            using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            search = ReadSearch(reader);
            candidate = ReadCandidate(reader, 22);
        }

        var found = search.CaseId is { } caseId ? await ReadCaseAsync(_writer, tx, "c.id = $key", caseId, ct).ConfigureAwait(false) : null;
        return new ReviewTarget(search, found, candidate);
    }

    private static async Task<IReadOnlyList<CandidateDecision>> ReadDecisionsAsync(
        SqliteConnection connection, SqliteTransaction? tx, string condition, long a, long? b, long? c, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = $"SELECT {DecisionColumns} FROM candidate_decisions d JOIN users u ON u.id = d.user_id WHERE {condition} ORDER BY d.id";
        command.Parameters.AddWithValue("$a", a);
        command.Parameters.AddWithValue("$b", (object?)b ?? DBNull.Value);
        command.Parameters.AddWithValue("$c", (object?)c ?? DBNull.Value);
        var decisions = new List<CandidateDecision>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            decisions.Add(new CandidateDecision(
                reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetString(3),
                reader.GetString(4) == "confirm" ? ReviewDecision.Confirm : ReviewDecision.Reject,
                reader.IsDBNull(5) ? null : reader.GetString(5), ParseTime(reader.GetString(6))));
        }

        return decisions;
    }

    private static StoredCandidate ReadCandidate(SqliteDataReader r, int o) =>
        new(r.GetInt32(o), r.GetInt64(o + 1), r.GetInt64(o + 2), (float)r.GetDouble(o + 3), r.IsDBNull(o + 4) ? null : r.GetDouble(o + 4), r.GetInt64(o + 5) != 0);

    /// <summary>The status as audit details and messages spell it.</summary>
    internal static string StatusText(LeadStatus status) => status switch
    {
        LeadStatus.Unreviewed => "unreviewed",
        LeadStatus.AwaitingSecond => "awaiting_second",
        LeadStatus.Confirmed => "confirmed",
        LeadStatus.Rejected => "rejected",
        LeadStatus.Disputed => "disputed",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };
}
