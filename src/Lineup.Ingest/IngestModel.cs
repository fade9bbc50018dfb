using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Numerics;

namespace Lineup.Ingest;

/// <summary>The outcome of one item, with a reason for anything not stored.</summary>
/// <param name="Sequence">The item's position in the source (0-based), the order in which outcomes are committed.</param>
public sealed record IngestOutcome(long Sequence, string Name, IngestStatus Status, int Faces, string? Reason, long? ImageId, StageTimings Timings)
{
    /// <summary>Faces found in the photo but not stored because they match the opt-out registry: how many, never whose.</summary>
    public int OptedOut { get; init; }
}

/// <summary>
/// Decides, before a face is written, whether it may be stored at all (the opt-out registry: a person who asked not to
/// be in the gallery). Called by the analysis workers at the same time: implementations must be thread-safe.
/// </summary>
public interface IFaceScreen
{
    /// <summary>True when the face with this unit-length embedding must not be stored.</summary>
    bool Refuses(ReadOnlySpan<float> embedding);
}

public sealed record IngestOptions
{
    /// <summary>Most items written to the catalog in one transaction.</summary>
    public int BatchSize { get; init; } = 32;

    public DecodeLimits Limits { get; init; } = DecodeLimits.Default;

    /// <summary>
    /// Lowest cosine similarity between a face of a perceptual-hash match and a face of the catalogued image for
    /// the two to count as the same photo. Far above the match threshold: a copy of one photo embeds to nearly
    /// the same vectors (0.95+ measured on re-encodings), two different photos of one person do not.
    /// </summary>
    public float NearDuplicateFaceSimilarity { get; init; } = 0.8f;

    /// <summary>
    /// Faces it refuses are not stored (no embedding, no thumbnail), nor the preview of their image, which shows them; the
    /// image is catalogued with its other faces. Null: every face is stored.
    /// </summary>
    public IFaceScreen? FaceScreen { get; init; }
}

/// <summary>Totals of one ingest invocation and per-stage medians, for the command line and benchmarks.</summary>
public sealed record IngestSummary(
    long Items,
    long Ingested,
    long NoFace,
    long Duplicates,
    long NearDuplicates,
    long Refused,
    long Failed,
    long Faces,
    long Skipped,
    TimeSpan Elapsed,
    StageTimings MedianTimings)
{
    public double ImagesPerSecond => Elapsed.TotalSeconds <= 0 ? 0 : Items / Elapsed.TotalSeconds;

    public double FacesPerSecond => Elapsed.TotalSeconds <= 0 ? 0 : Faces / Elapsed.TotalSeconds;

    /// <summary>Faces not stored because they match the opt-out registry (<see cref="IngestOutcome.OptedOut"/>).</summary>
    public long OptedOut { get; init; }
}

/// <summary>
/// Running totals of an ingest. Stage timings are kept as a bounded uniform sample (reservoir sampling),
/// so a run of a billion items reports medians in constant memory.
/// </summary>
public sealed class IngestTally
{
    private const int SampleSize = 4096;
    private readonly List<StageTimings> _sample = new(SampleSize);
    private readonly Random _random = new(17);
    private long _analysed;
    private readonly long[] _counts = new long[Enum.GetValues<IngestStatus>().Length];

    public long Items { get; private set; }

    public long Faces { get; private set; }

    /// <summary>Faces not stored because they match the opt-out registry.</summary>
    public long OptedOut { get; private set; }

    /// <summary>Items a resumed run passed over because they were committed before.</summary>
    public long Skipped { get; set; }

    public long Count(IngestStatus status) => _counts[(int)status];

    public void Add(IngestOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        Items++;
        Faces += outcome.Faces;
        OptedOut += outcome.OptedOut;
        _counts[(int)outcome.Status]++;
        if (outcome.Status is IngestStatus.Ingested or IngestStatus.NoFace or IngestStatus.NearDuplicate)
        {
            _analysed++;
            if (_sample.Count < SampleSize)
            {
                _sample.Add(outcome.Timings);
            }
            else if (_random.NextInt64(_analysed) is var slot && slot < SampleSize)
            {
                _sample[(int)slot] = outcome.Timings;
            }
        }
    }

    public IngestSummary Summarize(TimeSpan elapsed) => new(
        Items,
        Count(IngestStatus.Ingested),
        Count(IngestStatus.NoFace),
        Count(IngestStatus.Duplicate),
        Count(IngestStatus.NearDuplicate),
        Count(IngestStatus.Refused),
        Count(IngestStatus.Failed),
        Faces,
        Skipped,
        elapsed,
        new StageTimings(
            Statistics.Median(_sample.Select(t => t.DecodeMs)),
            Statistics.Median(_sample.Select(t => t.DetectMs)),
            Statistics.Median(_sample.Select(t => t.LandmarksMs)),
            Statistics.Median(_sample.Select(t => t.AlignMs)),
            Statistics.Median(_sample.Select(t => t.EmbedMs))))
    {
        OptedOut = OptedOut,
    };
}
