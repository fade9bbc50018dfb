using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Threading.Channels;
using Lineup.Core.Catalog;
using Lineup.Hosting;
using Lineup.Ingest.Sources;

namespace Lineup.Server.Jobs;

public enum IngestJobStatus
{
    Queued,
    Running,
    Completed,
    Failed,
}

/// <summary>One ingest asked for through the API; its counters move while it runs (read them with <see cref="Snapshot"/>).</summary>
public sealed class IngestJob(long id, string source, string displaySource, string collection, string lawfulBasis, string? jurisdiction, string requestedBy, bool deleteSourceWhenDone)
{
    private long _processed;
    private long _ingested;
    private long _faces;
    private long _duplicates;
    private long _refused;
    private long _failed;

    public long Id { get; } = id;

    /// <summary>The file or folder ingested (an upload lies in the data directory's <c>uploads/</c>).</summary>
    public string Source { get; } = source;

    public string DisplaySource { get; } = displaySource;

    public string Collection { get; } = collection;

    public string LawfulBasis { get; } = lawfulBasis;

    public string? Jurisdiction { get; } = jurisdiction;

    public string RequestedBy { get; } = requestedBy;

    public bool DeleteSourceWhenDone { get; } = deleteSourceWhenDone;

    public DateTimeOffset QueuedAt { get; } = DateTimeOffset.UtcNow;

    public IngestJobStatus Status { get; internal set; }

    public long? RunId { get; internal set; }

    public long? Total { get; internal set; }

    public DateTimeOffset? StartedAt { get; internal set; }

    public DateTimeOffset? FinishedAt { get; internal set; }

    public string? Error { get; internal set; }

    internal void Count(IngestStatus status, int faces)
    {
        Interlocked.Increment(ref _processed);
        Interlocked.Add(ref _faces, faces);
        switch (status)
        {
            case IngestStatus.Ingested or IngestStatus.NoFace:
                Interlocked.Increment(ref _ingested);
                break;
            case IngestStatus.Duplicate or IngestStatus.NearDuplicate:
                Interlocked.Increment(ref _duplicates);
                break;
            case IngestStatus.Refused:
                Interlocked.Increment(ref _refused);
                break;
            case IngestStatus.Failed:
                Interlocked.Increment(ref _failed);
                break;
            default:
                break;
        }
    }

    public IngestJobDto Snapshot()
    {
        var processed = Interlocked.Read(ref _processed);
        var elapsed = StartedAt is { } started ? ((FinishedAt ?? DateTimeOffset.UtcNow) - started).TotalSeconds : 0;
        return new IngestJobDto(
            Id, RunId, Status, DisplaySource, Collection, Total, processed, Interlocked.Read(ref _ingested), Interlocked.Read(ref _faces),
            Interlocked.Read(ref _duplicates), Interlocked.Read(ref _refused), Interlocked.Read(ref _failed),
            elapsed > 0 ? Math.Round(processed / elapsed, 2) : 0, QueuedAt, StartedAt, FinishedAt, Error);
    }
}

/// <summary>An ingest job as the API shows it.</summary>
public sealed record IngestJobDto(
    long Id, long? RunId, IngestJobStatus Status, string Source, string Collection, long? Total, long Processed, long Ingested, long Faces,
    long Duplicates, long Refused, long Failed, double ItemsPerSecond, DateTimeOffset QueuedAt, DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt, string? Error);

/// <summary>A request that cannot become a job (the source is unreadable, unsafe or not a known kind).</summary>
public sealed class IngestRequestException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// Ingest jobs, run one at a time in the background (the engine holds the data directory's ingest lock while one
/// runs, and its workers already use every core). Each job is a recorded ingest run, so a job cut short by a
/// restart is resumed by the next ingest of the same source, like a CLI run.
/// </summary>
public sealed partial class IngestJobs(LineupEngine engine, ILogger<IngestJobs> logger) : BackgroundService
{
    private readonly Channel<IngestJob> _queue = Channel.CreateUnbounded<IngestJob>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<long, IngestJob> _jobs = new();
    private long _nextId;

    public string UploadsDirectory => Path.Combine(engine.Options.FullDataDirectory, "uploads");

    public IReadOnlyList<IngestJob> List() => _jobs.Values.OrderByDescending(j => j.Id).ToList();

    public IngestJob? Find(long id) => _jobs.GetValueOrDefault(id);

    /// <summary>
    /// Checks that <paramref name="path"/> is a source Lineup can read (and, for a zip, that its directory does not
    /// promise an expansion past the limits), then queues it. Throws <see cref="IngestRequestException"/> otherwise.
    /// </summary>
    public IngestJob Enqueue(string path, string displaySource, string collection, string lawfulBasis, string? jurisdiction, string requestedBy, bool deleteWhenDone)
    {
        Validate(path, displaySource);
        var job = new IngestJob(Interlocked.Increment(ref _nextId), path, displaySource, collection, lawfulBasis, jurisdiction, requestedBy, deleteWhenDone);
        _jobs[job.Id] = job;
        if (!_queue.Writer.TryWrite(job))
        {
            throw new InvalidOperationException("The ingest queue is closed (the server is stopping).");
        }

        LogQueued(logger, job.Id, displaySource, collection, requestedBy);
        return job;
    }

