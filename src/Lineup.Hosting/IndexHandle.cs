using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Lineup.Core.Catalog;
using Lineup.Core.Indexing;
using Lineup.Index;
using Lineup.Index.Garnet;
using Lineup.Index.Ivf;

namespace Lineup.Hosting;

/// <summary>
/// The index the engine searches, opened according to <see cref="IndexSettings.Kind"/>: the on-disk
/// USearch graph or inverted file (caught up or rebuilt from the catalog by <see cref="FaceIndexStore"/>), or the exact
/// in-memory reference filled from the catalog at start.
/// </summary>
internal sealed class IndexHandle : IDisposable
{
    private readonly string _directory;
    private readonly StoredIndexFormat? _format;
    private long _savedCount;

    private IndexHandle(IVectorIndex index, string directory, string report, StoredIndexFormat? format = null)
    {
        Index = index;
        _directory = directory;
        _format = format;
        Report = report;
        _savedCount = index.Count;
    }

    public IVectorIndex Index { get; }

    public string Report { get; }

    public static async Task<IndexHandle> OpenAsync(LineupOptions options, ICatalog catalog, int dimensions, IProgress<string>? progress, CancellationToken ct)
    {
        if (options.IsDistributed)
        {
            return await OpenDistributedAsync(options, catalog, dimensions, ct).ConfigureAwait(false);
        }

        if (options.Index.Kind == "exact")
        {
            return await FillExactAsync(options, catalog, dimensions, ct).ConfigureAwait(false);
        }

        var format = Format(options, dimensions);
        RemoveOtherEngines(format, options.IndexDirectory, progress);
        var settings = UsearchOptions(options, dimensions);
        if (format.Engine == "usearch" && options.Index.MapAtStart)
        {
            var clock = Stopwatch.StartNew();
            if (await FaceIndexStore.TryOpenMappedAsync(catalog, options.IndexDirectory, settings, ct).ConfigureAwait(false) is { } mapped)
            {
                return new IndexHandle(mapped, options.IndexDirectory,
                    $"index mapped: {mapped.Count:N0} faces in {clock.Elapsed.TotalSeconds:0.00} s (a writable copy loads in the background)", format);
            }
        }

        var report = await FaceIndexStore.OpenAndSyncAsync(catalog, options.IndexDirectory, format, Reporter(progress), ct)
            .ConfigureAwait(false);
        if (report.Outcome != IndexSyncOutcome.Loaded)
        {
            progress?.Report(report.ToString());
        }

        return new IndexHandle(report.Index, options.IndexDirectory, Describe(format, report), format);
    }

    public static async Task<IndexHandle> RebuildAsync(LineupOptions options, ICatalog catalog, int dimensions, IProgress<string>? progress, CancellationToken ct)
    {
        if (options.IsDistributed)
        {
            var handle = await OpenDistributedAsync(options, catalog, dimensions, ct).ConfigureAwait(false);
            var garnet = (GarnetVectorIndex)handle.Index;
            try
            {
                var clock = Stopwatch.StartNew();
                progress?.Report($"index rebuild: repopulating {garnet.Layout.Shards} shards from the catalog…");
                var added = await RepopulateAsync(catalog, garnet, Enumerable.Range(0, garnet.Layout.Shards).ToArray(), ct).ConfigureAwait(false);
                return new IndexHandle(garnet, options.IndexDirectory,
                    $"distributed index rebuilt from the catalog: {added:N0} faces over {garnet.Layout.Shards} shards in {clock.Elapsed.TotalSeconds:0.0} s");
            }
            catch
            {
                // The caller keeps its own handle when the rebuild fails; this one's cluster connection is closed.
                handle.Dispose();
                throw;
            }
        }

        if (options.Index.Kind == "exact")
        {
            return await FillExactAsync(options, catalog, dimensions, ct).ConfigureAwait(false);
        }

        var format = Format(options, dimensions);
        RemoveOtherEngines(format, options.IndexDirectory, progress);
        var report = await FaceIndexStore.RebuildAsync(catalog, options.IndexDirectory, format, Reporter(progress), ct)
            .ConfigureAwait(false);
        return new IndexHandle(report.Index, options.IndexDirectory, Describe(format, report), format);
    }

