using System.Text.Json;
using System.Text.Json.Serialization;
using Lineup.Core.Catalog;
using Lineup.Ingest;

namespace Lineup.Hosting;

/// <summary>
/// The JSON report of an ingest run (written to <c>runs/run-N.json</c> in the data directory after every
/// invocation, and printed by <c>lineup runs show N --json</c>): the run, its totals over every invocation,
/// the figures of the last invocation, and the items that were refused or failed, with their reasons.
/// </summary>
public sealed record IngestReport(
    IngestRun Run,
    string Collection,
    IngestRunCounts Counts,
    IngestSummary? LastInvocation,
    IReadOnlyList<IngestItemRecord> Problems,
    long ProblemsLeftOut)
{
    /// <summary>Most problem items listed in a report; the counts always cover all of them.</summary>
    public const int MaxProblems = 10_000;

    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static async Task<IngestReport> BuildAsync(ICatalog catalog, IIngestLedger ledger, long runId, IngestSummary? last, CancellationToken ct)
    {
        var run = await ledger.GetRunAsync(runId, ct).ConfigureAwait(false)
            ?? throw new CatalogException($"Ingest run {runId} does not exist.");
        var counts = await ledger.GetRunCountsAsync(runId, ct).ConfigureAwait(false);
        var problems = await ledger.GetRunItemsAsync(runId, [IngestStatus.Refused, IngestStatus.Failed], MaxProblems, ct).ConfigureAwait(false);
        var collection = (await catalog.ListCollectionsAsync(ct).ConfigureAwait(false)).FirstOrDefault(c => c.Id == run.CollectionId)?.Name ?? "?";
        return new IngestReport(run, collection, counts, last, problems, Math.Max(0, counts.Problems - problems.Count));
    }

    /// <summary>Writes the report atomically (temporary file, then rename) and returns its path.</summary>
    public async Task<string> WriteAsync(string dataDirectory, CancellationToken ct)
    {
        var folder = Path.Combine(dataDirectory, "runs");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, $"run-{Run.Id}.json");
        var temporary = path + ".tmp";
        await using (var file = File.Create(temporary))
        {
            await JsonSerializer.SerializeAsync(file, this, Json, ct).ConfigureAwait(false);
        }

        File.Move(temporary, path, overwrite: true);
        return path;
    }
}
