using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Numerics;
using Lineup.Hosting;
using Lineup.Storage;

namespace Lineup.Cli.Commands;

/// <summary><c>lineup catalog</c>: maintenance of the system of record.</summary>
public static class CatalogCommands
{
    public static Command Build()
    {
        var compact = new Command(
            "compact",
            "Store the embeddings in the model's embedding basis (about 216 bytes a face instead of 517): fit the basis when the " +
            "model has none (it needs 4 faces a dimension: 2,048 for 512), re-encode every embedding written before it in pages of " +
            "one transaction each (safe to interrupt and run again), compact the SQLite file, then rebuild the derived index from " +
            "the catalog. Audited.");
        compact.SetAction((parse, ct) => GlobalOptions.RunAsync(async () =>
        {
            var options = GlobalOptions.Resolve(parse);
            var progress = GlobalOptions.Progress(parse);
            await using var engine = await LineupEngine.OpenAsync(options, progress, ct);
            if (engine.Catalog is not IEmbeddingBases bases)
            {
                Console.Error.WriteLine("This catalog does not store embeddings in a basis.");
                return ExitCodes.Error;
            }

            var file = (engine.Catalog as SqliteCatalog)?.Path;
            var before = file is null ? 0 : SizeOf(file);
            var clock = Stopwatch.StartNew();
            progress.Report("fitting the embedding basis (once in a catalog's life)…");
            var basis = await bases.EnsureEmbeddingBasisAsync(0, ct);
            if (basis is null)
            {
                var stats = await engine.Catalog.GetStatsAsync(ct);
                Console.WriteLine(
                    $"No embedding basis: fitting one takes at least {EmbeddingBasis.MinimumSample(engine.Index.Dimensions):N0} faces " +
                    $"({stats.Faces:N0} catalogued), and embeddings that fill their space have none. Nothing was changed.");
                return ExitCodes.Ok;
            }

            progress.Report($"embedding basis {basis.Id}: {basis.Components} of {basis.Dimensions} directions, fitted on {basis.SampleFaces:N0} faces; re-encoding…");
            var last = Stopwatch.StartNew();
            var compaction = await bases.CompactEmbeddingsAsync(
                new Progress<EmbeddingCompaction>(p =>
                {
                    if (last.Elapsed.TotalSeconds >= 5)
                    {
                        last.Restart();
                        progress.Report($"re-encoding: {p.Read:N0} embeddings read, {p.Reencoded:N0} re-encoded");
                    }
                }),
                ct);

            // The re-encoded vectors moved by the basis's precision: the derived index is rebuilt from the catalog, so that
            // it holds exactly what the catalog gives back (as after every write).
            var index = compaction.Reencoded > 0 ? await engine.RebuildIndexAsync(progress, ct) : null;
            var after = file is null ? 0 : SizeOf(file);
            await engine.Audit.AppendAsync(
                new NewAuditEvent(EraseCommands.Actor, AuditActions.Admin, $"embedding-basis:{basis.Id}",
                    AuditDetails.Empty.With("change", "catalog.compact").With("model", basis.ModelId).With("components", basis.Components)
                        .With("read", compaction.Read).With("reencoded", compaction.Reencoded).With("outside_basis", compaction.OutsideBasis)),
                ct);

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Embedding basis {basis.Id} (model {basis.ModelId}): {basis.Components} of {basis.Dimensions} directions, fitted on {basis.SampleFaces:N0} faces at {basis.FittedAt:u}."));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Re-encoded {compaction.Reencoded:N0} of {compaction.Read:N0} embeddings in {clock.Elapsed.TotalSeconds:0.0} s; {compaction.OutsideBasis:N0} lie outside the basis and stay int8."));
            if (file is not null)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Catalog file: {before:N0} bytes before, {after:N0} after."));
            }

            if (index is not null)
            {
                Console.WriteLine(index);
            }

            return ExitCodes.Ok;
        }));
        return new Command("catalog", "Maintenance of the catalog, the system of record") { compact };
    }

    /// <summary>The database file with its write-ahead log.</summary>
    private static long SizeOf(string file) => new[] { file, file + "-wal" }.Where(File.Exists).Sum(f => new FileInfo(f).Length);
}
