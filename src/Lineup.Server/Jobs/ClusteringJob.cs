using System.Diagnostics;
using Lineup.Core.Catalog;
using Lineup.Core.Network;
using Lineup.Hosting;
using Microsoft.Extensions.Options;

namespace Lineup.Server.Jobs;

/// <summary>
/// Keeps the identity partition up to date in the background: clusters the faces not yet clustered (incrementally,
/// <see cref="NetworkAnalysis.ClusterAsync"/>) at start, shortly after each ingest job of this server finishes, and every
/// <c>Lineup:Server:ClusteringMinutes</c> minutes (default 10; 0 turns the job off) for faces that arrived otherwise
/// (<c>lineup ingest</c>). A check that finds nothing new costs one statistics query; while an ingest job is queued or
/// running the job waits for it, so a batch of uploads is clustered once. One run at a time (the engine's clustering
/// gate also serialises it with <c>POST /api/network/cluster</c>); a failed run is logged and retried at the next period.
/// The log says counts and seconds only, never who is in the gallery.
/// </summary>
public sealed partial class ClusteringJob(IServiceProvider services, IngestJobs ingest, IOptions<ServerOptions> options, ILogger<ClusteringJob> logger)
    : BackgroundService
{
    /// <summary>The actor of the job's runs in the audit log.</summary>
    public const string Actor = "server:clustering";

    /// <summary>How often finished ingest jobs are looked for: an in-memory list, no catalog read.</summary>
    public static readonly TimeSpan IngestCheck = TimeSpan.FromSeconds(15);

    /// <summary>The period configured; null when the job is off.</summary>
    public TimeSpan? Period { get; } = options.Value.ClusteringMinutes > 0 ? TimeSpan.FromMinutes(options.Value.ClusteringMinutes) : null;

    /// <summary>
    /// Whether the catalog holds faces the partition has not taken in: never clustered while faces exist, faces newer
    /// than the last run, or parameters or a model other than the last run's (the engine then re-clusters in full).
    /// </summary>
    public static bool NeedsClustering(ClusteringState? state, CatalogStats stats, ClusteringParameters parameters, string modelId)
    {
        ArgumentNullException.ThrowIfNull(stats);
        ArgumentNullException.ThrowIfNull(parameters);
        if (stats.Faces == 0)
        {
            return false;
        }

        return state is null
            || stats.MaxFaceId > state.ClusteredThroughFaceId
            || state.Parameters != parameters
            || !string.Equals(state.ModelId, modelId, StringComparison.Ordinal);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Period is not { } period)
        {
            LogOff(logger);
            return;
        }

        // Off the host's start: opening the engine loads the models.
        await Task.Yield();
        var seenIngest = LastFinishedIngest();
        await RunIfNeededAsync(stoppingToken).ConfigureAwait(false);
        var due = Stopwatch.GetTimestamp() + (long)(period.TotalSeconds * Stopwatch.Frequency);
        using var timer = new PeriodicTimer(period < IngestCheck ? period : IngestCheck);
        while (await WaitAsync(timer, stoppingToken).ConfigureAwait(false))
        {
            if (IngestBusy())
            {
                continue;
            }

            var finished = LastFinishedIngest();
            var periodic = Stopwatch.GetTimestamp() >= due;
            if (finished == seenIngest && !periodic)
            {
                continue;
            }

            seenIngest = finished;
            if (periodic)
            {
                due = Stopwatch.GetTimestamp() + (long)(period.TotalSeconds * Stopwatch.Frequency);
            }

            await RunIfNeededAsync(stoppingToken).ConfigureAwait(false);
        }
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            return await timer.WaitForNextTickAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The id of the newest ingest job that has finished (jobs run one at a time, in id order); 0 when none.</summary>
    private long LastFinishedIngest() => ingest.List().Where(j => j.FinishedAt is not null).Select(j => j.Id).DefaultIfEmpty(0).Max();

    private bool IngestBusy() => ingest.List().Any(j => j.Status is IngestJobStatus.Queued or IngestJobStatus.Running);

    private async Task RunIfNeededAsync(CancellationToken ct)
    {
        try
        {
            var engine = services.GetRequiredService<LineupEngine>();
            var network = engine.Network;
            var state = await network.Store.GetClusteringStateAsync(ct).ConfigureAwait(false);
            var stats = await engine.Catalog.GetStatsAsync(ct).ConfigureAwait(false);
            if (!NeedsClustering(state, stats, network.Parameters, engine.ModelId))
            {
                return;
            }

            var run = await network.ClusterAsync(full: false, by: Actor, ct: ct).ConfigureAwait(false);
            var c = run.Change;
            LogClustered(logger, run.Full ? "full" : "incremental", run.Faces, run.FacesQueried, c.Identities, c.FacesMoved, c.IdentitiesCreated,
                c.IdentitiesRemoved, run.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogFailed(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Background clustering is off (Lineup:Server:ClusteringMinutes = 0)")]
    private static partial void LogOff(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Clustering ({Kind}): {Faces} faces, {Queried} newly linked, {Identities} identities; {Moved} faces moved, {Created} identities created, {Removed} removed; {Seconds:0.0} s")]
    private static partial void LogClustered(ILogger logger, string kind, int faces, int queried, int identities, int moved, int created, int removed, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Background clustering failed; it is retried at the next period")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
