using Lineup.Core.Security;

namespace Lineup.Core.Oversight;

/// <summary>Why a search was refused before anything of the probe was analysed. Stored as <see cref="SearchIntake.Code"/>.</summary>
public enum IntakeRefusal
{
    UnknownUser,
    UserDisabled,
    NotAnAnalyst,
    NdaExpired,
    TrainingExpired,
    NoCase,
    UnknownCase,
    CaseClosed,
    OffenceNotAllowed,
    AuthorisationExpired,
    NotAssigned,
    NoAttestation,
    UnknownSource,
    RefusedSource,
}

/// <summary>The rules of what the oversight issue calls intake, configured per installation.</summary>
/// <param name="Offences">The offence categories a case may be opened for (compared ignoring case).</param>
public sealed record OversightPolicy(IReadOnlyList<string> Offences)
{
    /// <summary>Serious offences only: what public policies (e.g. Detroit's) allow face search for.</summary>
    public static IReadOnlyList<string> DefaultOffences { get; } =
    [
        "homicide", "sexual-assault", "robbery", "kidnapping", "human-trafficking", "aggravated-assault", "home-invasion",
        "carjacking", "terrorism", "child-exploitation", "missing-person",
    ];

    public static OversightPolicy Default { get; } = new(DefaultOffences);