    /// <summary>Persists the index when it changed since it was opened or last saved.</summary>
    public async Task SaveAsync(ICatalog catalog, CancellationToken ct)
    {
        var stored = Index switch
        {
            IStoredVectorIndex loaded => loaded,

            // Every add and remove waits for the writable copy, so a mapped index still loading has not changed.
            MappedFirstIndex { IsLoaded: true } mapped => mapped.Writable,
            _ => null,
        };
        if (stored is null || _format is null || stored.Count == _savedCount)
        {
            return;
        }

        // Every catalogued face was added to the index after its commit, so the catalog's newest face
        // id is the high-water mark. A face committed by a crashed writer is caught up at the next start.
        var stats = await catalog.GetStatsAsync(ct).ConfigureAwait(false);
        await FaceIndexStore.SaveAsync(stored, _format, catalog, _directory, stats.MaxFaceId, ct).ConfigureAwait(false);
        _savedCount = stored.Count;
    }

    public void Dispose() => Index.Dispose();

    /// <summary>
    /// The Garnet cluster index. It is shared by every process of the deployment and derived from the catalog: at start
    /// its size is compared with the catalog's, and a difference is reported (a crashed writer between its commit and its
    /// index add, a shard that lost data); <c>lineup index rebuild</c> or <c>lineup cluster repopulate</c> mends it.
    /// </summary>
    private static async Task<IndexHandle> OpenDistributedAsync(LineupOptions options, ICatalog catalog, int dimensions, CancellationToken ct)
    {
        var garnet = await GarnetVectorIndex.ConnectAsync(GarnetOptions(options, dimensions), ct).ConfigureAwait(false);
        try
        {
            var indexed = await garnet.CountAsync(ct).ConfigureAwait(false);
            var faces = (await catalog.GetStatsAsync(ct).ConfigureAwait(false)).Faces;
            var report = indexed == faces
                ? $"distributed index: {indexed:N0} faces over {garnet.Layout.Shards} shards"
                : $"distributed index holds {indexed:N0} faces, the catalog {faces:N0}: run `lineup index rebuild` (or `lineup cluster repopulate --shard N`)";
            return new IndexHandle(garnet, options.IndexDirectory, report);
        }
        catch
        {
            await garnet.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    internal static GarnetIndexOptions GarnetOptions(LineupOptions options, int dimensions) => new()
    {
        Endpoints = options.Distributed.Garnet!,
        KeyPrefix = options.Distributed.KeyPrefix,
        Shards = options.Distributed.Shards,
        Dimensions = dimensions,
    };

    /// <summary>
    /// Repopulates <paramref name="shards"/> from the catalog in one pass over its embeddings: each face goes to its
    /// shard's repopulation (a staging key swapped in when complete, so searches of that shard see the old set until
    /// then, and the other shards are untouched). Faces carry their collection and jurisdiction as attributes.
    /// </summary>
    /// <remarks>
    /// When reading the catalog fails, no shard swaps in what it staged (each gets the failure through its feed and
    /// deletes its staging key) and the reader's exception is thrown as it was: it is the cause, the shards' failures are
    /// its echo. Only a shard that failed for a reason of its own as well is reported beside it, in an
    /// <see cref="AggregateException"/> whose first exception is the reader's. A shard that fails stops reading its feed;
    /// the feed is closed then, so the reader passes over that shard's faces and the other shards complete. Left open,
    /// the reader would wait forever for room in it once 1,024 more of its faces came (a rebuild with 1,300 faces after
    /// one a shard refused was still waiting after 3 minutes; DistributedRepopulateFailureTests).
    /// </remarks>
    internal static async Task<long> RepopulateAsync(ICatalog catalog, GarnetVectorIndex garnet, IReadOnlyList<int> shards, CancellationToken ct)
    {
        var feeds = shards.ToDictionary(s => s, _ => Channel.CreateBounded<(long, float[], long, string?)>(1024));
        var repopulating = shards.Select(s => RepopulateShardAsync(garnet, s, feeds[s], ct)).ToArray();
        Exception? readFailure = null;
        try
        {
            await foreach (var face in FacesWithAttributesAsync(catalog, ct).ConfigureAwait(false))
            {
                if (feeds.TryGetValue(garnet.ShardOf(face.Key), out var feed))
                {
                    try
                    {
                        await feed.Writer.WriteAsync(face, ct).ConfigureAwait(false);
                    }
                    catch (ChannelClosedException)
                    {
                        // That shard failed and closed its feed; its exception is thrown below.
                    }
                }
            }
        }
        catch (Exception e)
        {
            readFailure = e;
        }

        foreach (var feed in feeds.Values)
        {
            feed.Writer.TryComplete(readFailure);
        }

        long[]? added = null;
        try
        {
            added = await Task.WhenAll(repopulating).ConfigureAwait(false);
        }
        catch (Exception) when (readFailure is not null)
        {
            // Examined below, with the reader's failure first.
        }

        if (readFailure is null)
        {
            return added!.Sum();
        }

        var own = shards.Zip(repopulating)
            .Where(s => s.Second.Exception?.InnerException is { } e && e != readFailure && e is not OperationCanceledException)
            .Select(s => (Shard: s.First, Error: s.Second.Exception!.InnerException!))
            .ToList();
        if (own.Count == 0)
        {
            ExceptionDispatchInfo.Throw(readFailure);
        }

        throw new AggregateException(
            $"Reading the catalog failed ({readFailure.Message}); shard(s) {string.Join(", ", own.Select(o => o.Shard))} failed as well. " +
            "No shard's live key was replaced by a partial set.",
            [readFailure, .. own.Select(o => o.Error)]);
    }

    /// <summary>One shard's repopulation from its feed; the feed is closed when it ends, however it ends.</summary>
    private static async Task<long> RepopulateShardAsync(
        GarnetVectorIndex garnet, int shard, Channel<(long, float[], long, string?)> feed, CancellationToken ct)
    {
        try
        {
            return await garnet.RepopulateShardAsync(shard, feed.Reader.ReadAllAsync(ct), ct).ConfigureAwait(false);
        }
        finally
        {
            // A shard that failed no longer reads: closing its feed lets the reader pass over its faces instead of
            // blocking on a full feed.
            feed.Writer.TryComplete();
        }
    }

    /// <summary>Every catalogued face with its image's collection and that collection's jurisdiction, in face id order.</summary>
    private static async IAsyncEnumerable<(long Key, float[] Vector, long CollectionId, string? Jurisdiction)> FacesWithAttributesAsync(
        ICatalog catalog, [EnumeratorCancellation] CancellationToken ct)
    {
        const int Chunk = 2048;
        var jurisdictions = (await catalog.ListCollectionsAsync(ct).ConfigureAwait(false)).ToDictionary(c => c.Id, c => c.Jurisdiction);
        var chunk = new List<StoredEmbedding>(Chunk);
        await foreach (var stored in catalog.ReadEmbeddingsAsync(0, ct).ConfigureAwait(false))
        {
            chunk.Add(stored);
            if (chunk.Count == Chunk)
            {
                foreach (var face in await WithAttributesAsync(chunk).ConfigureAwait(false))
                {
                    yield return face;
                }

                chunk.Clear();
            }
        }

        foreach (var face in await WithAttributesAsync(chunk).ConfigureAwait(false))
        {
            yield return face;
        }

        async Task<IEnumerable<(long, float[], long, string?)>> WithAttributesAsync(List<StoredEmbedding> faces)
        {
            if (faces.Count == 0)
            {
                return [];
            }

            var images = (await catalog.GetFacesWithImagesAsync([.. faces.Select(f => f.FaceId)], ct).ConfigureAwait(false))
                .ToDictionary(r => r.Face.Id, r => r.Image.CollectionId);
            return faces.Where(f => images.ContainsKey(f.FaceId)).Select(f =>
            {
                var collection = images[f.FaceId];
                return (f.FaceId, f.Vector, collection, jurisdictions.GetValueOrDefault(collection));
            }).ToList();
        }
    }

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

    /// <summary>The on-disk index <see cref="IndexSettings.Kind"/> names (usearch or ivf).</summary>
    internal static StoredIndexFormat Format(LineupOptions options, int dimensions)
    {
        if (options.Index.Kind != "ivf")
        {
            return StoredIndexFormat.USearch(UsearchOptions(options, dimensions));
        }

        var ivf = new IvfOptions { Dimensions = dimensions, Lists = options.Index.Lists, Probes = options.Index.Probes, Threads = options.Workers };
        return StoredIndexFormat.Ivf(options.Index.ScanThreads is { } threads ? ivf with { ScanThreads = threads } : ivf);
    }

    private static void RemoveOtherEngines(StoredIndexFormat format, string indexDir, IProgress<string>? progress)
    {
        foreach (var removed in format.RemoveOthers(indexDir))
        {
            progress?.Report($"index: removed {Path.GetFileName(removed)}, left by another engine (Lineup:Index:Kind is {format.Engine})");
        }
    }

    private static string Describe(StoredIndexFormat format, IndexSyncReport report) => report.Index is IvfVectorIndex ivf
        ? $"{report} (inverted file: {ivf.Lists:N0} lists, {Math.Min(ivf.Probes, ivf.Lists):N0} scanned per search, {ivf.CodeDimensions} components a code)"
        : report.ToString();

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
