using System.Diagnostics;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;

namespace Lineup.Hosting;

/// <summary>A sweep's report and how long it took, compaction of the files included.</summary>
public sealed record RetentionSweep(SweepReport Report, TimeSpan Elapsed);

/// <summary>
/// Runs retention sweeps: "now" is the engine's clock (<see cref="LineupOptions.Clock"/>), so tests move time with a fake
/// clock and a sweep sees what an operator's would after that long. Retention touches only the record of searches and
/// the audit log (probe photos, candidate lists, decisions, old events), never gallery faces: the index is left as it
/// is, and a sweep needs neither the models nor the ingest lock (the catalog's write gate orders it with other writes).
/// </summary>
public static class RetentionSweeper
{
    /// <summary>Who sweeps when the server's background job does (the receipt's actor).</summary>
    public const string SystemActor = "system:retention";

    /// <summary>The catalog's retention settings and sweep.</summary>
    public static IRetentionStore Store(ICatalog catalog) =>
        catalog as IRetentionStore ?? throw new InvalidOperationException("This catalog keeps no retention settings.");

    /// <summary>The engine's retention settings and sweep.</summary>
    public static IRetentionStore Retention(this LineupEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        return Store(engine.Catalog);
    }

    /// <summary>Sweeps the engine's catalog at the engine's "now", as <paramref name="actor"/>.</summary>
    public static Task<RetentionSweep> SweepAsync(LineupEngine engine, string actor, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        return SweepAsync(engine.Catalog, engine.Options.Clock, actor, ct);
    }

    /// <summary>Sweeps a catalog opened without models (<see cref="LineupEngine.OpenCatalogAsync"/>) at <paramref name="clock"/>'s "now".</summary>
    public static async Task<RetentionSweep> SweepAsync(ICatalog catalog, TimeProvider clock, string actor, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(clock);
        var started = Stopwatch.GetTimestamp();
        var report = await Store(catalog).SweepAsync(clock.GetUtcNow(), actor, ct).ConfigureAwait(false);
        return new RetentionSweep(report, Stopwatch.GetElapsedTime(started));
    }
}
