using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Numerics;

namespace Lineup.Ingest;

/// <summary>What happened to one item (the immich job-status habit: every item ends in exactly one state).</summary>
public enum IngestStatus
{
    /// <summary>Stored with at least one face.</summary>
    Ingested,

    /// <summary>Stored, but no face was found.</summary>
    NoFace,

    /// <summary>The same bytes were already in the catalog; nothing was added.</summary>
    Duplicate,

    /// <summary>Refused by policy before or while decoding (size or pixel budget, not an image).</summary>
    Refused,

    /// <summary>Could not be read or processed (I/O error, corrupt data, a write failure).</summary>
    Failed,
}

/// <summary>The outcome of one item, with a reason for anything not stored.</summary>
public sealed record IngestOutcome(string Name, IngestStatus Status, int Faces, string? Reason, long? ImageId, StageTimings Timings);

public sealed record IngestOptions
{
    /// <summary>Parallel analysis workers; each runs the whole decode→embed chain for one photo at a time.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>Most images written to the catalog in one transaction.</summary>
    public int BatchSize { get; init; } = 32;

    public DecodeLimits Limits { get; init; } = DecodeLimits.Default;
}

/// <summary>Totals of a run and the per-stage medians, for the command line and benchmarks.</summary>
public sealed record IngestSummary(
    int Items,
    int Ingested,
    int NoFace,
    int Duplicates,
    int Refused,
    int Failed,
    int Faces,
    TimeSpan Elapsed,
    StageTimings MedianTimings)
{
    public double ImagesPerSecond => Elapsed.TotalSeconds <= 0 ? 0 : Items / Elapsed.TotalSeconds;

    public double FacesPerSecond => Elapsed.TotalSeconds <= 0 ? 0 : Faces / Elapsed.TotalSeconds;

    public static IngestSummary From(IReadOnlyCollection<IngestOutcome> outcomes, TimeSpan elapsed)
    {
        var analysed = outcomes.Where(o => o.Status is IngestStatus.Ingested or IngestStatus.NoFace).Select(o => o.Timings).ToList();
        return new IngestSummary(
            outcomes.Count,
            outcomes.Count(o => o.Status == IngestStatus.Ingested),
            outcomes.Count(o => o.Status == IngestStatus.NoFace),
            outcomes.Count(o => o.Status == IngestStatus.Duplicate),
            outcomes.Count(o => o.Status == IngestStatus.Refused),
            outcomes.Count(o => o.Status == IngestStatus.Failed),
            outcomes.Sum(o => o.Faces),
            elapsed,
            new StageTimings(
                Statistics.Median(analysed.Select(t => t.DecodeMs)),
                Statistics.Median(analysed.Select(t => t.DetectMs)),
                Statistics.Median(analysed.Select(t => t.LandmarksMs)),
                Statistics.Median(analysed.Select(t => t.AlignMs)),
                Statistics.Median(analysed.Select(t => t.EmbedMs))));
    }
}
