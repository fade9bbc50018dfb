using Lineup.Core.Catalog;

namespace Lineup.Core.Oversight;

/// <summary>A reviewer's decision on one candidate of a search.</summary>
public enum ReviewDecision
{
    Confirm,
    Reject,
}

/// <summary>
/// Where a candidate stands under the two-person rule: <see cref="Confirmed"/> only when two distinct reviewers (neither
/// of them the user who searched) confirmed it and nobody rejected it.
/// </summary>
public enum LeadStatus
{
    /// <summary>No decision yet.</summary>
    Unreviewed,

    /// <summary>One confirmation, no rejection: waits for a second, independent reviewer.</summary>
    AwaitingSecond,

    /// <summary>Two or more confirmations by distinct reviewers and no rejection: a confirmed lead, exportable.</summary>
    Confirmed,

    /// <summary>Rejected by every reviewer who decided.</summary>
    Rejected,

    /// <summary>Confirmed by some and rejected by others: not a lead; a supervisor sees both.</summary>
    Disputed,
}

/// <param name="User">The reviewer's user name.</param>
/// <param name="Reason">What the reviewer noted (required for a rejection).</param>
public sealed record CandidateDecision(long Id, long SearchId, int Rank, string User, ReviewDecision Decision, string? Reason, DateTimeOffset At);

/// <summary>A candidate waiting for the caller's decision: the search, its case and the candidate (ids and scores only).</summary>
public sealed record ReviewItem(SearchRecord Search, CaseRecord Case, StoredCandidate Candidate, int Confirmations);

/// <summary>
/// The two-person rule. Every decision appends an audit event (<see cref="Audit.AuditActions.Confirm"/>) in its
/// transaction. Refusals (<see cref="ReviewRefusedException"/>): the decider is not an enabled reviewer with current
/// clearances, not assigned to the search's case, the user who ran the search, or has already decided this candidate.
/// </summary>
public interface IReviewStore
{
    /// <summary>Records <paramref name="userName"/>'s decision on candidate <paramref name="rank"/> of search <paramref name="searchId"/>.</summary>
    Task<CandidateDecision> DecideAsync(long searchId, int rank, string userName, ReviewDecision decision, string? reason, DateTimeOffset now, CancellationToken ct = default);

    /// <summary>Every decision on the search's candidates, oldest first (for supervisors, reports and the final status).</summary>
    Task<IReadOnlyList<CandidateDecision>> GetDecisionsAsync(long searchId, CancellationToken ct = default);

    /// <summary>Candidates above the threshold in the user's cases that the user may decide and has not; oldest first.</summary>
    Task<IReadOnlyList<ReviewItem>> ReviewQueueAsync(string userName, int limit = 100, CancellationToken ct = default);

    /// <summary>Every decision on candidates of the case's searches, oldest first (for disclosure reports).</summary>
    Task<IReadOnlyList<CandidateDecision>> GetDecisionsForCaseAsync(long caseId, CancellationToken ct = default);

    /// <summary>
    /// Releases candidate <paramref name="rank"/> of search <paramref name="searchId"/> as a lead to
    /// <paramref name="userName"/>: only when it is <see cref="LeadStatus.Confirmed"/>, checked in the same transaction
    /// that appends the <see cref="Audit.AuditActions.Export"/> event. A refusal (<see cref="ReviewRefusals.NotConfirmed"/>
    /// with <see cref="ReviewRefusedException.Status"/>, or <see cref="ReviewRefusals.NoSuchCandidate"/>) is audited too.
    /// Need-to-know (who may export which case) is the caller's to check first.
    /// </summary>
    Task<LeadExport> ExportLeadAsync(long searchId, int rank, string userName, CancellationToken ct = default);
}

/// <summary>A confirmed lead as released: the search, its case, the candidate and every decision on it.</summary>
/// <param name="AuditSeq">The sequence number of the export's audit event.</param>
public sealed record LeadExport(
    SearchRecord Search, CaseRecord Case, StoredCandidate Candidate, IReadOnlyList<CandidateDecision> Decisions, DateTimeOffset At, long AuditSeq)
{
    public LeadStatus Status => LeadRules.Status(Decisions);
}

/// <summary>The <see cref="ReviewRefusedException.Code"/>s: which rule refused a decision or an export.</summary>
public static class ReviewRefusals
{
    /// <summary>Unknown or disabled user, or one without the reviewer role.</summary>
    public const string NotAReviewer = "not_a_reviewer";

    /// <summary>The user's NDA or training has expired (or was never recorded).</summary>
    public const string Clearance = "clearance";

    /// <summary>The user is not assigned to the case of the search (need-to-know).</summary>
    public const string NotAssigned = "not_assigned";

    /// <summary>The user ran the search: nobody confirms their own search.</summary>
    public const string OwnSearch = "own_search";

    /// <summary>The user has decided this candidate already: one decision per reviewer, never changed silently.</summary>
    public const string AlreadyDecided = "already_decided";

    /// <summary>The search has no candidate of that rank (or its candidate list has expired).</summary>
    public const string NoSuchCandidate = "no_such_candidate";

    /// <summary>A rejection without a reason.</summary>
    public const string ReasonRequired = "reason_required";

    /// <summary>The case is closed: its candidates are no longer decided.</summary>
    public const string CaseClosed = "case_closed";

