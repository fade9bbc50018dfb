using Lineup.Core.Oversight;

namespace Lineup.Server.Api;

/// <summary>A data class's time-to-live; <c>setAt</c> and <c>setBy</c> are null while it is the built-in default.</summary>
public sealed record RetentionSettingDto(string DataClass, string Description, int TtlDays, bool IsDefault, DateTimeOffset? SetAt, string? SetBy)
{
    public static RetentionSettingDto From(RetentionSetting s) =>
        new(s.DataClass, DataClasses.Describe(s.DataClass), s.TtlDays, s.IsDefault, s.SetAt, s.SetBy);
}

/// <summary>The retention settings and the cases whose data is kept past them (on legal hold).</summary>
/// <param name="SweepHours">How often the server sweeps by itself; null when its background sweep is off.</param>
public sealed record RetentionDto(IReadOnlyList<RetentionSettingDto> Settings, IReadOnlyList<string> CasesOnHold, double? SweepHours);

/// <summary>A new time-to-live in days (1 to 36,500; audit events at least as long as candidate lists).</summary>
public sealed record RetentionChangeRequest(int? TtlDays);

/// <summary>What a sweep removed and kept, with its cutoffs and the sequence number of its receipt in the audit log.</summary>
public sealed record SweepReportDto(
    DateTimeOffset At,
    DateTimeOffset ProbeImagesBefore,
    DateTimeOffset CandidateListsBefore,
    DateTimeOffset AuditEventsBefore,
    long ProbesDeleted,
    long CandidateListsDeleted,
    long CandidatesDeleted,
    long DecisionsDeleted,
    long ProbesHeld,
    long CandidateListsHeld,
    long HeldCases,
    long AuditEventsPruned,
    long PrunedThrough,
    long AuditSeq,
    double ElapsedMs)
{
    public static SweepReportDto From(Lineup.Hosting.RetentionSweep sweep)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        var r = sweep.Report;
        return new(
            r.At, r.Cutoffs.ProbeImages, r.Cutoffs.CandidateLists, r.Cutoffs.AuditEvents, r.ProbesDeleted, r.CandidateListsDeleted,
            r.CandidatesDeleted, r.DecisionsDeleted, r.ProbesHeld, r.CandidateListsHeld, r.HeldCases, r.AuditEventsPruned, r.PrunedThrough,
            r.AuditSeq, Math.Round(sweep.Elapsed.TotalMilliseconds, 1));
    }
}
