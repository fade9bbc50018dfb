using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Npgsql;

namespace Lineup.Storage.Postgres;

/// <summary>Cases, assignments and clearances (<see cref="ICaseStore"/>), each change audited in its own transaction.</summary>
/// <remarks>
/// Every change to a case first locks the case's row (<c>SELECT … FOR UPDATE</c>). SQLite's single writer ordered
/// them for free; here, without the lock, an unassignment that ran its <c>DELETE</c> before a concurrent assignment
/// committed would append its event after the assignment's, leaving the log saying "unassigned" of a user who is
/// assigned. With the lock, changes to one case take effect and are audited one after another, in the same order.
/// </remarks>
public sealed partial class PostgresCatalog : ICaseStore
{
    public const int MaxCaseNumberLength = SqliteCatalog.MaxCaseNumberLength;
    public const int MaxCaseTextLength = SqliteCatalog.MaxCaseTextLength;

    private const string CaseColumns =
        "c.id, c.number, c.offence, c.purpose, c.authorisation_ref, c.authorised_until, c.status, c.legal_hold, c.created_at, c.created_by, c.closed_at";

    /// <summary>
    /// The names of the users assigned to case <c>c</c>, as one text[] column after <see cref="CaseColumns"/>: read in
    /// the same statement as the case, so the list belongs to the same snapshot. Ordered as SQLite orders the NOCASE
    /// column (ASCII-lowered bytes).
    /// </summary>
    private const string AssignedUsersColumn =
        "ARRAY(SELECT u.name FROM case_users cu JOIN users u ON u.id = cu.user_id WHERE cu.case_id = c.id ORDER BY lower(u.name) COLLATE \"C\")";

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
            return await WriteAsync(async (connection, tx) =>
            {
                // Two processes opening "K-1" and "k-1" at once: the unique index on lower(number) lets one commit and
                // the other fail with a unique violation, which rolls back its audit event with it.
                CaseRecord opened;
                await using (var insert = new NpgsqlCommand(
                    $"""
                    INSERT INTO cases AS c (number, offence, purpose, authorisation_ref, authorised_until, status, created_at, created_by)
                    VALUES (@number, @offence, @purpose, @ref, @until, 'open', @now, @by) RETURNING {CaseColumns}
                    """, connection, tx))
                {
                    insert.Parameters.AddWithValue("number", newCase.Number.Trim());
                    insert.Parameters.AddWithValue("offence", newCase.Offence.Trim());
                    insert.Parameters.AddWithValue("purpose", newCase.Purpose.Trim());
                    insert.Parameters.AddWithValue("ref", newCase.AuthorisationReference.Trim());
                    insert.Parameters.AddWithValue("until", SqliteCatalog.FormatTime(newCase.AuthorisedUntil));
                    insert.Parameters.AddWithValue("now", SqliteCatalog.FormatTime(_clock.GetUtcNow()));
                    insert.Parameters.AddWithValue("by", by);
                    await using var reader = await insert.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    await reader.ReadAsync(ct).ConfigureAwait(false);
                    opened = ReadCase(reader);
                }

                var details = AuditDetails.Empty
                    .With("change", "case.open")
                    .With("offence", opened.Offence)
                    .With("authorisation", Truncate(opened.AuthorisationReference, 200))
                    .With("authorised_until", SqliteCatalog.FormatTime(opened.AuthorisedUntil));
                await AppendAuditAsync(connection, tx, new NewAuditEvent(by, AuditActions.Admin, $"case:{opened.Number}", details), ct)
                    .ConfigureAwait(false);
                return opened;
            }, ct).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new CatalogException($"Case {newCase.Number.Trim()} already exists (case numbers are compared ignoring case).", ex);
        }
    }

    public async Task<CaseRecord?> FindCaseAsync(string number, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(number);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await ReadCaseAsync(connection, null, "lower(c.number) = lower(@key)", number.Trim(), ct).ConfigureAwait(false);
    }

    public async Task<CaseRecord?> GetCaseAsync(long id, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await ReadCaseAsync(connection, null, "c.id = @key", id, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<CaseRecord>> ListCasesAsync(string? assignedTo = null, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            assignedTo is null
                ? $"SELECT {CaseColumns}, {AssignedUsersColumn} FROM cases c ORDER BY c.id DESC"
                : $"""
                  SELECT {CaseColumns}, {AssignedUsersColumn} FROM cases c
                  WHERE EXISTS (SELECT 1 FROM case_users cu JOIN users u ON u.id = cu.user_id
                                WHERE cu.case_id = c.id AND lower(u.name) = lower(@user))
                  ORDER BY c.id DESC
                  """,
            connection);
        if (assignedTo is not null)
        {
            command.Parameters.AddWithValue("user", assignedTo);
        }

        var cases = new List<CaseRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            cases.Add(ReadCase(reader));
        }

        return cases;
    }

    public async Task<CaseRecord> AssignAsync(string number, string userName, string by, CancellationToken ct = default) =>
        await ChangeCaseAsync(number, by, "case.assign", async (connection, tx, found) =>
        {
            var user = await RequireUserAsync(connection, tx, userName, ct).ConfigureAwait(false);
            await using var insert = new NpgsqlCommand(
                """
                INSERT INTO case_users(case_id, user_id, assigned_at, assigned_by) VALUES (@case, @user, @now, @by)
                ON CONFLICT DO NOTHING
                """, connection, tx);
            insert.Parameters.AddWithValue("case", found.Id);
            insert.Parameters.AddWithValue("user", user.Id);
            insert.Parameters.AddWithValue("now", SqliteCatalog.FormatTime(_clock.GetUtcNow()));
            insert.Parameters.AddWithValue("by", by);
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return AuditDetails.Empty.With("user", user.Name);
        }, ct).ConfigureAwait(false);

    public async Task<CaseRecord> UnassignAsync(string number, string userName, string by, CancellationToken ct = default) =>
        await ChangeCaseAsync(number, by, "case.unassign", async (connection, tx, found) =>
        {
            var user = await RequireUserAsync(connection, tx, userName, ct).ConfigureAwait(false);
            await using var delete = new NpgsqlCommand("DELETE FROM case_users WHERE case_id = @case AND user_id = @user", connection, tx);
            delete.Parameters.AddWithValue("case", found.Id);
            delete.Parameters.AddWithValue("user", user.Id);
            await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return AuditDetails.Empty.With("user", user.Name);
        }, ct).ConfigureAwait(false);

    public async Task<CaseRecord> CloseCaseAsync(string number, string by, CancellationToken ct = default) =>
        await ChangeCaseAsync(number, by, "case.close", async (connection, tx, found) =>
        {
            await ExecuteCaseUpdateAsync(
                connection, tx, found.Id, "status = 'closed', closed_at = coalesce(closed_at, @a)", SqliteCatalog.FormatTime(_clock.GetUtcNow()), null, ct)
                .ConfigureAwait(false);
            return AuditDetails.Empty;
        }, ct).ConfigureAwait(false);

    public async Task<CaseRecord> ReauthoriseAsync(string number, string reference, DateTimeOffset until, string by, CancellationToken ct = default)
    {
        RequireCaseText(reference, "authorisation reference", 200);
        return await ChangeCaseAsync(number, by, "case.reauthorise", async (connection, tx, found) =>
        {
            await ExecuteCaseUpdateAsync(
                connection, tx, found.Id, "authorisation_ref = @a, authorised_until = @b", reference.Trim(), SqliteCatalog.FormatTime(until), ct)
                .ConfigureAwait(false);
            return AuditDetails.Empty
                .With("authorisation", Truncate(reference.Trim(), 200))
                .With("authorised_until", SqliteCatalog.FormatTime(until));
        }, ct).ConfigureAwait(false);
    }

    public async Task<CaseRecord> SetLegalHoldAsync(string number, bool hold, string reason, string by, CancellationToken ct = default)
    {
        RequireCaseText(reason, "reason", AuditDetails.MaxTextLength);
        return await ChangeCaseAsync(number, by, hold ? "case.hold" : "case.release", async (connection, tx, found) =>
        {
            await ExecuteCaseUpdateAsync(connection, tx, found.Id, "legal_hold = @a", hold ? 1 : 0, null, ct).ConfigureAwait(false);
            return AuditDetails.Empty.With("reason", reason.Trim());
        }, ct).ConfigureAwait(false);
    }

    public async Task<UserAccount> SetClearanceAsync(
        string userName, DateTimeOffset? ndaUntil, DateTimeOffset? trainingUntil, string by, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(userName);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        return await WriteAsync(async (connection, tx) =>
        {
            // One statement on the user's row: its lock orders concurrent clearances, each audited after it.
            await using var update = new NpgsqlCommand(
                $"UPDATE users u SET nda_until = @nda, training_until = @training WHERE lower(u.name) = lower(@name) RETURNING {UserColumns}",
                connection, tx);
            update.Parameters.AddWithValue("nda", ndaUntil is { } n ? SqliteCatalog.FormatTime(n) : DBNull.Value);
            update.Parameters.AddWithValue("training", trainingUntil is { } t ? SqliteCatalog.FormatTime(t) : DBNull.Value);
            update.Parameters.AddWithValue("name", userName);
            var user = await ReadOneUserAsync(update, ct).ConfigureAwait(false)
                ?? throw new CatalogException($"There is no user named '{userName}'.");
            var details = AuditDetails.Empty
                .With("nda_until", ndaUntil is { } a ? SqliteCatalog.FormatTime(a) : "none")
                .With("training_until", trainingUntil is { } b ? SqliteCatalog.FormatTime(b) : "none");
            await AppendAuditAsync(connection, tx, new NewAuditEvent(by, AuditActions.Admin, $"user:{user.Name}", details.With("change", "user.clearance")), ct)
                .ConfigureAwait(false);
            return user;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Locks the case's row, applies <paramref name="apply"/>, audits the change as <paramref name="change"/> and returns
    /// the case as it now stands, all in one transaction.
    /// </summary>
    private async Task<CaseRecord> ChangeCaseAsync(
        string number, string by, string change, Func<NpgsqlConnection, NpgsqlTransaction, CaseRecord, Task<AuditDetails>> apply, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(number);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        return await WriteAsync(async (connection, tx) =>
        {
            long id;
            await using (var lockCase = new NpgsqlCommand("SELECT id FROM cases WHERE lower(number) = lower(@number) FOR UPDATE", connection, tx))
            {
                lockCase.Parameters.AddWithValue("number", number.Trim());
                id = await lockCase.ExecuteScalarAsync(ct).ConfigureAwait(false) as long?
                    ?? throw new CatalogException($"There is no case '{number}'.");
            }

            // Read after the lock, in a statement of its own: read committed gives it a snapshot that includes every
            // change committed before the lock was granted (the assignments too, which the lock does not cover).
            var found = (await ReadCaseAsync(connection, tx, "c.id = @key", id, ct).ConfigureAwait(false))!;
            var details = await apply(connection, tx, found).ConfigureAwait(false);
            await AppendAuditAsync(connection, tx, new NewAuditEvent(by, AuditActions.Admin, $"case:{found.Number}", details.With("change", change)), ct)
                .ConfigureAwait(false);
            return (await ReadCaseAsync(connection, tx, "c.id = @key", id, ct).ConfigureAwait(false))!;
        }, ct).ConfigureAwait(false);
    }

    private static async Task ExecuteCaseUpdateAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, long caseId, string assignment, object a, object? b, CancellationToken ct)
    {
        await using var update = new NpgsqlCommand($"UPDATE cases SET {assignment} WHERE id = @id", connection, tx);
        update.Parameters.AddWithValue("id", caseId);
        update.Parameters.AddWithValue("a", a);
        if (b is not null)
        {
            update.Parameters.AddWithValue("b", b);
        }

        await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<UserAccount> RequireUserAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string userName, CancellationToken ct) =>
        await ReadUserAsync(connection, tx, "lower(u.name) = lower(@key)", userName, ct).ConfigureAwait(false)
            ?? throw new CatalogException($"There is no user named '{userName}'.");

    /// <summary>The case matching <paramref name="condition"/> (on alias <c>c</c>, parameter <c>@key</c>) with its assigned users, or null.</summary>
    private static async Task<CaseRecord?> ReadCaseAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string condition, object key, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT {CaseColumns}, {AssignedUsersColumn} FROM cases c WHERE {condition}", connection, tx);
        command.Parameters.AddWithValue("key", key);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadCase(reader) : null;
    }

    /// <summary>A case from <see cref="CaseColumns"/>, with the assigned users when <see cref="AssignedUsersColumn"/> follows.</summary>
    private static CaseRecord ReadCase(NpgsqlDataReader r) =>
        new(
            r.GetInt64(0),
            r.GetString(1),
            r.GetString(2),
            r.GetString(3),
            r.GetString(4),
            SqliteCatalog.ParseTime(r.GetString(5)),
            r.GetString(6) == "open" ? CaseStatus.Open : CaseStatus.Closed,
            r.GetInt32(7) != 0,
            SqliteCatalog.ParseTime(r.GetString(8)),
            r.GetString(9),
            NullableTime(r, 10),
            r.FieldCount > 11 ? r.GetFieldValue<string[]>(11) : []);

    private static void RequireCaseText(string? text, string what, int maxLength) => SqliteCatalog.RequireCaseText(text, what, maxLength);
}