    /// <summary>An export of a candidate that is not (or no longer) a confirmed lead.</summary>
    public const string NotConfirmed = "not_confirmed";
}

/// <summary>The user-level rules of deciding: who may decide at all, before any candidate is looked at.</summary>
public static class ReviewRules
{
    /// <summary>The longest reason kept with a decision.</summary>
    public const int MaxReasonLength = 2000;

    /// <summary>
    /// Why <paramref name="user"/> may not decide candidates now (<see cref="ReviewRefusals.NotAReviewer"/> or
    /// <see cref="ReviewRefusals.Clearance"/>), or null: an enabled reviewer with a current NDA and training.
    /// </summary>
    public static (string Code, string Message)? CheckReviewer(Security.UserAccount? user, string userName, DateTimeOffset now)
    {
        if (SearchIntake.CheckUser(user, userName, now) is { } refusal)
        {
            return refusal.Refusal is IntakeRefusal.UnknownUser or IntakeRefusal.UserDisabled
                ? (ReviewRefusals.NotAReviewer, refusal.Message)
                : (ReviewRefusals.Clearance, refusal.Message);
        }

        return user!.Roles.Contains(Security.Role.Reviewer)
            ? null
            : (ReviewRefusals.NotAReviewer, $"User '{user.Name}' does not have the reviewer role.");
    }
}

/// <summary>Who is looking at a candidate's decisions, as far as <see cref="ReviewVisibility"/> cares.</summary>
/// <param name="SeesAll">A supervisor or auditor (oversight of reviews, not a party to them).</param>
/// <param name="IsReviewer">May decide candidates (the reviewer role).</param>
/// <param name="IsSearcher">Ran the search.</param>
/// <param name="IsAssigned">Is assigned to the search's case.</param>
public sealed record ReviewViewer(string UserName, bool SeesAll, bool IsReviewer, bool IsSearcher, bool IsAssigned);

/// <summary>What a viewer is shown of one candidate's review.</summary>
/// <param name="Status">The status, or null when it is not shown to the viewer.</param>
/// <param name="Decisions">The decisions shown: all of them, or only the viewer's own.</param>
public sealed record CandidateView(LeadStatus? Status, IReadOnlyList<CandidateDecision> Decisions);

/// <summary>
/// Independence of the two-person rule: a reviewer never sees another reviewer's decision or the status it produced
/// (the second reviewer must not be anchored by the first); the user who searched sees only a final status
/// (<see cref="LeadStatus.Confirmed"/>, <see cref="LeadStatus.Rejected"/>, <see cref="LeadStatus.Disputed"/>), never who
/// decided what; supervisors and auditors see everything, unless they could still decide the candidate themselves.
/// </summary>
public static class ReviewVisibility
{
    public static CandidateView For(ReviewViewer viewer, IEnumerable<CandidateDecision> decisions)
    {
        ArgumentNullException.ThrowIfNull(viewer);
        ArgumentNullException.ThrowIfNull(decisions);
        var all = decisions.ToList();
        var own = all.Where(d => string.Equals(d.User, viewer.UserName, StringComparison.OrdinalIgnoreCase)).ToList();
        var reviewsThis = viewer.IsReviewer && !viewer.IsSearcher;
        var mayStillDecide = reviewsThis && viewer.IsAssigned && own.Count == 0;
        if (viewer.SeesAll && !mayStillDecide)
        {
            return new CandidateView(LeadRules.Status(all), all);
        }

        if (reviewsThis)
        {
            return new CandidateView(null, own);
        }

        var status = LeadRules.Status(all);
        return new CandidateView(IsFinal(status) ? status : null, own);
    }

    /// <summary>Whether the status is one the searcher is told: a decided lead (confirmed, rejected or disputed).</summary>
    public static bool IsFinal(LeadStatus status) => status is LeadStatus.Confirmed or LeadStatus.Rejected or LeadStatus.Disputed;
}

/// <summary>A review decision or an export the two-person rule does not allow; <see cref="Code"/> says which rule.</summary>
public sealed class ReviewRefusedException(string code, string message) : Exception(message)
{
    /// <summary>Which rule (<see cref="ReviewRefusals"/>).</summary>
    public string Code { get; } = code;

    /// <summary>The candidate's status, for an export refused because it is not confirmed (the exporter may see it).</summary>
    public LeadStatus? Status { get; init; }
}

/// <summary>The status of a candidate from its decisions.</summary>
public static class LeadRules
{
    public const int RequiredConfirmations = 2;

    public static LeadStatus Status(IEnumerable<CandidateDecision> decisions)
    {
        ArgumentNullException.ThrowIfNull(decisions);
        var confirmers = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var rejecters = 0;
        foreach (var d in decisions)
        {
            if (d.Decision == ReviewDecision.Confirm)
            {
                confirmers.Add(d.User);
            }
            else
            {
                rejecters++;
            }
        }

        return (confirmers.Count, rejecters) switch
        {
            (0, 0) => LeadStatus.Unreviewed,
            (0, _) => LeadStatus.Rejected,
            (_, > 0) => LeadStatus.Disputed,
            ( >= RequiredConfirmations, _) => LeadStatus.Confirmed,
            _ => LeadStatus.AwaitingSecond,
        };
    }
}
