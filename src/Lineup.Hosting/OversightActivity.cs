using System.Globalization;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Storage;

namespace Lineup.Hosting;

/// <summary>What the supervisor view flags.</summary>
public enum ActivityFlagKind
{
    /// <summary>A user searched far more on one day than they usually do.</summary>
    VolumeSpike,

    /// <summary>One case number was used for probes of what look like several unrelated people.</summary>
    UnrelatedProbes,

    /// <summary>Searches refused because the case's authorisation had expired or the case was closed.</summary>
    AfterAuthorisationExpired,

    /// <summary>Searches outside the configured working hours, or on a weekend.</summary>
    OutsideWorkingHours,
}

/// <summary>Searches of one user in the period, by outcome (<c>candidates</c>, <c>refused_intake</c>, …).</summary>
public sealed record UserActivity(string User, int Searches, IReadOnlyDictionary<string, int> Outcomes);

/// <summary>Searches of one case in the period, by outcome; <see cref="CaseId"/> is null for searches naming no known case.</summary>
/// <param name="CaseNumber">The case's number; for searches of no known case, the number they gave (null: none).</param>
public sealed record CaseActivity(long? CaseId, string? CaseNumber, int Searches, IReadOnlyDictionary<string, int> Outcomes);

/// <summary>Searches on one day (in the oversight time zone), by outcome.</summary>
public sealed record DayActivity(DateOnly Day, int Searches, IReadOnlyDictionary<string, int> Outcomes);

/// <summary>One flag: what it is, whom and what it concerns, the searches behind it and why, in words.</summary>
/// <param name="Day">The day (in the oversight time zone) for per-day flags; null for the others.</param>
public sealed record ActivityFlag(ActivityFlagKind Kind, string? User, string? CaseNumber, DateOnly? Day, IReadOnlyList<long> SearchIds, string Reason)
{
    /// <summary>The flag kind as written in JSON and shown to people, e.g. <c>volume_spike</c>.</summary>
    public string Code => OversightActivity.Code(Kind);
}

/// <summary>The supervisor view of a period: searches per user, case and day, and the flags.</summary>
/// <param name="From">Start of the period (inclusive).</param>
/// <param name="To">End of the period (exclusive).</param>
/// <param name="TimeZone">The time zone days and working hours are read in.</param>
public sealed record OversightActivityReport(
    DateTimeOffset From,
    DateTimeOffset To,
    DateTimeOffset ComputedAt,
    string TimeZone,
    int WorkdayStartHour,
    int WorkdayEndHour,
    int Searches,
    IReadOnlyList<UserActivity> Users,
    IReadOnlyList<CaseActivity> Cases,
    IReadOnlyList<DayActivity> Days,
    IReadOnlyList<ActivityFlag> Flags);

/// <summary>
/// The supervisor view (issue 6, item 7): counts of searches per user, per case and per day, and four flags a supervisor
/// follows up. Every recorded search counts, refused ones included: an attempt is activity too.
/// <list type="bullet">
/// <item><b>Volume spike</b>: a user's searches on one day exceed max(<see cref="SpikeFloor"/>, <see cref="SpikeFactor"/> ×
/// the median of their daily counts over every day of the period, days without searches included). The floor keeps an
/// occasional user's busy morning from being flagged; counting idle days keeps a one-day burst from setting its own
/// baseline.</item>
/// <item><b>Unrelated probes</b>: see <see cref="UnrelatedGroups"/>.</item>
/// <item><b>After the authorisation expired</b>: searches refused as <c>authorisation_expired</c> or <c>case_closed</c>,
/// one flag per user, case and refusal.</item>
/// <item><b>Outside working hours</b>: searches before <see cref="OversightSettings.WorkdayStartHour"/>, at or after
/// <see cref="OversightSettings.WorkdayEndHour"/>, or on a Saturday or Sunday, in <see cref="OversightSettings.TimeZone"/>;
/// one flag per user and day.</item>
/// </list>
/// </summary>
public static class OversightActivity
{
    public const int SpikeFloor = 10;
    public const int SpikeFactor = 3;

    /// <summary>A case is judged for unrelated probes only once it has this many distinct probes with candidates.</summary>
    public const int UnrelatedMinProbes = 5;