    private void Validate(string path, string displaySource)
    {
        IIngestSource source;
        try
        {
            source = IngestSources.Open(path, engine.Options.SourceLimits);
        }
        catch (IngestSourceException e)
        {
            throw new IngestRequestException(StatusCodes.Status415UnsupportedMediaType, e.Message.Replace(path, displaySource, StringComparison.Ordinal));
        }

        if (source.Kind == "zip")
        {
            CheckZipDirectory(path, displaySource, engine.Options.SourceLimits);
        }
    }

    /// <summary>
    /// A zip's central directory states every member's sizes: a bomb that admits to its size is refused before any
    /// byte is inflated. One that lies is caught while reading, member by member (ArchiveSource's budgets).
    /// </summary>
    private static void CheckZipDirectory(string path, string displaySource, SourceLimits limits)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            long total = 0;
            foreach (var entry in zip.Entries)
            {
                total += entry.Length;
                var ratio = entry.CompressedLength > 0 ? entry.Length / (double)entry.CompressedLength : entry.Length > 0 ? double.PositiveInfinity : 0;
                if (entry.Length > limits.MaxItemBytes || (entry.Length > 1 << 20 && ratio > limits.MaxCompressionRatio))
                {
                    throw new IngestRequestException(StatusCodes.Status422UnprocessableEntity, string.Create(CultureInfo.InvariantCulture,
                        $"{displaySource}!{entry.FullName} would expand to {entry.Length:N0} bytes (ratio {ratio:0}:1): refused as a decompression bomb."));
                }
            }

            if (total > limits.MaxExpandedBytes)
            {
                throw new IngestRequestException(StatusCodes.Status422UnprocessableEntity, string.Create(CultureInfo.InvariantCulture,
                    $"{displaySource} would expand to {total:N0} bytes, over the limit of {limits.MaxExpandedBytes:N0}."));
            }
        }
        catch (InvalidDataException e)
        {
            throw new IngestRequestException(StatusCodes.Status422UnprocessableEntity, $"{displaySource}: not a readable zip archive ({e.Message}).");
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var job in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                await RunAsync(job, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RunAsync(IngestJob job, CancellationToken ct)
    {
        job.Status = IngestJobStatus.Running;
        job.StartedAt = DateTimeOffset.UtcNow;
        try
        {
            var collection = await engine.Catalog.EnsureCollectionAsync(job.Collection, job.LawfulBasis, job.Jurisdiction, ct).ConfigureAwait(false);
            var source = IngestSources.Open(job.Source, engine.Options.SourceLimits);
            var observer = new IngestObserver
            {
                Started = (run, _) => job.RunId = run.Id,
                TotalKnown = total => job.Total = total,
                Item = outcome => job.Count(outcome.Status, outcome.Faces),
            };
            var result = await engine.IngestAsync(source, collection, observer, resume: true, ct).ConfigureAwait(false);
            job.RunId = result.Run.Id;
            job.Status = IngestJobStatus.Completed;
            LogFinished(logger, job.Id, result.Run.Id, result.Summary.Items, result.Summary.Faces);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            job.Status = IngestJobStatus.Failed;
            job.Error = "The server stopped during the ingest; the run is resumed by the next ingest of the same source.";
            return;
        }
        catch (Exception e) when (e is CatalogException or IngestSourceException or IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            job.Status = IngestJobStatus.Failed;
            job.Error = e.Message;
            LogFailed(logger, job.Id, e.GetType().Name);
        }
        finally
        {
            job.FinishedAt = DateTimeOffset.UtcNow;
        }

        if (job.DeleteSourceWhenDone && job.Status == IngestJobStatus.Completed)
        {
            TryDelete(job.Source);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            if (Path.GetDirectoryName(path) is { } folder && !Directory.EnumerateFileSystemEntries(folder).Any())
            {
                Directory.Delete(folder);
            }
        }
        catch (IOException)
        {
            // An upload left behind is removed with the uploads folder; the catalog already holds what it ingested.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Ingest job {JobId} queued: {Source} into {Collection} by {User}")]
    private static partial void LogQueued(ILogger logger, long jobId, string source, string collection, string user);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ingest job {JobId} (run {RunId}) finished: {Items} items, {Faces} faces")]
    private static partial void LogFinished(ILogger logger, long jobId, long runId, long items, long faces);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ingest job {JobId} failed ({Error})")]
    private static partial void LogFailed(ILogger logger, long jobId, string error);
}
