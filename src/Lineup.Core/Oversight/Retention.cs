using System.Globalization;

namespace Lineup.Core.Oversight;

/// <summary>
/// The kinds of stored data that expire, each with its own time-to-live. Age is counted from the search's time (probes,
/// candidate lists) or the event's time (audit events). The search rows themselves never expire: they hold no image and
/// no embedding, and they are the record that a search took place.
/// </summary>
public static class DataClasses
{
    /// <summary>The probe photos as uploaded (<c>search_probes</c>): the one place a probe's bytes are kept.</summary>
    public const string ProbeImages = "probe_images";

    /// <summary>The candidate lists searches returned (<c>search_candidates</c>) with the reviewers' decisions on them.</summary>
    public const string CandidateLists = "candidate_lists";

    /// <summary>Audit events: pruned, not deleted (sequence number, time and leaf hash stay, so the log still verifies).</summary>
    public const string AuditEvents = "audit_events";

    public static IReadOnlyList<string> All { get; } = [ProbeImages, CandidateLists, AuditEvents];

    /// <summary>The class named <paramref name="name"/> (ignoring case, '-' for '_'), or null when there is none.</summary>
    public static string? Find(string? name)
    {
        var normalized = name?.Trim().Replace('-', '_');
        return All.FirstOrDefault(c => string.Equals(c, normalized, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The class named <paramref name="name"/>; an <see cref="ArgumentException"/> naming the classes otherwise.</summary>
    public static string Require(string? name) =>
        Find(name) ?? throw new ArgumentException($"'{name}' is not a data class; the data classes are {string.Join(", ", All)}.", nameof(name));

    /// <summary>What the class holds, in words.</summary>
    public static string Describe(string dataClass) => Require(dataClass) switch
    {
        ProbeImages => "probe photos as uploaded",
        CandidateLists => "candidate lists and the reviewers' decisions on them",
        _ => "audit events (pruned to sequence number, time and leaf hash)",
    };
}

/// <summary>One class's time-to-live as configured; <see cref="SetAt"/> and <see cref="SetBy"/> are null for the built-in default.</summary>
public sealed record RetentionSetting(string DataClass, int TtlDays, DateTimeOffset? SetAt, string? SetBy)
{
    public bool IsDefault => SetAt is null;
}

/// <summary>
/// Time-to-live in days of each data class. Defaults: probe photos 90 days, candidate lists a year, audit events ten
/// years. Valid when every TTL is from 1 to <see cref="MaxDays"/> days and audit events are kept at least as long as
/// candidate lists: an event carries no case, so pruning by age cannot honour a legal hold, and the audit TTL has to
/// outlast what holds keep (documented for operators: set it longer than any hold is expected to last).
/// </summary>
public sealed record RetentionPolicy(int ProbeImagesDays, int CandidateListsDays, int AuditEventsDays)
{
    /// <summary>A hundred years: the longest TTL (and far from <see cref="DateTimeOffset.MinValue"/> for any clock).</summary>
    public const int MaxDays = 36_500;

    public static RetentionPolicy Default { get; } = new(90, 365, 3650);

    public int DaysOf(string dataClass) => DataClasses.Require(dataClass) switch
    {
        DataClasses.ProbeImages => ProbeImagesDays,
        DataClasses.CandidateLists => CandidateListsDays,
        _ => AuditEventsDays,
    };

    public RetentionPolicy With(string dataClass, int days) => DataClasses.Require(dataClass) switch
    {
        DataClasses.ProbeImages => this with { ProbeImagesDays = days },
        DataClasses.CandidateLists => this with { CandidateListsDays = days },
        _ => this with { AuditEventsDays = days },
    };

    /// <summary>The first rule the policy breaks, in words; null when it is valid.</summary>
    public string? Problem()
    {
        foreach (var dataClass in DataClasses.All)
        {
            var days = DaysOf(dataClass);
            if (days is < 1 or > MaxDays)
            {
                return string.Create(CultureInfo.InvariantCulture, $"The time-to-live of {dataClass} must be from 1 to {MaxDays} days, not {days}.");
            }
        }

        return AuditEventsDays < CandidateListsDays
            ? string.Create(CultureInfo.InvariantCulture,
                $"Audit events must be kept at least as long as candidate lists ({CandidateListsDays} days), not {AuditEventsDays} days: the log is the record of what the lists were used for.")
            : null;
    }

    /// <summary>Throws <see cref="ArgumentException"/> with <see cref="Problem"/> when the policy is not valid.</summary>
    public RetentionPolicy Validate() => Problem() is { } problem ? throw new ArgumentException(problem) : this;

    /// <summary>What is older than these instants at <paramref name="now"/> has expired.</summary>
    public RetentionCutoffs CutoffsAt(DateTimeOffset now) => new(
        now.AddDays(-ProbeImagesDays).ToUniversalTime(),
        now.AddDays(-CandidateListsDays).ToUniversalTime(),
        now.AddDays(-AuditEventsDays).ToUniversalTime());

    /// <summary>The policy of <paramref name="settings"/>; a class missing from them keeps its default.</summary>
    public static RetentionPolicy From(IEnumerable<RetentionSetting> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.Aggregate(Default, (policy, s) => policy.With(s.DataClass, s.TtlDays));
    }
}

/// <summary>Data recorded before these instants has expired (a search's or event's time strictly earlier).</summary>
public sealed record RetentionCutoffs(DateTimeOffset ProbeImages, DateTimeOffset CandidateLists, DateTimeOffset AuditEvents);

/// <summary>What one sweep removed and kept.</summary>
/// <param name="At">The sweep's "now", from which the cutoffs were counted.</param>
/// <param name="Policy">The time-to-live of each class the sweep applied.</param>
/// <param name="ProbesDeleted">Stored probe photos deleted.</param>
/// <param name="CandidateListsDeleted">Searches whose candidate list was deleted.</param>
/// <param name="CandidatesDeleted">Candidate rows deleted.</param>
/// <param name="DecisionsDeleted">Reviewers' decisions deleted with their candidates.</param>
/// <param name="ProbesHeld">Expired probe photos kept because their case is on legal hold.</param>
/// <param name="CandidateListsHeld">Expired candidate lists kept because their case is on legal hold.</param>
/// <param name="HeldCases">Cases on legal hold when the sweep ran.</param>
/// <param name="AuditEventsPruned">Audit events pruned by this sweep.</param>
/// <param name="PrunedThrough">Every event up to this sequence number is pruned (0: none): the sweep's receipt records it,
/// and verification reports any pruned event beyond it.</param>
/// <param name="AuditSeq">The sequence number of the sweep's receipt in the audit log.</param>
public sealed record SweepReport(
    DateTimeOffset At,
    RetentionPolicy Policy,
    RetentionCutoffs Cutoffs,
    long ProbesDeleted,
    long CandidateListsDeleted,
    long CandidatesDeleted,
    long DecisionsDeleted,
    long ProbesHeld,
    long CandidateListsHeld,
    long HeldCases,
    long AuditEventsPruned,
    long PrunedThrough,
    long AuditSeq)
{
    /// <summary>Whether the sweep removed or pruned anything (the files are then compacted).</summary>
    public bool RemovedAny => ProbesDeleted + CandidatesDeleted + DecisionsDeleted + AuditEventsPruned > 0;
}

/// <summary>
/// Retention: each data class's time-to-live (changes audited with <see cref="Audit.AuditActions.Admin"/>, subject
/// <c>retention:&lt;class&gt;</c>) and the sweep that removes what expired, skipping the searches of cases on legal hold,
/// with its receipt (<see cref="Audit.AuditActions.Retention"/>, subject <c>sweep</c>) in the same transaction. The
/// catalog implements it.
/// </summary>
public interface IRetentionStore
{
    /// <summary>The setting of every class, in <see cref="DataClasses.All"/> order (defaults where none was set).</summary>
    Task<IReadOnlyList<RetentionSetting>> GetRetentionAsync(CancellationToken ct = default);

    /// <summary>
    /// Sets <paramref name="dataClass"/>'s time-to-live. An unknown class, or a policy that
    /// <see cref="RetentionPolicy.Problem"/> refuses, is an <see cref="ArgumentException"/> and changes nothing.
    /// </summary>
    Task<RetentionSetting> SetRetentionAsync(string dataClass, int ttlDays, string by, CancellationToken ct = default);

    /// <summary>
    /// Deletes the probe photos and candidate lists (with their decisions) of searches older than their TTL at
    /// <paramref name="now"/>, except those of cases on legal hold; prunes audit events older than theirs (contiguously
    /// from the first); appends the receipt; then compacts the files, so no deleted byte stays on disk.
    /// </summary>
    Task<SweepReport> SweepAsync(DateTimeOffset now, string actor, CancellationToken ct = default);
}
