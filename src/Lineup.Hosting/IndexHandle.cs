using System.Diagnostics;
using Lineup.Core.Catalog;
using Lineup.Core.Indexing;
using Lineup.Index;

namespace Lineup.Hosting;

/// <summary>
/// The index the engine searches, opened according to <see cref="IndexSettings.Kind"/>: the on-disk
/// USearch index (caught up or rebuilt from the catalog by <see cref="FaceIndexStore"/>), or the exact
/// in-memory reference filled from the catalog at start.
/// </summary>
internal sealed class IndexHandle : IDisposable
{
    private readonly string _directory;
    private long _savedCount;

    private IndexHandle(IVectorIndex index, string directory, string report)
    {
        Index = index;
        _directory = directory;
        Report = report;
        _savedCount = index.Count;
    }

    public IVectorIndex Index { get; }

    public string Report { get; }

    public static async Task<IndexHandle> OpenAsync(LineupOptions options, ICatalog catalog, int dimensions, IProgress<string>? progress, CancellationToken ct)
    {
        if (options.Index.Kind == "exact")
        {
            return await FillExactAsync(options, catalog, dimensions, ct).ConfigureAwait(false);
        }

        var report = await FaceIndexStore.OpenAndSyncAsync(catalog, options.IndexDirectory, UsearchOptions(options, dimensions), Reporter(progress), ct)
            .ConfigureAwait(false);
        if (report.Outcome != IndexSyncOutcome.Loaded)
        {
            progress?.Report(report.ToString());
        }

        return new IndexHandle(report.Index, options.IndexDirectory, report.ToString());
    }

    public static async Task<IndexHandle> RebuildAsync(LineupOptions options, ICatalog catalog, int dimensions, IProgress<string>? progress, CancellationToken ct)
    {
        if (options.Index.Kind == "exact")
        {
            return await FillExactAsync(options, catalog, dimensions, ct).ConfigureAwait(false);
        }

        var report = await FaceIndexStore.RebuildAsync(catalog, options.IndexDirectory, UsearchOptions(options, dimensions), Reporter(progress), ct)
            .ConfigureAwait(false);
        return new IndexHandle(report.Index, options.IndexDirectory, report.ToString());
    }

    /// <summary>Persists the index when it changed since it was opened or last saved.</summary>
    public async Task SaveAsync(ICatalog catalog, CancellationToken ct)
    {
        if (Index is not USearchVectorIndex usearch || usearch.Count == _savedCount)
        {
            return;
        }

        // Every catalogued face was added to the index after its commit, so the catalog's newest face
        // id is the high-water mark. A face committed by a crashed writer is caught up at the next start.
        var stats = await catalog.GetStatsAsync(ct).ConfigureAwait(false);
        await FaceIndexStore.SaveAsync(usearch, catalog, _directory, stats.MaxFaceId, ct).ConfigureAwait(false);
        _savedCount = usearch.Count;
    }

    public void Dispose() => Index.Dispose();

    private static async Task<IndexHandle> FillExactAsync(LineupOptions options, ICatalog catalog, int dimensions, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var index = new ExactVectorIndex(dimensions);
        await foreach (var stored in catalog.ReadEmbeddingsAsync(0, ct).ConfigureAwait(false))
        {
            index.Add(stored.FaceId, stored.Vector);
        }

        return new IndexHandle(index, options.IndexDirectory, $"exact index filled with {index.Count:N0} faces in {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private static USearchOptions UsearchOptions(LineupOptions options, int dimensions) => new()
    {
        Dimensions = dimensions,
        Connectivity = options.Index.Connectivity,
        ExpansionAdd = options.Index.ExpansionAdd,
        ExpansionSearch = options.Index.ExpansionSearch,
        Quantization = options.Index.Quantization switch
        {
            "f32" => VectorQuantization.F32,
            "i8" => VectorQuantization.I8,
            _ => VectorQuantization.F16,
        },
        Threads = options.Workers,
    };

    private static Progress<IndexSyncProgress>? Reporter(IProgress<string>? progress) =>
        progress is null ? null : new Progress<IndexSyncProgress>(p =>
        {
            if (p.Total > 0 && (p.Done == p.Total || p.Done % 100_000 == 0))
            {
                progress.Report($"index {p.Phase.ToString().ToLowerInvariant()}: {p.Done:N0}/{p.Total:N0}");
            }
        });
}
