using Lineup.Core.Catalog;
using Lineup.Ingest;

namespace Lineup.Hosting;

/// <summary>What an ingest invocation did: the run (as now recorded), this invocation's figures, the run's totals.</summary>
/// <param name="Resumed">True when an interrupted or failed run was continued.</param>
/// <param name="ReportPath">The run's JSON report in the data directory.</param>
public sealed record IngestRunResult(IngestRun Run, IngestSummary Summary, IngestRunCounts Counts, bool Resumed, string ReportPath);

/// <summary>Callbacks of a running ingest, all optional. <see cref="Item"/> is called from one thread, in source order.</summary>
public sealed class IngestObserver
{
    /// <summary>The run started; the flag says whether it resumed an earlier one.</summary>
    public Action<IngestRun, bool>? Started { get; init; }

    /// <summary>The source has been counted (possibly after the first items are done).</summary>
    public Action<long>? TotalKnown { get; init; }

    public Action<IngestOutcome>? Item { get; init; }
}
