using System.Globalization;
using Lineup.Core.Audit;
using Lineup.Core.Oversight;

namespace Lineup.Storage;

/// <summary>
/// The audit details of retention changes and sweep receipts, shared by the SQLite and PostgreSQL catalogs: audit
/// verification and the retention report read these keys, so both backends must write them the same way.
/// </summary>
internal static class RetentionReceipts
{
    /// <summary>The subject of a sweep's receipt (action <see cref="AuditActions.Retention"/>).</summary>
    public const string SweepSubject = "sweep";

    /// <summary>The receipt's detail naming the last pruned event; verification trusts no pruned event beyond it.</summary>
    public const string PrunedThroughKey = "pruned_through";

    /// <summary>The details of a time-to-live change (action <see cref="AuditActions.Admin"/>, subject <c>retention:&lt;class&gt;</c>).</summary>
    public static AuditDetails SettingDetails(int ttlDays, RetentionSetting previous) => AuditDetails.Empty
        .With("change", "retention.set")
        .With("ttl_days", ttlDays)
        .With("previous_ttl_days", previous.TtlDays)
        .With("previous_was_default", previous.IsDefault);

    /// <summary>
    /// The details of a sweep's receipt: what <paramref name="report"/> counts (its <see cref="SweepReport.AuditSeq"/> is
    /// not known yet and not read) and the cutoffs as the catalog compared them.
    /// </summary>
    public static AuditDetails SweepDetails(SweepReport report) => AuditDetails.Empty
        .With("probes", report.ProbesDeleted)
        .With("candidate_lists", report.CandidateListsDeleted)
        .With("candidates", report.CandidatesDeleted)
        .With("decisions", report.DecisionsDeleted)
        .With("probes_held", report.ProbesHeld)
        .With("candidate_lists_held", report.CandidateListsHeld)
        .With("held_cases", report.HeldCases)
        .With("audit_pruned", report.AuditEventsPruned)
        .With(PrunedThroughKey, report.PrunedThrough)
        .With("probe_cutoff", SqliteCatalog.FormatTime(report.Cutoffs.ProbeImages))
        .With("candidate_cutoff", SqliteCatalog.FormatTime(report.Cutoffs.CandidateLists))
        .With("audit_cutoff", SqliteCatalog.FormatTime(report.Cutoffs.AuditEvents))
        .With("ttl_days", string.Create(CultureInfo.InvariantCulture,
            $"{report.Policy.ProbeImagesDays}/{report.Policy.CandidateListsDays}/{report.Policy.AuditEventsDays}"));
}