    /// <summary>…and flagged when they fall into at least this many unrelated groups.</summary>
    public const int UnrelatedMinGroups = 3;

    /// <summary>The above-threshold candidates of a probe compared between probes (its strongest ones).</summary>
    public const int TopFacesPerProbe = 5;

    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromDays(30);

    /// <summary>The longest period one view covers (a year and a day, so that a whole leap year fits).</summary>
    public static readonly TimeSpan MaxPeriod = TimeSpan.FromDays(366);

    private static readonly string[] s_expiredRefusals =
        [SearchIntake.Code(IntakeRefusal.AuthorisationExpired), SearchIntake.Code(IntakeRefusal.CaseClosed)];

    /// <summary>The flag kind as written in JSON, e.g. <c>volume_spike</c>.</summary>
    public static string Code(ActivityFlagKind kind) => kind switch
    {
        ActivityFlagKind.VolumeSpike => "volume_spike",
        ActivityFlagKind.UnrelatedProbes => "unrelated_probes",
        ActivityFlagKind.AfterAuthorisationExpired => "after_authorisation_expired",
        ActivityFlagKind.OutsideWorkingHours => "outside_working_hours",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The stored spelling of an outcome, e.g. <c>no_candidate_above_threshold</c> (as the catalog and the audit log write it).</summary>
    public static string Code(SearchOutcome outcome) => SearchOutcomes.Code(outcome);

    /// <summary>The period asked for: <paramref name="to"/> defaults to now, <paramref name="from"/> to <see cref="DefaultPeriod"/> before it.</summary>
    public static (DateTimeOffset From, DateTimeOffset To) Period(DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset now)
    {
        var end = to ?? now;
        var start = from ?? end - DefaultPeriod;
        if (start >= end)
        {
            throw new ArgumentException($"The period must start before it ends (from {start:u}, to {end:u}).");
        }

        if (end - start > MaxPeriod)
        {
            throw new ArgumentException($"The period may be at most {MaxPeriod.TotalDays:0} days, not {(end - start).TotalDays:0.#}.");
        }

        return (start, end);
    }

    /// <summary>The view of the engine's catalog for the period (see <see cref="Period"/>), computed now.</summary>
    public static Task<OversightActivityReport> ComputeAsync(LineupEngine engine, DateTimeOffset? from, DateTimeOffset? to, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        return ComputeAsync(engine.Catalog, engine.Options.Oversight, from, to, engine.Options.Clock.GetUtcNow(), ct);
    }

    /// <summary>The view of <paramref name="catalog"/> for the period (see <see cref="Period"/>).</summary>
    public static async Task<OversightActivityReport> ComputeAsync(
        ICatalog catalog, OversightSettings settings, DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset now, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(settings);
        var (start, end) = Period(from, to, now);
        var log = catalog as ISearchActivityLog ?? throw new InvalidOperationException("This catalog cannot list searches by period.");
        var searches = await log.ListSearchesBetweenAsync(start, end, ct).ConfigureAwait(false);
        var searched = searches.Where(s => s.AboveThreshold > 0).Select(s => s.Id).ToList();
        var candidates = await log.GetCandidatesOfAsync(searched, aboveThresholdOnly: true, ct).ConfigureAwait(false);
        var numbers = catalog is ICaseStore cases
            ? (await cases.ListCasesAsync(null, ct).ConfigureAwait(false)).ToDictionary(c => c.Id, c => c.Number)
            : [];
        return Compute(searches, candidates, numbers, settings, start, end, now);
    }

    /// <summary>
    /// Records that <paramref name="actor"/> looked at the activity of a period (who searched what is personal data of the
    /// analysts; looking at it is on the record too): an <see cref="AuditActions.View"/> event <c>oversight:activity</c>.
    /// </summary>
    public static async Task<AuditEvent> AuditViewAsync(IAuditLog audit, string actor, OversightActivityReport activity, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(audit);
        ArgumentNullException.ThrowIfNull(activity);
        return await audit.AppendAsync(
            new NewAuditEvent(
                actor, AuditActions.View, "oversight:activity",
                AuditDetails.Empty
                    .With("from", activity.From.UtcDateTime.ToString("O", CultureInfo.InvariantCulture))
                    .With("to", activity.To.UtcDateTime.ToString("O", CultureInfo.InvariantCulture))
                    .With("searches", activity.Searches)
                    .With("flags", activity.Flags.Count)),
            ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The view of <paramref name="searches"/> (those of the period). Pure: the caller reads the searches, their
    /// above-threshold candidates and the cases' numbers.
    /// </summary>
    /// <param name="aboveThreshold">Above-threshold candidates per search id, by rank.</param>
    /// <param name="caseNumbers">Case numbers by id (a search records the number as its user typed it).</param>
    public static OversightActivityReport Compute(
        IReadOnlyList<SearchRecord> searches,
        IReadOnlyDictionary<long, IReadOnlyList<StoredCandidate>> aboveThreshold,
        IReadOnlyDictionary<long, string> caseNumbers,
        OversightSettings settings,
        DateTimeOffset from,
        DateTimeOffset to,
        DateTimeOffset computedAt)
    {
        ArgumentNullException.ThrowIfNull(searches);
        ArgumentNullException.ThrowIfNull(aboveThreshold);
        ArgumentNullException.ThrowIfNull(caseNumbers);
        ArgumentNullException.ThrowIfNull(settings);
        var zone = TimeZone(settings);
        var inPeriod = searches.Where(s => s.At >= from && s.At < to).OrderBy(s => s.At).ThenBy(s => s.Id).ToList();
        string? NumberOf(SearchRecord s) => s.CaseId is { } id && caseNumbers.TryGetValue(id, out var n) ? n : s.CaseNumber;

        var users = inPeriod
            .GroupBy(s => s.By, StringComparer.Ordinal)
            .Select(g => new UserActivity(g.Key, g.Count(), Outcomes(g)))
            .OrderByDescending(u => u.Searches).ThenBy(u => u.User, StringComparer.Ordinal)
            .ToList();
        var cases = inPeriod
            .GroupBy(s => s.CaseId is { } id ? $"#{id}" : "?" + (s.CaseNumber?.ToUpperInvariant() ?? ""), StringComparer.Ordinal)
            .Select(g => new CaseActivity(g.First().CaseId, NumberOf(g.First()), g.Count(), Outcomes(g)))
            .OrderByDescending(c => c.Searches).ThenBy(c => c.CaseNumber ?? "", StringComparer.Ordinal)
            .ToList();
        var days = inPeriod
            .GroupBy(s => LocalDay(s.At, zone))
            .Select(g => new DayActivity(g.Key, g.Count(), Outcomes(g)))
            .OrderBy(d => d.Day)
            .ToList();

        var flags = new List<ActivityFlag>();
        flags.AddRange(VolumeSpikes(inPeriod, zone, from, to));
        flags.AddRange(UnrelatedProbeFlags(inPeriod, aboveThreshold, NumberOf));
        flags.AddRange(AfterExpiry(inPeriod, NumberOf));
        flags.AddRange(OutsideHours(inPeriod, settings, zone));
        return new OversightActivityReport(
            from, to, computedAt, zone.Id, settings.WorkdayStartHour, settings.WorkdayEndHour, inPeriod.Count, users, cases, days, flags);
    }

    /// <summary>The configured time zone of the working day (an IANA id such as <c>Europe/Berlin</c>); UTC when none.</summary>
    public static TimeZoneInfo TimeZone(OversightSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (string.IsNullOrWhiteSpace(settings.TimeZone))
        {
            return TimeZoneInfo.Utc;
        }

        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(settings.TimeZone.Trim());
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new ArgumentException(
                $"Lineup:Oversight:TimeZone '{settings.TimeZone}' is not a time zone this system knows (use an IANA id such as Europe/Berlin; Debian's tzdata package provides them).", e);
        }
    }

    /// <summary>
    /// Whether <paramref name="at"/> falls outside the working day: on a Saturday or Sunday, or outside
    /// [<see cref="OversightSettings.WorkdayStartHour"/>, <see cref="OversightSettings.WorkdayEndHour"/>) local time. A start
    /// after the end is a night shift (e.g. 22 to 6).
    /// </summary>
    public static bool IsOutsideWorkingHours(DateTimeOffset at, OversightSettings settings, TimeZoneInfo zone)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(zone);
        var local = TimeZoneInfo.ConvertTime(at, zone);
        if (local.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday)
        {
            return true;
        }

        var (start, end, hour) = (settings.WorkdayStartHour, settings.WorkdayEndHour, local.Hour);
        var working = start < end ? hour >= start && hour < end : hour >= start || hour < end;
        return !working;
    }

    /// <summary>
    /// How many unrelated groups the probes of one case fall into. Each probe is known by the face ids of its strongest
    /// above-threshold candidates (at most <see cref="TopFacesPerProbe"/>, across every search of the same probe
    /// bytes). Two probes that share a candidate face are related (plausibly the same person); relation is made
    /// transitive with union-find, so the groups are the connected components of the "shares a face" graph.
    /// <para>
    /// Why this heuristic: a case is for one incident, so its probes usually show one suspect, or a few people seen
    /// together, and good probes of one person return overlapping candidates. A case number used as a pass to search
    /// for anyone (the misuse public audits describe: one open case, many unrelated look-ups) shows instead as many
    /// probes whose candidate lists never meet. Limits: two photos of the same person may return disjoint gallery
    /// faces (different photos of them), so the flag is a prompt to look, not a finding; probes with no above-threshold
    /// candidate say nothing about who they show and are left out, which is why the flag also needs
    /// <see cref="UnrelatedMinProbes"/> probes and <see cref="UnrelatedMinGroups"/> groups.
    /// </para>
    /// </summary>
    /// <param name="probeFaces">Per probe, the face ids of its top above-threshold candidates; empty sets are skipped.</param>
    public static int UnrelatedGroups(IReadOnlyList<IReadOnlyCollection<long>> probeFaces)
    {
        ArgumentNullException.ThrowIfNull(probeFaces);
        var parent = Enumerable.Range(0, probeFaces.Count).ToArray();
        int Find(int i)
        {
            while (parent[i] != i)
            {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }

            return i;
        }

        var owner = new Dictionary<long, int>();
        var counted = new List<int>();
        for (var p = 0; p < probeFaces.Count; p++)
        {
            if (probeFaces[p].Count == 0)
            {
                continue;
            }

            counted.Add(p);
            foreach (var face in probeFaces[p])
            {
                if (owner.TryGetValue(face, out var other))
                {
                    parent[Find(p)] = Find(other);
                }
                else
                {
                    owner[face] = p;
                }
            }
        }

        return counted.Select(Find).Distinct().Count();
    }

    private static SortedDictionary<string, int> Outcomes(IEnumerable<SearchRecord> searches)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in searches)
        {
            var code = Code(s.Outcome);
            counts[code] = counts.GetValueOrDefault(code) + 1;
        }

