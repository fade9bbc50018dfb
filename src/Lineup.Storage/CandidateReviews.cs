using System.Globalization;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;

namespace Lineup.Storage;

/// <summary>The candidate a decision or an export is about, with its search and case, as a catalog read it.</summary>
internal readonly record struct ReviewTarget(SearchRecord Search, CaseRecord? Case, StoredCandidate Candidate);

/// <summary>
/// The two-person rule's checks, messages and audit details, shared by the SQLite and PostgreSQL catalogs so that a
/// decision or an export is refused for the same reason with the same code and message on either backend: each catalog
/// reads the candidate, the reviewer and the earlier decisions in its own transaction and locking, and asks this class.
/// </summary>
internal static class CandidateReviews
{
    /// <summary>
    /// Refuses a decision that is not confirm or reject and a reason too long to keep; returns the reason as kept
    /// (trimmed, null when blank).
    /// </summary>
    public static string? CheckDecision(ReviewDecision decision, string? reason)
    {
        if (!Enum.IsDefined(decision))
        {
            throw new ArgumentOutOfRangeException(nameof(decision), decision, "A decision is confirm or reject.");
        }

        reason = string.IsNullOrWhiteSpace(reason) ? null : reason.Trim();
        if (reason is { Length: > ReviewRules.MaxReasonLength })
        {
            throw new ArgumentException($"The reason is {reason.Length} characters; at most {ReviewRules.MaxReasonLength} are kept.", nameof(reason));
        }

        return reason;
    }

    /// <summary>The first rule a decision on an existing candidate breaks, short of one decision per reviewer (that needs a query), or null.</summary>
    public static (string Code, string Message)? Refusal(
        ReviewTarget t, UserAccount? user, string userName, ReviewDecision decision, string? reason, DateTimeOffset now)
    {
        if (ReviewRules.CheckReviewer(user, userName, now) is { } who)
        {
            return who;
        }

        if (string.Equals(t.Search.By, user!.Name, StringComparison.OrdinalIgnoreCase))
        {
            return (ReviewRefusals.OwnSearch, $"User '{user.Name}' ran search {t.Search.Id}: nobody confirms or rejects candidates of their own search.");
        }

        if (t.Case is not { } found || !found.IsAssigned(user.Name))
        {
            return (ReviewRefusals.NotAssigned,
                $"User '{user.Name}' is not assigned to case {t.Case?.Number ?? t.Search.CaseNumber ?? "(none)"} of search {t.Search.Id}.");
        }

        if (found.Status == CaseStatus.Closed)
        {
            return (ReviewRefusals.CaseClosed, $"Case {found.Number} is closed: its candidates are no longer decided.");
        }

        return decision == ReviewDecision.Reject && reason is null
            ? (ReviewRefusals.ReasonRequired, "A rejection needs a reason (it is kept with the decision).")
            : null;
    }

    /// <summary>The refusal of a second decision by the reviewer who made <paramref name="earlier"/>.</summary>
    public static (string Code, string Message) AlreadyDecided(long searchId, int rank, CandidateDecision earlier) =>
        (ReviewRefusals.AlreadyDecided,
            $"You decided candidate {rank} of search {searchId} on {earlier.At:yyyy-MM-dd HH:mm} UTC ({DecisionText(earlier.Decision)}); " +
            "each reviewer decides a candidate once, and the decision stays as recorded.");

    public static string NoSuchCandidateMessage(long searchId, int rank) =>
        $"Search {searchId} has no candidate {rank} (the search is unknown, had fewer candidates, or its candidate list has expired).";

    /// <summary>The details every decision's audit event carries: the decision, and the case and face when the candidate exists.</summary>
    public static AuditDetails DecisionDetails(ReviewDecision decision, ReviewTarget? target)
    {
        var details = AuditDetails.Empty.With("decision", DecisionText(decision));
        if (target is { } t)
        {
            details = details.With("case", SqliteCatalog.Truncate(t.Case?.Number ?? t.Search.CaseNumber ?? "none", AuditDetails.MaxTextLength))
                .With("face_id", t.Candidate.FaceId);
        }

        return details;
    }

    /// <summary>The details of an export's audit event, whatever its outcome: the candidate's status and its decisions counted.</summary>
    public static AuditDetails ExportDetails(CaseRecord found, ReviewTarget t, LeadStatus status, IReadOnlyList<CandidateDecision> decisions) =>
        AuditDetails.Empty
            .With("case", SqliteCatalog.Truncate(found.Number, AuditDetails.MaxTextLength))
            .With("face_id", t.Candidate.FaceId)
            .With("status", SqliteCatalog.StatusText(status))
            .With("confirmations", decisions.Count(d => d.Decision == ReviewDecision.Confirm))
            .With("rejections", decisions.Count(d => d.Decision == ReviewDecision.Reject));

    /// <summary>The refusal of an export of a candidate that is not a confirmed lead.</summary>
    public static ReviewRefusedException NotConfirmed(long searchId, int rank, LeadStatus status) =>
        new(
            ReviewRefusals.NotConfirmed,
            // The message leaves the status out: whoever shows the refusal decides whether the caller may see it.
            $"Candidate {rank} of search {searchId} is not a confirmed lead: only a candidate that " +
            $"{LeadRules.RequiredConfirmations} reviewers confirmed independently, and nobody rejected, is exported.")
        {
            Status = status,
        };

    public static void RequireUserName(string userName)
    {
        ArgumentNullException.ThrowIfNull(userName);
        if (!UserNames.IsValid(userName))
        {
            throw new ArgumentException($"'{userName}' is not a user name.", nameof(userName));
        }
    }

    public static string CandidateSubject(long searchId, int rank) => string.Create(CultureInfo.InvariantCulture, $"candidate:{searchId}/{rank}");

    public static string DecisionText(ReviewDecision decision) => decision == ReviewDecision.Confirm ? "confirm" : "reject";
}
