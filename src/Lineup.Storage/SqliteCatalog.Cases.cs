using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>Cases, assignments and clearances (<see cref="ICaseStore"/>), each change audited in its own transaction.</summary>
public sealed partial class SqliteCatalog : ICaseStore
{
    public const int MaxCaseNumberLength = 64;
    public const int MaxCaseTextLength = 1000;

    private const string CaseColumns =
        "c.id, c.number, c.offence, c.purpose, c.authorisation_ref, c.authorised_until, c.status, c.legal_hold, c.created_at, c.created_by, c.closed_at";

    public async Task<CaseRecord> OpenCaseAsync(NewCase newCase, string by, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(newCase);
        RequireCaseText(newCase.Number, "case number", MaxCaseNumberLength);
        RequireCaseText(newCase.Offence, "offence", 100);
        RequireCaseText(newCase.Purpose, "purpose", MaxCaseTextLength);
        RequireCaseText(newCase.AuthorisationReference, "authorisation reference", 200);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        try
        {
            return await WriteAsync(async tx =>
            {
                using var insert = _writer.CreateCommand();
                insert.Transaction = tx;
                insert.CommandText = """
                    INSERT INTO cases(number, offence, purpose, authorisation_ref, authorised_until, status, created_at, created_by)
                    VALUES ($number, $offence, $purpose, $ref, $until, 'open', $now, $by) RETURNING id
                    """;
                insert.Parameters.AddWithValue("$number", newCase.Number.Trim());
                insert.Parameters.AddWithValue("$offence", newCase.Offence.Trim());
                insert.Parameters.AddWithValue("$purpose", newCase.Purpose.Trim());
                insert.Parameters.AddWithValue("$ref", newCase.AuthorisationReference.Trim());
                insert.Parameters.AddWithValue("$until", FormatTime(newCase.AuthorisedUntil));
                insert.Parameters.AddWithValue("$now", FormatTime(_clock.GetUtcNow()));
                insert.Parameters.AddWithValue("$by", by);
                var id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                var opened = (await ReadCaseAsync(_writer, tx, "c.id = $key", id, ct).ConfigureAwait(false))!;
                var details = AuditDetails.Empty
                    .With("change", "case.open")
                    .With("offence", opened.Offence)
                    .With("authorisation", Truncate(opened.AuthorisationReference, 200))
                    .With("authorised_until", FormatTime(opened.AuthorisedUntil));
                await AppendAuditAsync(tx, new NewAuditEvent(by, AuditActions.Admin, $"case:{opened.Number}", details), ct).ConfigureAwait(false);
                return opened;
            }, ct).ConfigureAwait(false);
        }
        catch (SqliteException ex) when (ex.SqliteExtendedErrorCode == SqliteConstraintUnique)
        {
            throw new CatalogException($"Case {newCase.Number.Trim()} already exists (case numbers are compared ignoring case).", ex);
        }
    }

    public async Task<CaseRecord?> FindCaseAsync(string number, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(number);
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await ReadCaseAsync(connection, null, "c.number = $key", number.Trim(), ct).ConfigureAwait(false);
    }

    public async Task<CaseRecord?> GetCaseAsync(long id, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await ReadCaseAsync(connection, null, "c.id = $key", id, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<CaseRecord>> ListCasesAsync(string? assignedTo = null, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = assignedTo is null
            ? $"SELECT {CaseColumns} FROM cases c ORDER BY c.id DESC"
            : $"""
              SELECT {CaseColumns} FROM cases c
              JOIN case_users cu ON cu.case_id = c.id JOIN users u ON u.id = cu.user_id
              WHERE u.name = $user ORDER BY c.id DESC
              """;
        command.Parameters.AddWithValue("$user", (object?)assignedTo ?? DBNull.Value);
        var cases = new List<CaseRecord>();
        using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                cases.Add(ReadCase(reader));
            }
        }

        var assigned = await AssignmentsAsync(connection, null, null, ct).ConfigureAwait(false);
        return cases.Select(c => c with { AssignedUsers = assigned.GetValueOrDefault(c.Id, []) }).ToList();
    }

