using Lineup.Core.Audit;
using Lineup.Hosting;

namespace Lineup.Server.Api;

/// <summary>The supervisor view of a period: searches per user, case and day by outcome, and the flags to follow up.</summary>
/// <param name="From">Start of the period (inclusive).</param>
/// <param name="To">End of the period (exclusive).</param>
/// <param name="TimeZone">The time zone days and working hours are read in.</param>
public sealed record ActivityDto(
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
    IReadOnlyList<ActivityFlagDto> Flags)
{
    public static ActivityDto Of(OversightActivityReport r) => new(
        r.From, r.To, r.ComputedAt, r.TimeZone, r.WorkdayStartHour, r.WorkdayEndHour, r.Searches, r.Users, r.Cases, r.Days,
        [.. r.Flags.Select(ActivityFlagDto.From)]);
}

/// <summary>A flag of the supervisor view.</summary>
/// <param name="Kind"><c>volume_spike</c>, <c>unrelated_probes</c>, <c>after_authorisation_expired</c> or <c>outside_working_hours</c>.</param>
/// <param name="Day">The day (in the view's time zone) for per-day flags.</param>
/// <param name="Reason">Why, in words.</param>
public sealed record ActivityFlagDto(string Kind, string? User, string? CaseNumber, DateOnly? Day, IReadOnlyList<long> SearchIds, string Reason)
{
    public static ActivityFlagDto From(ActivityFlag f) => new(f.Code, f.User, f.CaseNumber, f.Day, f.SearchIds, f.Reason);
}

/// <summary>
/// The audit log's verification status: every event hash, checkpoint root, signature and consistency proof recomputed
/// (<see cref="IAuditLog.VerifyAsync"/>). Cached for <see cref="MaxAgeSeconds"/> because verification reads the whole log.
/// </summary>
/// <param name="Events">Event rows read.</param>
/// <param name="HeadRoot">Hex RFC 6962 root recomputed from the events.</param>
/// <param name="Intact">Nothing was found wrong.</param>
/// <param name="FirstBadSeq">The lowest sequence number of an altered, malformed or missing event.</param>
/// <param name="FirstBadCheckpoint">The smallest tree size of a checkpoint that fails a check.</param>
/// <param name="UnanchoredEvents">Events after the latest checkpoint (protected only by their own hashes until the next one).</param>
/// <param name="Problems">The first problems found (at most 20).</param>
/// <param name="KeyPresent">Whether the data directory holds the log's public key (checkpoints cannot be checked without it).</param>
/// <param name="ComputedAt">When this verification ran.</param>
/// <param name="MaxAgeSeconds">How long the answer is reused before verification runs again.</param>
public sealed record AuditStatusDto(
    long Events,
    string HeadRoot,
    int Checkpoints,
    AuditCheckpointDto? LatestCheckpoint,
    bool Intact,
    long ProblemCount,
    long? FirstBadSeq,
    long? FirstBadCheckpoint,
    long UnanchoredEvents,
    IReadOnlyList<AuditProblemDto> Problems,
    bool KeyPresent,
    DateTimeOffset ComputedAt,
    int MaxAgeSeconds)
{
    public const int ListedProblems = 20;

    public static AuditStatusDto From(AuditVerification v, bool keyPresent, DateTimeOffset computedAt, TimeSpan maxAge) => new(
        v.Events, v.Head.RootHex, v.Checkpoints, v.LatestCheckpoint is { } c ? AuditCheckpointDto.From(c) : null, v.IsIntact, v.ProblemCount,
        v.FirstBadSeq, v.FirstBadCheckpoint, v.UnanchoredEvents, [.. v.Problems.Take(ListedProblems).Select(AuditProblemDto.From)], keyPresent,
        computedAt, (int)maxAge.TotalSeconds);
}

/// <summary>A signed checkpoint: tree size, hex root, signing time and the hex SHA-256 of the signing key.</summary>
public sealed record AuditCheckpointDto(long TreeSize, string RootHash, DateTimeOffset Timestamp, string KeyId)
{
    public static AuditCheckpointDto From(Checkpoint c) => new(c.TreeSize, Convert.ToHexStringLower(c.RootHash), c.Timestamp, c.KeyId);
}

/// <summary>One problem verification found: the event or checkpoint it concerns and what is wrong.</summary>
/// <param name="Kind">e.g. <c>eventAltered</c>, <c>checkpointRootMismatch</c>.</param>
public sealed record AuditProblemDto(string Kind, long? Seq, long? CheckpointSize, string Message)
{
    public static AuditProblemDto From(AuditProblem p) =>
        new(System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(p.Kind.ToString()), p.Seq, p.CheckpointSize, p.Message);
}
