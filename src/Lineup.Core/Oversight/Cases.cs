using Lineup.Core.Security;

namespace Lineup.Core.Oversight;

/// <summary>Whether a case accepts searches (it must also be authorised and unexpired).</summary>
public enum CaseStatus
{
    Open,
    Closed,
}

/// <summary>A case as it is opened: what it is about and what authorises searching for it.</summary>
/// <param name="Number">The agency's case number, unique ignoring case (1–64 characters, no control characters).</param>
/// <param name="Offence">The offence category, one of the configured allowlist (<see cref="OversightPolicy.Offences"/>).</param>
/// <param name="Purpose">Why faces are searched in this case, in words (shown in the disclosure report).</param>
/// <param name="AuthorisationReference">The warrant, order or internal approval that authorises the searches.</param>
/// <param name="AuthorisedUntil">When that authorisation expires; searches after it are refused.</param>
public sealed record NewCase(string Number, string Offence, string Purpose, string AuthorisationReference, DateTimeOffset AuthorisedUntil);

/// <summary>A case with its assigned users (need-to-know).</summary>
/// <param name="LegalHold">Nothing of the case expires while set (retention skips it).</param>
public sealed record CaseRecord(
    long Id,
    string Number,
    string Offence,
    string Purpose,
    string AuthorisationReference,
    DateTimeOffset AuthorisedUntil,
    CaseStatus Status,
    bool LegalHold,
    DateTimeOffset CreatedAt,
    string CreatedBy,
    DateTimeOffset? ClosedAt,
    IReadOnlyList<string> AssignedUsers)
{
    public bool IsAssigned(string userName) => AssignedUsers.Contains(userName, StringComparer.OrdinalIgnoreCase);

    public bool IsAuthorisedAt(DateTimeOffset now) => now < AuthorisedUntil;
}

/// <summary>
/// Cases, their assignments and the clearances of users. Every change appends an audit event (action
/// <see cref="Audit.AuditActions.Admin"/>) in the same transaction. An unknown case or user number throws
/// <see cref="Catalog.CatalogException"/>; invalid arguments <see cref="ArgumentException"/>.
/// </summary>
public interface ICaseStore
{
    /// <summary>Opens a case; a number already used (ignoring case) is a <see cref="Catalog.CatalogException"/>.</summary>
    Task<CaseRecord> OpenCaseAsync(NewCase newCase, string by, CancellationToken ct = default);

    /// <summary>The case numbered <paramref name="number"/> (ignoring case), or null.</summary>
    Task<CaseRecord?> FindCaseAsync(string number, CancellationToken ct = default);

    Task<CaseRecord?> GetCaseAsync(long id, CancellationToken ct = default);

    /// <summary>Every case, or only those <paramref name="assignedTo"/> is assigned to; newest first.</summary>
    Task<IReadOnlyList<CaseRecord>> ListCasesAsync(string? assignedTo = null, CancellationToken ct = default);

    Task<CaseRecord> AssignAsync(string number, string userName, string by, CancellationToken ct = default);

    Task<CaseRecord> UnassignAsync(string number, string userName, string by, CancellationToken ct = default);

    /// <summary>Closes the case: no more searches. Closing a closed case changes nothing and is not an error.</summary>
    Task<CaseRecord> CloseCaseAsync(string number, string by, CancellationToken ct = default);

    /// <summary>Records a renewed (or new) authorisation and its expiry.</summary>
    Task<CaseRecord> ReauthoriseAsync(string number, string reference, DateTimeOffset until, string by, CancellationToken ct = default);

    /// <summary>Sets or lifts the legal hold; <paramref name="reason"/> is recorded in the audit event.</summary>
    Task<CaseRecord> SetLegalHoldAsync(string number, bool hold, string reason, string by, CancellationToken ct = default);

    /// <summary>Records when the user's NDA and training expire (null: not recorded, which refuses searching).</summary>
    Task<UserAccount> SetClearanceAsync(string userName, DateTimeOffset? ndaUntil, DateTimeOffset? trainingUntil, string by, CancellationToken ct = default);
}