    public async Task<CaseRecord> AssignAsync(string number, string userName, string by, CancellationToken ct = default) =>
        await ChangeCaseAsync(number, by, "case.assign", async (tx, found) =>
        {
            var user = await RequireUserAsync(tx, userName, ct).ConfigureAwait(false);
            using var insert = _writer.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = """
                INSERT INTO case_users(case_id, user_id, assigned_at, assigned_by) VALUES ($case, $user, $now, $by)
                ON CONFLICT DO NOTHING
                """;
            insert.Parameters.AddWithValue("$case", found.Id);
            insert.Parameters.AddWithValue("$user", user.Id);
            insert.Parameters.AddWithValue("$now", FormatTime(_clock.GetUtcNow()));
            insert.Parameters.AddWithValue("$by", by);
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return AuditDetails.Empty.With("user", user.Name);
        }, ct).ConfigureAwait(false);

    public async Task<CaseRecord> UnassignAsync(string number, string userName, string by, CancellationToken ct = default) =>
        await ChangeCaseAsync(number, by, "case.unassign", async (tx, found) =>
        {
            var user = await RequireUserAsync(tx, userName, ct).ConfigureAwait(false);
            using var delete = _writer.CreateCommand();
            delete.Transaction = tx;
            delete.CommandText = "DELETE FROM case_users WHERE case_id = $case AND user_id = $user";
            delete.Parameters.AddWithValue("$case", found.Id);
            delete.Parameters.AddWithValue("$user", user.Id);
            await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return AuditDetails.Empty.With("user", user.Name);
        }, ct).ConfigureAwait(false);

    public async Task<CaseRecord> CloseCaseAsync(string number, string by, CancellationToken ct = default) =>
        await ChangeCaseAsync(number, by, "case.close", async (tx, found) =>
        {
            await ExecuteCaseUpdateAsync(tx, found.Id, "status = 'closed', closed_at = coalesce(closed_at, $a)", FormatTime(_clock.GetUtcNow()), null, ct)
                .ConfigureAwait(false);
            return AuditDetails.Empty;
        }, ct).ConfigureAwait(false);

    public async Task<CaseRecord> ReauthoriseAsync(string number, string reference, DateTimeOffset until, string by, CancellationToken ct = default)
    {
        RequireCaseText(reference, "authorisation reference", 200);
        return await ChangeCaseAsync(number, by, "case.reauthorise", async (tx, found) =>
        {
            await ExecuteCaseUpdateAsync(tx, found.Id, "authorisation_ref = $a, authorised_until = $b", reference.Trim(), FormatTime(until), ct)
                .ConfigureAwait(false);
            return AuditDetails.Empty.With("authorisation", Truncate(reference.Trim(), 200)).With("authorised_until", FormatTime(until));
        }, ct).ConfigureAwait(false);
    }

    public async Task<CaseRecord> SetLegalHoldAsync(string number, bool hold, string reason, string by, CancellationToken ct = default)
    {
        RequireCaseText(reason, "reason", AuditDetails.MaxTextLength);
        return await ChangeCaseAsync(number, by, hold ? "case.hold" : "case.release", async (tx, found) =>
        {
            await ExecuteCaseUpdateAsync(tx, found.Id, "legal_hold = $a", hold ? 1 : 0, null, ct).ConfigureAwait(false);
            return AuditDetails.Empty.With("reason", reason.Trim());
        }, ct).ConfigureAwait(false);
    }

    public async Task<UserAccount> SetClearanceAsync(
        string userName, DateTimeOffset? ndaUntil, DateTimeOffset? trainingUntil, string by, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(userName);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        return await WriteAsync(async tx =>
        {
            var user = await RequireUserAsync(tx, userName, ct).ConfigureAwait(false);
            using var update = _writer.CreateCommand();
            update.Transaction = tx;
            update.CommandText = "UPDATE users SET nda_until = $nda, training_until = $training WHERE id = $id";
            update.Parameters.AddWithValue("$nda", ndaUntil is { } n ? FormatTime(n) : DBNull.Value);
            update.Parameters.AddWithValue("$training", trainingUntil is { } t ? FormatTime(t) : DBNull.Value);
            update.Parameters.AddWithValue("$id", user.Id);
            await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            var details = AuditDetails.Empty
                .With("nda_until", ndaUntil is { } a ? FormatTime(a) : "none")
                .With("training_until", trainingUntil is { } b ? FormatTime(b) : "none");
            await AppendAuditAsync(tx, new NewAuditEvent(by, AuditActions.Admin, $"user:{user.Name}", details.With("change", "user.clearance")), ct)
                .ConfigureAwait(false);
            return (await ReadUserAsync(_writer, tx, "u.id = $key", user.Id, ct).ConfigureAwait(false))!;
        }, ct).ConfigureAwait(false);
    }

