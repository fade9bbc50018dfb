using Lineup.Core.Oversight;
using Lineup.Core.Security;

namespace Lineup.Core.Network;

/// <summary>
/// The case gate of network analysis, the same as a search's minus the probe attestation: the user may act (enabled,
/// NDA and training current), is an analyst or a supervisor, and the case is open, for an allowed offence, authorised
/// and unexpired, with the user assigned to it.
/// </summary>
public static class NetworkGate
{
    /// <summary>The hop limit the server enforces on associates and paths.</summary>
    public const int MaxHops = 2;

    /// <summary>The longest path asked for between two identities.</summary>
    public const int MaxPathHops = 4;

    public static (IntakeRefusal Refusal, string Message)? Check(
        UserAccount? user, string userName, string? caseNumber, CaseRecord? found, OversightPolicy policy, DateTimeOffset now)
    {
        if (SearchIntake.CheckUser(user, userName, now) is { } refusal)
        {
            return refusal;
        }

        if (!user!.Roles.Contains(Role.Analyst) && !user.Roles.Contains(Role.Supervisor))
        {
            return (IntakeRefusal.NotAnAnalyst, $"User '{user.Name}' is neither an analyst nor a supervisor.");
        }

        return SearchIntake.CheckCase(user, caseNumber, found, policy, now);
    }
}

/// <summary>A network query refused by <see cref="NetworkGate"/> (audited); nothing was read.</summary>
public sealed class NetworkRefusedException(IntakeRefusal refusal, string message) : Exception(message)
{
    public IntakeRefusal Refusal { get; } = refusal;

    public string Code => SearchIntake.Code(Refusal);
}

/// <summary>An identity or face named by a network query or correction does not exist.</summary>
public sealed class NetworkNotFoundException(string message) : Exception(message);

/// <summary>The audit actions of network analysis.</summary>
public static class NetworkActions
{
    /// <summary>A network query (identity, associates, path, edge, communities), allowed or refused.</summary>
    public const string Query = "network";

    /// <summary>A clustering run (subject "identities").</summary>
    public const string Cluster = "cluster";

    /// <summary>An analyst correction (subject "identity:{id}").</summary>
    public const string Correct = "correct";
}