    public string? FindOffence(string? offence) =>
        offence is null ? null : Offences.FirstOrDefault(o => string.Equals(o, offence.Trim(), StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// The intake check of a search: the user may search (enabled analyst with a current NDA and training), the case is
/// open, for an allowed offence, authorised and unexpired, the user is assigned to it, and the probe is attested as a
/// genuine photo. Pure: the caller loads the user and the case and records the outcome.
/// </summary>
public static class SearchIntake
{
    /// <summary>The stored spelling of a refusal, e.g. <c>authorisation_expired</c>.</summary>
    public static string Code(IntakeRefusal refusal) => refusal switch
    {
        IntakeRefusal.UnknownUser => "unknown_user",
        IntakeRefusal.UserDisabled => "user_disabled",
        IntakeRefusal.NotAnAnalyst => "not_an_analyst",
        IntakeRefusal.NdaExpired => "nda_expired",
        IntakeRefusal.TrainingExpired => "training_expired",
        IntakeRefusal.NoCase => "no_case",
        IntakeRefusal.UnknownCase => "unknown_case",
        IntakeRefusal.CaseClosed => "case_closed",
        IntakeRefusal.OffenceNotAllowed => "offence_not_allowed",
        IntakeRefusal.AuthorisationExpired => "authorisation_expired",
        IntakeRefusal.NotAssigned => "not_assigned",
        IntakeRefusal.NoAttestation => "no_attestation",
        IntakeRefusal.UnknownSource => "unknown_source",
        IntakeRefusal.RefusedSource => "refused_source",
        _ => throw new ArgumentOutOfRangeException(nameof(refusal), refusal, null),
    };

    /// <summary>The refusal whose <see cref="Code"/> is <paramref name="code"/>, or null.</summary>
    public static IntakeRefusal? Parse(string? code) =>
        Enum.GetValues<IntakeRefusal>().Cast<IntakeRefusal?>().FirstOrDefault(r => Code(r!.Value) == code);

    /// <summary>Whether <paramref name="user"/> may act as a user now: enabled, NDA and training current.</summary>
    public static (IntakeRefusal Refusal, string Message)? CheckUser(UserAccount? user, string userName, DateTimeOffset now)
    {
        if (user is null)
        {
            return (IntakeRefusal.UnknownUser, $"There is no user '{userName}'.");
        }

        if (user.IsDisabled)
        {
            return (IntakeRefusal.UserDisabled, $"User '{user.Name}' is disabled.");
        }

        if (user.NdaUntil is not { } nda)
        {
            return (IntakeRefusal.NdaExpired, $"User '{user.Name}' has no confidentiality agreement on record.");
        }

        if (nda <= now)
        {
            return (IntakeRefusal.NdaExpired, $"The confidentiality agreement of user '{user.Name}' expired on {nda:yyyy-MM-dd}.");
        }

        if (user.TrainingUntil is not { } training)
        {
            return (IntakeRefusal.TrainingExpired, $"User '{user.Name}' has no face-search training on record.");
        }

        if (training <= now)
        {
            return (IntakeRefusal.TrainingExpired, $"The face-search training of user '{user.Name}' expired on {training:yyyy-MM-dd}.");
        }

        return null;
    }

    /// <summary>
    /// The first reason to refuse the search, or null when it may go ahead. The order is fixed (user, case, attestation)
    /// so that a refusal names the most basic problem first.
    /// </summary>
    /// <param name="caseNumber">The case number as the user gave it (null or blank: none).</param>
    /// <param name="found">The case of that number, or null when there is none.</param>
    /// <param name="source">The attested probe source as given.</param>
    public static (IntakeRefusal Refusal, string Message)? Check(
        UserAccount? user, string userName, string? caseNumber, CaseRecord? found, string? source, OversightPolicy policy, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (CheckUser(user, userName, now) is { } userRefusal)
        {
            return userRefusal;
        }

        if (!user!.Roles.Contains(Role.Analyst))
        {
            return (IntakeRefusal.NotAnAnalyst, $"User '{user.Name}' does not have the analyst role.");
        }

        if (CheckCase(user, caseNumber, found, policy, now) is { } caseRefusal)
        {
            return caseRefusal;
        }

        if (string.IsNullOrWhiteSpace(source))
        {
            return (IntakeRefusal.NoAttestation,
                $"Attest what the probe is: one of {string.Join(", ", ProbeSources.Accepted)}.");
        }

        var known = ProbeSources.Normalize(source);
        if (known is null)
        {
            return (IntakeRefusal.UnknownSource, $"'{source}' is not a probe source; use one of {string.Join(", ", ProbeSources.Accepted)}.");
        }

        if (ProbeSources.Refused.Contains(known))
        {
            return (IntakeRefusal.RefusedSource,
                $"The probe is {ProbeSources.Describe(known)}: face search is not used on sketches, composites, look-alikes, or edited or generated images.");
        }

        return null;
    }

    /// <summary>
    /// Whether <paramref name="user"/> may work in the case now: named, known, open, for an allowed offence, authorised
    /// and unexpired, and the user assigned to it. The case half of <see cref="Check"/>, shared by every query that needs
    /// a case (searches, network analysis).
    /// </summary>
    public static (IntakeRefusal Refusal, string Message)? CheckCase(UserAccount user, string? caseNumber, CaseRecord? found, OversightPolicy policy, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(policy);
        if (string.IsNullOrWhiteSpace(caseNumber))
        {
            return (IntakeRefusal.NoCase, "Every search and network query belongs to a case: name the case number.");
        }

        if (found is null)
        {
            return (IntakeRefusal.UnknownCase, $"There is no case '{caseNumber}'.");
        }

        if (found.Status != CaseStatus.Open)
        {
            return (IntakeRefusal.CaseClosed, $"Case {found.Number} is closed.");
        }

        if (policy.FindOffence(found.Offence) is null)
        {
            return (IntakeRefusal.OffenceNotAllowed,
                $"Case {found.Number} is for '{found.Offence}', which is not on the list of offences face search may be used for.");
        }

        if (!found.IsAuthorisedAt(now))
        {
            return (IntakeRefusal.AuthorisationExpired,
                $"The authorisation of case {found.Number} ({found.AuthorisationReference}) expired on {found.AuthorisedUntil:yyyy-MM-dd HH:mm} UTC.");
        }

        if (!found.IsAssigned(user.Name))
        {
            return (IntakeRefusal.NotAssigned, $"User '{user.Name}' is not assigned to case {found.Number}.");
        }

        return null;
    }
}

/// <summary>A search refused at intake (recorded as <see cref="SearchId"/> and audited); nothing of the probe was analysed.</summary>
public sealed class SearchRefusedException(IntakeRefusal refusal, string message, long searchId) : Exception(message)
{
    public IntakeRefusal Refusal { get; } = refusal;

    public long SearchId { get; } = searchId;

    public string Code => SearchIntake.Code(Refusal);
}