    private async Task<CaseRecord> ChangeCaseAsync(
        string number, string by, string change, Func<SqliteTransaction, CaseRecord, Task<AuditDetails>> apply, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(number);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        return await WriteAsync(async tx =>
        {
            var found = await ReadCaseAsync(_writer, tx, "c.number = $key", number.Trim(), ct).ConfigureAwait(false)
                ?? throw new CatalogException($"There is no case '{number}'.");
            var details = await apply(tx, found).ConfigureAwait(false);
            await AppendAuditAsync(tx, new NewAuditEvent(by, AuditActions.Admin, $"case:{found.Number}", details.With("change", change)), ct)
                .ConfigureAwait(false);
            return (await ReadCaseAsync(_writer, tx, "c.id = $key", found.Id, ct).ConfigureAwait(false))!;
        }, ct).ConfigureAwait(false);
    }

    private async Task ExecuteCaseUpdateAsync(SqliteTransaction tx, long caseId, string assignment, object a, object? b, CancellationToken ct)
    {
        using var update = _writer.CreateCommand();
        update.Transaction = tx;
        update.CommandText = $"UPDATE cases SET {assignment} WHERE id = $id";
        update.Parameters.AddWithValue("$id", caseId);
        update.Parameters.AddWithValue("$a", a);
        if (b is not null)
        {
            update.Parameters.AddWithValue("$b", b);
        }

        await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private async Task<UserAccount> RequireUserAsync(SqliteTransaction tx, string userName, CancellationToken ct) =>
        await ReadUserAsync(_writer, tx, "u.name = $key", userName, ct).ConfigureAwait(false)
            ?? throw new CatalogException($"There is no user named '{userName}'.");

    private static async Task<CaseRecord?> ReadCaseAsync(SqliteConnection connection, SqliteTransaction? tx, string condition, object key, CancellationToken ct)
    {
        CaseRecord? found;
        using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = $"SELECT {CaseColumns} FROM cases c WHERE {condition}";
            command.Parameters.AddWithValue("$key", key);
            using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            found = await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadCase(reader) : null;
        }

        if (found is null)
        {
            return null;
        }

        var assigned = await AssignmentsAsync(connection, tx, found.Id, ct).ConfigureAwait(false);
        return found with { AssignedUsers = assigned.GetValueOrDefault(found.Id, []) };
    }

    private static async Task<Dictionary<long, IReadOnlyList<string>>> AssignmentsAsync(
        SqliteConnection connection, SqliteTransaction? tx, long? caseId, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = """
            SELECT cu.case_id, u.name FROM case_users cu JOIN users u ON u.id = cu.user_id
            WHERE $case IS NULL OR cu.case_id = $case ORDER BY u.name
            """;
        command.Parameters.AddWithValue("$case", (object?)caseId ?? DBNull.Value);
        var map = new Dictionary<long, List<string>>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var id = reader.GetInt64(0);
            if (!map.TryGetValue(id, out var names))
            {
                map[id] = names = [];
            }

            names.Add(reader.GetString(1));
        }

        return map.ToDictionary(e => e.Key, e => (IReadOnlyList<string>)e.Value);
    }

    private static CaseRecord ReadCase(SqliteDataReader r) =>
        new(
            r.GetInt64(0),
            r.GetString(1),
            r.GetString(2),
            r.GetString(3),
            r.GetString(4),
            ParseTime(r.GetString(5)),
            r.GetString(6) == "open" ? CaseStatus.Open : CaseStatus.Closed,
            r.GetInt64(7) != 0,
            ParseTime(r.GetString(8)),
            r.GetString(9),
            NullableTime(r, 10),
            []);

    internal static void RequireCaseText(string? text, string what, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ArgumentException($"The {what} is required.");
        }

        if (text.Trim().Length > maxLength)
        {
            throw new ArgumentException($"The {what} is {text.Trim().Length} characters; at most {maxLength} are allowed.");
        }

        if (text.Any(char.IsControl))
        {
            throw new ArgumentException($"The {what} contains a control character.");
        }
    }
}