        return counts;
    }

    private static DateOnly LocalDay(DateTimeOffset at, TimeZoneInfo zone) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(at, zone).DateTime);

    private static IEnumerable<ActivityFlag> VolumeSpikes(List<SearchRecord> searches, TimeZoneInfo zone, DateTimeOffset from, DateTimeOffset to)
    {
        // Every calendar day the period touches, in the oversight time zone; the median includes days without searches.
        var days = LocalDay(to.AddTicks(-1), zone).DayNumber - LocalDay(from, zone).DayNumber + 1;
        foreach (var user in searches.GroupBy(s => s.By, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var perDay = user.GroupBy(s => LocalDay(s.At, zone)).OrderBy(g => g.Key).ToList();
            var counts = perDay.Select(g => g.Count()).Concat(Enumerable.Repeat(0, Math.Max(0, days - perDay.Count))).Order().ToList();
            var median = counts.Count % 2 == 1
                ? counts[counts.Count / 2]
                : (counts[(counts.Count / 2) - 1] + counts[counts.Count / 2]) / 2.0;
            var limit = Math.Max(SpikeFloor, SpikeFactor * median);
            foreach (var day in perDay.Where(g => g.Count() > limit))
            {
                yield return new ActivityFlag(
                    ActivityFlagKind.VolumeSpike, user.Key, null, day.Key, [.. day.Select(s => s.Id)],
                    string.Create(CultureInfo.InvariantCulture,
                        $"{user.Key} ran {day.Count()} searches on {day.Key:yyyy-MM-dd}, over the limit of {limit:0.#} (max of {SpikeFloor} and {SpikeFactor} × their median of {median:0.#} a day over {days} days)."));
            }
        }
    }

    private static IEnumerable<ActivityFlag> UnrelatedProbeFlags(
        List<SearchRecord> searches, IReadOnlyDictionary<long, IReadOnlyList<StoredCandidate>> aboveThreshold, Func<SearchRecord, string?> numberOf)
    {
        foreach (var inCase in searches.Where(s => s.CaseId is not null).GroupBy(s => s.CaseId!.Value).OrderBy(g => g.Key))
        {
            var probes = new List<(string Sha, List<long> Searches, HashSet<long> Faces)>();
            foreach (var probe in inCase.GroupBy(s => s.ProbeSha256, StringComparer.OrdinalIgnoreCase))
            {
                var faces = new HashSet<long>();
                foreach (var search in probe)
                {
                    if (aboveThreshold.TryGetValue(search.Id, out var list))
                    {
                        faces.UnionWith(list.Where(c => c.AboveThreshold).OrderBy(c => c.Rank).Take(TopFacesPerProbe).Select(c => c.FaceId));
                    }
                }

                if (faces.Count > 0)
                {
                    probes.Add((probe.Key, [.. probe.Select(s => s.Id)], faces));
                }
            }

            if (probes.Count < UnrelatedMinProbes)
            {
                continue;
            }

            var groups = UnrelatedGroups([.. probes.Select(p => (IReadOnlyCollection<long>)p.Faces)]);
            if (groups >= UnrelatedMinGroups)
            {
                var number = numberOf(inCase.First());
                var users = string.Join(", ", inCase.Select(s => s.By).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
                yield return new ActivityFlag(
                    ActivityFlagKind.UnrelatedProbes, null, number, null, [.. probes.SelectMany(p => p.Searches).Order()],
                    $"Case {number}: {probes.Count} distinct probes with candidates fall into {groups} groups that share no candidate face " +
                    $"(searched by {users}); one case number may have been used for unrelated people.");
            }
        }
    }

    private static IEnumerable<ActivityFlag> AfterExpiry(List<SearchRecord> searches, Func<SearchRecord, string?> numberOf) =>
        searches
            .Where(s => s.Refusal is { } r && s_expiredRefusals.Contains(r))
            .GroupBy(s => (s.By, Case: s.CaseId?.ToString(CultureInfo.InvariantCulture) ?? s.CaseNumber ?? "", s.Refusal))
            .OrderBy(g => g.Key.By, StringComparer.Ordinal).ThenBy(g => g.Key.Case, StringComparer.Ordinal).ThenBy(g => g.Key.Refusal, StringComparer.Ordinal)
            .Select(g =>
            {
                var number = numberOf(g.First());
                var why = g.Key.Refusal == s_expiredRefusals[0] ? "after its authorisation expired" : "after it was closed";
                return new ActivityFlag(
                    ActivityFlagKind.AfterAuthorisationExpired, g.Key.By, number, null, [.. g.Select(s => s.Id)],
                    $"{g.Key.By} tried {g.Count()} search(es) in case {number} {why} (first {g.First().At:yyyy-MM-dd HH:mm} UTC, last {g.Last().At:yyyy-MM-dd HH:mm} UTC).");
            });

    private static IEnumerable<ActivityFlag> OutsideHours(List<SearchRecord> searches, OversightSettings settings, TimeZoneInfo zone) =>
        searches
            .Where(s => IsOutsideWorkingHours(s.At, settings, zone))
            .GroupBy(s => (s.By, Day: LocalDay(s.At, zone)))
            .OrderBy(g => g.Key.Day).ThenBy(g => g.Key.By, StringComparer.Ordinal)
            .Select(g =>
            {
                var weekend = g.Key.Day.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday;
                var times = string.Join(", ", g.Select(s => TimeZoneInfo.ConvertTime(s.At, zone).ToString("HH:mm", CultureInfo.InvariantCulture)));
                return new ActivityFlag(
                    ActivityFlagKind.OutsideWorkingHours, g.Key.By, null, g.Key.Day, [.. g.Select(s => s.Id)],
                    string.Create(CultureInfo.InvariantCulture,
                        $"{g.Key.By} searched {g.Count()} time(s) on {(weekend ? "a weekend day, " : "")}{g.Key.Day:yyyy-MM-dd} outside {settings.WorkdayStartHour:00}:00–{settings.WorkdayEndHour:00}:00 {zone.Id}: {times}."));
            });
}
