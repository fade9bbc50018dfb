using System.Globalization;
using Lineup.Hosting;

namespace Lineup.Server.Jobs;

/// <summary>
/// Sweeps retention in the background every <c>Lineup:Server:RetentionSweepHours</c> hours (default 6; 0 turns the job
/// off, for installations that sweep with <c>lineup retention sweep</c> from a scheduler). The first sweep comes one
/// interval after the start, so a restart postpones it; <c>POST /api/retention/sweep</c> sweeps at once. A failed sweep
/// is logged and retried at the next interval: it committed nothing (one transaction) or its files are compacted at the
/// next sweep that removes anything.
/// </summary>
public sealed partial class RetentionJob(IServiceProvider services, IConfiguration configuration, ILogger<RetentionJob> logger) : BackgroundService
{
    public const string IntervalKey = ServerOptions.Section + ":RetentionSweepHours";

    /// <summary>The longest interval: <see cref="PeriodicTimer"/> takes at most 2³² − 2 ms (49.7 days).</summary>
    public const double MaxHours = 24 * 45;

    /// <summary>The interval configured; null when the job is off. A value that is not a number from 0 to <see cref="MaxHours"/> stops the start.</summary>
    public TimeSpan? Interval { get; } = ReadInterval(configuration);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Interval is not { } interval)
        {
            LogOff(logger);
            return;
        }

        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                var engine = services.GetRequiredService<LineupEngine>();
                var sweep = await RetentionSweeper.SweepAsync(engine, RetentionSweeper.SystemActor, stoppingToken).ConfigureAwait(false);
                var r = sweep.Report;
                LogSwept(logger, r.ProbesDeleted, r.CandidateListsDeleted, r.AuditEventsPruned, r.ProbesHeld + r.CandidateListsHeld, r.AuditSeq,
                    sweep.Elapsed.TotalMilliseconds);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogFailed(logger, e);
            }
        }
    }

    /// <summary>The sweep interval <paramref name="configuration"/> sets (default 6 hours); null when sweeps are off.</summary>
    public static TimeSpan? ReadInterval(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[IntervalKey];
        if (string.IsNullOrWhiteSpace(text))
        {
            return TimeSpan.FromHours(6);
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var hours) || !double.IsFinite(hours) || hours is < 0 or > MaxHours)
        {
            throw new InvalidOperationException($"{IntervalKey} must be a number of hours from 0 (off) to {MaxHours}, not '{text}'.");
        }

        // A sweep interval under a second would only be a typo (0.0001 for 1): at least one second apart.
        return hours == 0 ? null : TimeSpan.FromHours(Math.Max(hours, 1.0 / 3600));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention sweeps are off (Lineup:Server:RetentionSweepHours = 0)")]
    private static partial void LogOff(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Retention sweep: {Probes} probe photos and {Lists} candidate lists deleted, {Pruned} audit events pruned, {Held} kept on legal hold; receipt {Seq}; {ElapsedMs} ms")]
    private static partial void LogSwept(ILogger logger, long probes, long lists, long pruned, long held, long seq, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Error, Message = "Retention sweep failed; the next one runs at the next interval")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
